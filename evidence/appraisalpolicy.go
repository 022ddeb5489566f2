package evidence

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// AppraisalPolicy is what a Verifier accepts: each platform's appraisal
// section, the trust anchors allowed, and the name and digest of the policy
// they come from, which every Appraisal records. The policy document
// (package policy) composes it; this package never reads that document.
type AppraisalPolicy struct {
	// ID names the policy (an EAR's ear.appraisal-policy-id); required.
	ID string
	// Digest is the SHA-256 of the policy's canonical form (a receipt's
	// policy_hash); required (not all zero).
	Digest [32]byte
	// SNP is the SEV-SNP appraisal policy; nil refuses SEV-SNP evidence.
	SNP *snp.Policy
	// TDX is the TDX appraisal policy; nil refuses TDX evidence.
	TDX *tdx.Policy
	// TrustAnchors lists the allowed root fingerprints ("sha256:<64
	// lowercase hex>"), at most MaxTrustAnchors; empty allows every
	// configured root.
	TrustAnchors []string
}

// MaxTrustAnchors bounds AppraisalPolicy.TrustAnchors: 256 entries.
const MaxTrustAnchors = 256

// PolicyError is an AppraisalPolicy.Validate failure of a trust anchor: Key
// is the dotted path of the invalid entry (e.g. "trust_anchors[1]"), Msg
// what is wrong with it.
type PolicyError struct {
	Key, Msg string
}

func (e *PolicyError) Error() string { return e.Key + ": " + e.Msg }

// PolicyField returns the field path and the problem, for the policy loader.
func (e *PolicyError) PolicyField() (key, msg string) { return e.Key, e.Msg }

func anchorErr(key, format string, args ...any) error {
	return &PolicyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the settings: the platform sections with their own
// Validate (*snp.PolicyError, *tdx.PolicyError), then the trust anchors'
// syntax (*PolicyError). ID and Digest are not its business: NewVerifier
// requires them.
func (p *AppraisalPolicy) Validate() error {
	if p.SNP != nil {
		if err := p.SNP.Validate(); err != nil {
			return err
		}
	}
	if p.TDX != nil {
		if err := p.TDX.Validate(); err != nil {
			return err
		}
	}
	return validateAnchors(p.TrustAnchors)
}

func validateAnchors(l []string) error {
	if len(l) > MaxTrustAnchors {
		return anchorErr("trust_anchors", "%d entries, max %d", len(l), MaxTrustAnchors)
	}
	for i, a := range l {
		key := fmt.Sprintf("trust_anchors[%d]", i)
		h, ok := strings.CutPrefix(a, "sha256:")
		if !ok {
			return anchorErr(key, "want \"sha256:<64 hex chars>\", got %q", a)
		}
		if len(h) != 64 || strings.ToLower(h) != h {
			return anchorErr(key, "want 64 lowercase hex chars after \"sha256:\", got %d chars", len(h))
		}
		if _, err := hex.DecodeString(h); err != nil {
			return anchorErr(key, "not hex: %v", err)
		}
		for j := range i {
			if l[j] == a {
				return anchorErr(key, "duplicate of trust_anchors[%d]", j)
			}
		}
	}
	return nil
}
