package receipt

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// earCall records what Verify asked the injected EAR checker.
type earCall struct {
	token, binder []byte
	at            time.Time
}

// TestAttestationCheckInjected checks receipt's side of the EAR check: what
// it hands the injected checker (token, binder from the action or else the
// snapshot, receipt timestamp) and how it reports the outcome.
func TestAttestationCheckInjected(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	bare := &Bundle{Receipt: b.Receipt} // the snapshot still carries the binder
	fn := newFixture(t, "EdDSA", 1)
	fn.in.Snapshot = nil
	bn, _ := fn.issue(t)
	noBinder := &Bundle{Receipt: bn.Receipt} // neither action nor snapshot
	tests := []struct {
		name       string
		b          *Bundle
		result     error
		wantBinder []byte
		status     string
		code       string
	}{
		{"binder-from-action", b, nil, f.binder, StatusPass, ""},
		{"binder-from-snapshot", bare, nil, f.binder, StatusPass, ""},
		{"no-binder", noBinder, nil, nil, StatusNotPossible, ""},
		{"lower-code-kept", b, lowerErr{"ear.nonce"}, f.binder, StatusFail, "ear.nonce"},
		{"untyped-failure", b, errors.New("broken"), f.binder, StatusFail, "receipt.attestation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []earCall
			opts := f.online(t, 1)
			opts.Mode = ModeAudit
			opts.Trust.Issuers = append(opts.Trust.Issuers, fn.issuer.Trusted())
			opts.Trust.EAR = EARCheckFunc(func(token, binder []byte, at time.Time) error {
				calls = append(calls, earCall{token, binder, at})
				return tc.result
			})
			rep, err := Verify(tc.b, opts)
			if len(calls) != 1 {
				t.Fatalf("checker called %d times", len(calls))
			}
			c := calls[0]
			if !bytes.Equal(c.token, f.in.EAR) || !bytes.Equal(c.binder, tc.wantBinder) || (tc.wantBinder == nil) != (c.binder == nil) || !c.at.Equal(testNow) {
				t.Fatalf("checker got binder %x at %v", c.binder, c.at)
			}
			if got := rep.Status(CheckAttestation); got != tc.status {
				t.Fatalf("attestation %q, want %q (%v)", got, tc.status, err)
			}
			if tc.code != "" && ProblemCode(err) != tc.code {
				t.Fatalf("code %q, want %q", ProblemCode(err), tc.code)
			}
			var fe *FieldError
			if tc.code != "" && (!errors.As(err, &fe) || fe.Field != "hae_attestation_token") {
				t.Fatalf("failure not located at hae_attestation_token: %v", err)
			}
		})
	}
}

// An EAR above the receipt format's limit is refused before the checker runs.
func TestAttestationTooLarge(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	r := mustParse(t, b.Receipt)
	r.AttestationToken.Value = bytes.Repeat([]byte{'a'}, MaxEARSize+1)
	b.Receipt = f.forge(t, r)
	opts := f.online(t, 1)
	opts.Trust.EAR = EARCheckFunc(func([]byte, []byte, time.Time) error {
		t.Fatal("checker called on an oversized EAR")
		return nil
	})
	rep, _ := Verify(b, opts) // the approval fails too: it hashed the original EAR
	for _, c := range rep.Checks {
		if c.Name == CheckAttestation && (c.Status != StatusFail || c.Code != "receipt.too_large") {
			t.Fatalf("attestation %s %s, want fail receipt.too_large", c.Status, c.Code)
		}
	}
	if rep.Status(CheckAttestation) == "" {
		t.Fatal("attestation check did not run")
	}
}
