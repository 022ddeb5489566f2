package tlsbind

import (
	"errors"
	"fmt"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
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
