package tlsbind

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"testing"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
)

// hasCode reports whether err is a tlsbind failure with its own code c.
func hasCode(err error, c Code) bool {
	var te *Error
	return errors.As(err, &te) && te.Code == c
}

// failedCheck reports whether err is the evidence check chk of platform p.
func failedCheck(err error, p check.Platform, chk check.Check) bool {
	var ce *check.Error
	return errors.As(err, &ce) && ce.Platform == p && ce.Check == chk
}

func TestProblemCodeKeepsTheLowerLayersCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"own code", fail(StepBinding, CodeBindingKey, nil, "x"), "attest.binding_key"},
		{"own code over a lower error", fail(StepBinding, CodeBindingConnection, check.Errorf(check.SNP, check.ReportData, "x"), "y"), "attest.binding_connection"},
		{"expat error classified", classify(StepAuthenticator, fmt.Errorf("ctx: %w", expat.ErrBadFinished)), "expat.bad_finished"},
		{"check error classified", classify(StepEvidence, check.Errorf(check.SNP, check.Debug, "x")), "snp.debug"},
		{"classified twice", classify(StepConnection, classify(StepRequest, expat.ErrContextReused)), "expat.context_reused"},
		{"error without a code", classify(StepEvidence, errors.New("device gone")), ""},
		{"not attested after a failure", fail(StepConnection, CodeNotAttested, classify(StepEvidence, check.Errorf(check.TDX, check.TCB, "x")), ""), "attest.not_attested"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var te *Error
			if !errors.As(tc.err, &te) || te.ProblemCode() != tc.want {
				t.Fatalf("%v: problem code %q, want %q", tc.err, te.ProblemCode(), tc.want)
			}
		})
	}
	// The lower error stays reachable for errors.Is / errors.As.
	if err := classify(StepAuthenticator, expat.ErrBadSignature); !errors.Is(err, expat.ErrBadSignature) {
		t.Fatal("classified error hides the expat sentinel")
	}
}

func TestCodesAreDistinctAndNamespaced(t *testing.T) {
	seen := map[Code]bool{}
	for _, c := range Codes() {
		if seen[c] || c == "" {
			t.Fatalf("code %q duplicate or empty", c)
		}
		seen[c] = true
		if got := (&Error{Code: c}).ProblemCode(); got != "attest."+string(c) {
			t.Fatalf("%s: problem code %q", c, got)
		}
	}
}

type failingAttester struct{ err error }

func (f failingAttester) Platform() evidence.Platform { return evidence.PlatformSNP }
func (f failingAttester) Attest(context.Context, [64]byte) ([]byte, error) {
	return nil, f.err
}

// The prover's own failures name their step and keep their cause; a cause
// without a wire code stays without one (the server answers 500 internal).
func TestProverFailuresAreTyped(t *testing.T) {
	client, _ := sessions(t)
	offered, err := expat.NewRequest(expat.Server, expat.RequestOptions{OfferCMW: true})
	if err != nil {
		t.Fatal(err)
	}
	device := errors.New("/dev/sev-guest: no such device")
	_, err = (&Prover{Attester: failingAttester{device}}).Respond(context.Background(), client.Channel(), expat.Client, offered, DefaultProfile())
	var te *Error
	if !errors.As(err, &te) || te.Step != StepEvidence || te.ProblemCode() != "" || !errors.Is(err, device) {
		t.Fatalf("attester failure: %v", err)
	}
	rsaOnly, err := expat.NewRequest(expat.Server, expat.RequestOptions{OfferCMW: true, Schemes: []expat.SignatureScheme{expat.PSSWithSHA256}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = snpProver(t, sim.SNPGuestConfig{}).Respond(context.Background(), client.Channel(), expat.Client, rsaOnly, DefaultProfile())
	if !errors.As(err, &te) || te.Step != StepRequest || !errors.Is(err, expat.ErrNoCommonScheme) || te.ProblemCode() != "expat.no_common_scheme" {
		t.Fatalf("no key type for the offered schemes: %v", err)
	}
	_, err = Channel(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12})
	if !errors.As(err, &te) || te.Step != StepConnection || !errors.Is(err, expat.ErrNotTLS13) {
		t.Fatalf("TLS 1.2: %v", err)
	}
}
