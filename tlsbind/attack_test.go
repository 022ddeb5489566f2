package tlsbind

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
)

// rdAttester lets a test choose the REPORTDATA the TEE signs.
type rdAttester struct {
	inner evidence.Attester
	remap func([64]byte) [64]byte
}

func (r rdAttester) Platform() evidence.Platform { return r.inner.Platform() }
func (r rdAttester) Attest(ctx context.Context, rd [64]byte) ([]byte, error) {
	return r.inner.Attest(ctx, r.remap(rd))
}

func attest(t *testing.T, p *Prover, c *Checker) error {
	t.Helper()
	return attestIn(t, p, c, nil, nil)
}

// attestIn is attest with the client attesting in use[0] and the server
// accepting accept (nil: the default profile).
func attestIn(t *testing.T, p *Prover, c *Checker, use, accept []Profile) error {
	t.Helper()
	client, server := sessionsIn(t, use, accept)
	req, err := server.Challenge()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := client.Respond(context.Background(), p, req.Raw)
	if err != nil {
		return err
	}
	_, err = server.Accept(context.Background(), c, proof.Authenticator)
	if err == nil {
		if _, aerr := server.Attested(); aerr != nil {
			t.Fatalf("accepted but not attested: %v", aerr)
		}
	} else if _, aerr := server.Attested(); !hasCode(aerr, CodeNotAttested) {
		t.Fatalf("failed attestation left the session attested: %v", aerr)
	}
	return err
}

func TestAttacksRefused(t *testing.T) {
	pol := testPolicy()
	pol.SNP.Measurements = []string{repeatHex("aa", 48)}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSPKI, _ := x509.MarshalPKIXPublicKey(otherKey.Public())
	otherHash := sha256.Sum256(otherSPKI)
	good := snpProver(t, sim.SNPGuestConfig{})

	own := func(c Code) func(error) bool { return func(err error) bool { return hasCode(err, c) } }
	evidenceCheck := func(p check.Platform, chk check.Check) func(error) bool {
		return func(err error) bool { return failedCheck(err, p, chk) }
	}
	// A label no known profile uses (-03's §4 reading, which no profile
	// adopts): nothing to diagnose, so it reads as evidence for another
	// connection.
	odd := DefaultProfile()
	odd.ID, odd.Label = "odd-label", "Attestation Binding"
	tests := []struct {
		name   string
		prover *Prover
		check  *Checker
		want   func(error) bool
		wire   string    // the problem code a peer sees
		use    []Profile // the client's profile; nil: the default
	}{
		{"wrong binder label", good, checker(t, true, testPolicy()), own(CodeBindingConnection), "attest.binding_connection", []Profile{odd}},
		{"report data of another connection", &Prover{Attester: rdAttester{good.Attester, func(rd [64]byte) [64]byte { rd[0] ^= 0xff; return rd }}}, checker(t, true, testPolicy()), own(CodeBindingConnection), "attest.binding_connection", nil},
		{"report data of another key", &Prover{Attester: rdAttester{good.Attester, func(rd [64]byte) [64]byte { copy(rd[32:], otherHash[:]); return rd }}}, checker(t, true, testPolicy()), own(CodeBindingKey), "attest.binding_key", nil},
		{"debug SNP guest", snpProver(t, sim.SNPGuestConfig{Debug: true}), checker(t, true, testPolicy()), evidenceCheck(check.SNP, check.Debug), "snp.debug", nil},
		{"debug TDX guest", tdxProver(t, sim.TDXGuestConfig{Debug: true}), checker(t, true, testPolicy()), evidenceCheck(check.TDX, check.Debug), "tdx.debug", nil},
		{"measurement not allowed", good, checker(t, true, pol), evidenceCheck(check.SNP, check.Measurement), "snp.measurement", nil},
		{"simulated SNP against production roots", good, checker(t, false, testPolicy()), evidenceCheck(check.SNP, check.TrustAnchor), "snp.trust_anchor", nil},
		{"simulated TDX against production roots", tdxProver(t, sim.TDXGuestConfig{}), checker(t, false, testPolicy()), evidenceCheck(check.TDX, check.TrustAnchor), "tdx.trust_anchor", nil},
		{"passport result not accepted", passportProver(t, good), checker(t, true, testPolicy()), own(CodeModelNotAllowed), "attest.model_not_allowed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := attestIn(t, tc.prover, tc.check, tc.use, nil)
			var te *Error
			if !tc.want(err) || !errors.As(err, &te) || te.ProblemCode() != tc.wire {
				t.Fatalf("got %v, want problem code %q", err, tc.wire)
			}
			t.Logf("refused as expected: %v", err)
		})
	}
}

