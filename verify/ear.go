package verify

import (
	"fmt"
	"time"

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

// earChecker is the receipt.EARChecker backed by evidence/ear.
type earChecker struct{ opts ear.VerifyOptions }

// NewEARChecker returns the receipt.EARChecker that judges the EAR inside a
// receipt with evidence/ear.Verify, the code that judges EARs on the wire:
// the same guards (size, compact-JWS pre-check, panic guard around the
// library decoder, submods cap), the same rules (unpadded base64url
// eat_nonce, status lowered by the trust vector) and the same ear.* codes,
// applied as of the receipt's timestamp.
func NewEARChecker(o EAROptions) (receipt.EARChecker, error) {
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
	return &earChecker{opts: vo}, nil
}

// CheckEAR implements receipt.EARChecker.
func (c *earChecker) CheckEAR(token, binder []byte, at time.Time) error {
	o := c.opts
	o.Now = at
	if binder == nil {
		o.NoNonce = true
	} else {
		o.ExpectedNonce = binder
	}
	// A failure is a *check.Error, whose ProblemCode ("ear.nonce") receipt
	// keeps in its report.
	_, err := ear.Verify(token, o)
	return err
}
