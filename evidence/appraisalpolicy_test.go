package evidence_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// Validate names the bad field of each section: the platforms' own errors,
// and *PolicyError for the trust anchors.
func TestAppraisalPolicyValidate(t *testing.T) {
	anchor := "sha256:" + strings.Repeat("ab", 32)
	many := make([]string, evidence.MaxTrustAnchors+1)
	for i := range many {
		many[i] = anchor
	}
	tests := []struct {
		name    string
		mutate  func(p *evidence.AppraisalPolicy)
		key     string // "" = valid
		msg     string
		errType string
	}{
		{"default", func(*evidence.AppraisalPolicy) {}, "", "", ""},
		{"passport only", func(p *evidence.AppraisalPolicy) { p.SNP, p.TDX = nil, nil }, "", "", ""},
		{"anchor", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{anchor} }, "", "", ""},
		{"snp field", func(p *evidence.AppraisalPolicy) { p.SNP.AllowedVMPLs = []uint32{4} }, "snp.allowed_vmpls[0]", "4 is not a VMPL (0..3)", "snp"},
		{"tdx field", func(p *evidence.AppraisalPolicy) { p.TDX.MRTDs = []string{"00"} }, "tdx.mrtds[0]", "want 96 hex chars, got 2", "tdx"},
		{"anchor prefix", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{"sha1:" + strings.Repeat("ab", 32)} }, "trust_anchors[0]", `want "sha256:<64 hex chars>"`, "evidence"},
		{"anchor length", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{anchor, "sha256:abab"} }, "trust_anchors[1]", "got 4 chars", "evidence"},
		{"anchor case", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{strings.ToUpper(anchor[:8]) + anchor[8:]} }, "trust_anchors[0]", `want "sha256:`, "evidence"},
		{"anchor upper hex", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{"sha256:" + strings.Repeat("AB", 32)} }, "trust_anchors[0]", "lowercase", "evidence"},
		{"anchor not hex", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{"sha256:" + strings.Repeat("zz", 32)} }, "trust_anchors[0]", "not hex", "evidence"},
		{"anchor duplicate", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = []string{anchor, anchor} }, "trust_anchors[1]", "duplicate of trust_anchors[0]", "evidence"},
		{"too many anchors", func(p *evidence.AppraisalPolicy) { p.TrustAnchors = many }, "trust_anchors", "257 entries, max 256", "evidence"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			tc.mutate(&p)
			err := p.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var key, msg string
			var (
				spe *snp.PolicyError
				tpe *tdx.PolicyError
				epe *evidence.PolicyError
			)
			switch {
			case tc.errType == "snp" && errors.As(err, &spe):
				key, msg = spe.PolicyField()
			case tc.errType == "tdx" && errors.As(err, &tpe):
				key, msg = tpe.PolicyField()
			case tc.errType == "evidence" && errors.As(err, &epe):
				key, msg = epe.PolicyField()
			default:
				t.Fatalf("Validate = %v (%T), want a %s policy error", err, err, tc.errType)
			}
			if key != tc.key || !strings.Contains(msg, tc.msg) {
				t.Fatalf("got %s: %s, want %s: ...%s...", key, msg, tc.key, tc.msg)
			}
		})
	}
}
