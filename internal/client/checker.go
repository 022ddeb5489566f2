package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/tlsbind"
)

// NewChecker returns a Checker that verifies a peer's (the server's) evidence
// against the vendors' roots and, only if simPKI is given, the simulated ones,
// and appraises it against pol: a policy document like the server's own
// (measurement, MRTD, host data and minimum TCB allow-lists, ...), which pins
// the server in mutual attestation; a refusal carries the same codes the
// server uses (snp.measurement, tdx.tcb, ...). nil is policy.Default(), which
// pins nothing. Its EARs are signed with a throwaway key: they record what
// this client saw.
func NewChecker(simPKI *sim.PKI, pol *policy.Policy) (*tlsbind.Checker, error) {
	if pol == nil {
		pol = policy.Default()
	}
	cfg := evidence.Config{SNPRoots: []*snp.Roots{snp.ProductionRoots()}, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()}, Policy: pol.AppraisalPolicy()}
	if simPKI != nil {
		cfg.SNPRoots = append(cfg.SNPRoots, simPKI.SNP.Roots())
		cfg.TDXRoots = append(cfg.TDXRoots, simPKI.TDX.Roots())
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	iss, err := ear.NewIssuer(k, "seatrx", "seatrx-client")
	if err != nil {
		return nil, err
	}
	return &tlsbind.Checker{Verifier: v, Issuer: iss}, nil
}
