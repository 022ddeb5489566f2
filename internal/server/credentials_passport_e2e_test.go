package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

// In the passport model the workload's identity comes from the reference
// values its trusted verifier reported in the EAR (the server never sees
// the evidence): the same mapping names the same workload, a guest whose
// verifier reports other values gets no identity, and an SVID issued on a
// passport summarises that verifier's EAR.
func TestCredentialPassportModel(t *testing.T) {
	ctx := context.Background()
	vk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(vk.Public())
	pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	doc := "id: passport-creds\nsnp: {}\ntdx: {}\npassport:\n  accepted_statuses: [affirming, warning]\n  verifiers:\n    - id: external\n      alg: ES256\n      public_key_pem: |\n" +
		indent(pemKey, "        ") + credentialsSection()
	if err := os.WriteFile(pol, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.PolicyFile = pol })
	checker, err := client.NewChecker(e.pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := ear.NewIssuer(vk, "external", "test")
	if err != nil {
		t.Fatal(err)
	}
	passport := func(cfg sim.SNPGuestConfig) *tlsbind.Prover {
		p := e.snp(cfg)
		p.Passport = &tlsbind.LocalPassport{Verifier: checker.Verifier, Issuer: iss}
		return p
	}

	wk := newKey(t)
	p := passport(sim.SNPGuestConfig{})
	p.Key = wk
	c := e.dial(t, p)
	earJWT, err := c.Attest(ctx)
	if err != nil {
		t.Fatalf("passport attest: %v", err)
	}
	chain, _, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatalf("credential on a passport: %v", err)
	}
	if !wk.PublicKey.Equal(chain[0].PublicKey) {
		t.Fatal("the SVID does not certify the attested workload key")
	}
	js, err := c.Bundle(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(trustDomain), js)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := x509svid.Verify(chain, b, x509svid.WithTime(e.clock.Now()))
	if err != nil || id.String() != workloadID {
		t.Fatalf("x509svid.Verify: %v %v", id, err)
	}
	sum, err := credential.SummaryOf(chain[0])
	if err != nil {
		t.Fatal(err)
	}
	if sum.Platform != "sev-snp" || !sum.Simulated || sum.EARDigest != sha256.Sum256(earJWT) {
		t.Fatalf("summary of a passport SVID: %s", sum)
	}

	// Other reference values, vouched for by the same verifier: no identity.
	other := e.dial(t, passport(sim.SNPGuestConfig{HostData: [32]byte{1}}))
	if _, err := other.Attest(ctx); err != nil {
		t.Fatalf("passport attest: %v", err)
	}
	_, _, err = other.RequestCredential(ctx, nil)
	wantProblem(t, err, "credential.no_workload_identity")
}