func repeatHex(h string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += h
	}
	return out
}

// passportProver asks an in-process external Verifier for an EAR.
func passportProver(t *testing.T, base *Prover) *Prover {
	c := checker(t, true, testPolicy())
	return &Prover{Attester: base.Attester, Passport: &LocalPassport{Verifier: c.Verifier, Issuer: c.Issuer}}
}

func TestPassportModel(t *testing.T) {
	p := passportProver(t, snpProver(t, sim.SNPGuestConfig{}))
	lp := p.Passport.(*LocalPassport)
	trusted := ear.TrustedVerifier{ID: "external", Key: lp.Issuer.Public()}
	rp := &Checker{Passport: &PassportPolicy{Trusted: []ear.TrustedVerifier{trusted}, AcceptedStatuses: []string{"affirming", "warning"}}}
	client, server := sessions(t)
	req, _ := server.Challenge()
	proof, err := client.Respond(context.Background(), p, req.Raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := server.Accept(context.Background(), rp, proof.Authenticator)
	if err != nil {
		t.Fatalf("passport: %v", err)
	}
	if res.Model != ModelPassport || !res.Claims.Simulated || res.Claims.Verifier != "external" {
		t.Fatalf("model %s claims %+v", res.Model, res.Claims)
	}
	// An EAR from an untrusted verifier is refused.
	other := checker(t, true, testPolicy())
	rp2 := &Checker{Passport: &PassportPolicy{Trusted: []ear.TrustedVerifier{{ID: "other", Key: other.Issuer.Public()}}, AcceptedStatuses: []string{"warning"}}}
	if err := attest(t, p, rp2); !errors.Is(err, ear.ErrUntrustedVerifier) && !failedCheck(err, check.EAR, check.Signature) {
		t.Fatalf("untrusted verifier: %v", err)
	}
	// Default statuses (affirming only) refuse a simulated passport.
	rp3 := &Checker{Passport: &PassportPolicy{Trusted: []ear.TrustedVerifier{trusted}}}
	if err := attest(t, p, rp3); !failedCheck(err, check.EAR, ear.CheckStatus) {
		t.Fatalf("warning status accepted by default: %v", err)
	}
}

func TestSessionRules(t *testing.T) {
	client, server := sessions(t)
	// A request that does not offer cmw_attestation: the prover refuses.
	req, err := expat.NewRequest(expat.Server, expat.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Respond(context.Background(), snpProver(t, sim.SNPGuestConfig{}), req.Raw); !hasCode(err, CodeNotOffered) {
		t.Fatalf("not offered: %v", err)
	}
	// An authenticator answering no request of ours.
	auth, err := expat.Authenticate(client.Channel(), expat.Client, req, nil, nil)
	_ = auth
	if err == nil {
		t.Fatal("authenticate with nil identity succeeded")
	}
	c2, s2 := sessions(t)
	r2, _ := s2.Challenge()
	proof, err := c2.Respond(context.Background(), snpProver(t, sim.SNPGuestConfig{}), r2.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator); !errors.Is(err, expat.ErrContextUnknown) {
		t.Fatalf("authenticator without our request: %v", err)
	}
	// The failure is fatal for the session.
	if _, err := server.Challenge(); err == nil {
		t.Fatal("challenge after failure")
	}
	// Answering the same peer request twice is refused.
	if _, err := c2.Respond(context.Background(), snpProver(t, sim.SNPGuestConfig{}), r2.Raw); !errors.Is(err, expat.ErrContextReused) {
		t.Fatalf("second answer: %v", err)
	}
	// Attempts are bounded.
	_, s3 := sessions(t)
	for i := 0; i < DefaultMaxAttempts; i++ {
		if _, err := s3.Challenge(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s3.Challenge(); !hasCode(err, CodeTooManyAttempts) {
		t.Fatalf("attempt %d: %v", DefaultMaxAttempts+1, err)
	}
}
