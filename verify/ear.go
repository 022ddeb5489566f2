package verify

import (
	"fmt"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/receipt"
)

// EAROptions says which EARs a receipt verifier accepts inside receipts.
type EAROptions struct {
	// Trusted lists the EAR signers: the issuer's own verifier key and, in
	// the passport model, the external verifiers it accepts. Required.
	Trusted []ear.TrustedVerifier
	// AcceptedStatuses lists the acceptable appraisal statuses (after the
	// trust vector lowered them); default ["affirming"].
	AcceptedStatuses []string
	// MaxAge bounds how long before the receipt's timestamp the EAR may
	// have been issued; default receipt.DefaultEARMaxAge.
	MaxAge time.Duration
	// ClockSkew bounds how far after the receipt's timestamp it may have
	// been issued; default receipt.DefaultClockSkew.
	ClockSkew time.Duration
}

// earChecker is the receipt.EARChecker backed by evidence/ear. windows, when
// set, holds each trusted verifier's key with its validity window (by the
// verifier's ID): a token is then judged only against the keys valid at the
// receipt's timestamp.
type earChecker struct {
	opts    ear.VerifyOptions
	windows map[string]receipt.TrustedKey
}

// NewEARChecker returns the receipt.EARChecker that judges the EAR inside a
// receipt with evidence/ear.Verify, the code that judges EARs on the wire:
// the same guards (size, compact-JWS pre-check, panic guard around the
// library decoder, submods cap), the same rules (unpadded base64url
// eat_nonce, status lowered by the trust vector) and the same ear.* codes,
// applied as of the receipt's timestamp.
func NewEARChecker(o EAROptions) (receipt.EARChecker, error) {
	return newEARChecker(o, nil)
}

func newEARChecker(o EAROptions, windows map[string]receipt.TrustedKey) (*earChecker, error) {
	vo := ear.VerifyOptions{Trusted: o.Trusted, AcceptedStatuses: o.AcceptedStatuses, MaxAge: o.MaxAge, ClockSkew: o.ClockSkew}
	if vo.MaxAge == 0 {
		vo.MaxAge = receipt.DefaultEARMaxAge
	}
	if vo.ClockSkew == 0 {
		vo.ClockSkew = receipt.DefaultClockSkew
	}
	if err := vo.CheckTrust(); err != nil {
		return nil, fmt.Errorf("verify: EAR options: %w", err)
	}
	return &earChecker{opts: vo, windows: windows}, nil
}

// CheckEAR implements receipt.EARChecker.
func (c *earChecker) CheckEAR(token, binder []byte, at time.Time) error {
	_, err := c.CheckEARKey(token, binder, at)
	return err
}

// CheckEARKey implements receipt.EARKeyChecker: it also returns the key
// that verified the token. A token signed by a key of the keys document
// whose window does not cover the receipt's timestamp is
// receipt.outside_key_validity.
func (c *earChecker) CheckEARKey(token, binder []byte, at time.Time) (receipt.TrustedKey, error) {
	o := c.opts
	o.Now = at
	if binder == nil {
		o.NoNonce = true
	} else {
		o.ExpectedNonce = binder
	}
	valid := o.Trusted
	if c.windows != nil {
		valid = nil
		for _, v := range c.opts.Trusted {
			if k, ok := c.windows[v.ID]; !ok || covers(k, at) {
				valid = append(valid, v)
			}
		}
	}
	all := o.Trusted
	o.Trusted = valid
	// A failure is a *check.Error, whose ProblemCode ("ear.nonce") receipt
	// keeps in its report.
	cl, err := c.verify(token, o)
	if err != nil {
		if len(valid) < len(all) {
			// Refused among the keys valid then: was it signed by a key of
			// the document outside its window?
			o.Trusted = all
			if cl, aerr := ear.Verify(token, o); aerr == nil {
				return receipt.TrustedKey{}, &receipt.FieldError{Field: "hae_attestation_token", Code: receipt.CodeOutsideKeyValidity,
					Err: fmt.Errorf("EAR signed by verifier key %s outside its validity window at %s", cl.Verifier, at.UTC().Format(time.RFC3339))}
			}
		}
		return receipt.TrustedKey{}, err
	}
	if k, ok := c.windows[cl.Verifier]; ok {
		return k, nil
	}
	for _, v := range c.opts.Trusted {
		if v.ID == cl.Verifier {
			return receipt.TrustedKey{ID: v.ID, Key: v.Key, Role: "ear-verifier"}, nil
		}
	}
	return receipt.TrustedKey{ID: cl.Verifier, Role: "ear-verifier"}, nil
}

func (c *earChecker) verify(token []byte, o ear.VerifyOptions) (*ear.Claims, error) {
	if len(o.Trusted) == 0 {
		return nil, check.Wrap(check.EAR, ear.CheckKey, ear.ErrUntrustedVerifier, "no EAR verifier key is valid at %s", o.Now.UTC().Format(time.RFC3339))
	}
	return ear.Verify(token, o)
}

// covers reports whether k's window holds t (both ends inclusive; a zero
// end is unbounded), as receipt judges issuer and approver keys.
func covers(k receipt.TrustedKey, t time.Time) bool {
	return (k.NotBefore.IsZero() || !t.Before(k.NotBefore)) && (k.NotAfter.IsZero() || !t.After(k.NotAfter))
}
