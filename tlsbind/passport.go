package tlsbind

import (
	"context"
	"fmt"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
)

// LocalPassport is a Verifier the prover consults directly (in process, or a
// sidecar it trusts) to turn its evidence into an EAR for the passport model:
// it verifies and appraises the evidence against the binder's REPORTDATA and
// signs an EAR whose eat_nonce is the binding and whose akpub is the
// authenticator key, so the relying party can check both.
type LocalPassport struct {
	Verifier *evidence.Verifier
	Issuer   *ear.Issuer
	Now      func() time.Time
}

// AttestationResult implements PassportSource.
func (l *LocalPassport) AttestationResult(ctx context.Context, cmw []byte, b *Binder, akpub []byte) ([]byte, error) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	app, err := l.Verifier.Verify(ctx, cmw, evidence.VerifyOptions{Now: now, ReportData: b.ReportData})
	if err != nil {
		return nil, fmt.Errorf("passport verifier: %w", err)
	}
	return l.Issuer.Issue(*claimsFor(app, b, akpub, now))
}
