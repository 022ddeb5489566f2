package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
)

const (
	trustDomain = "seatrx.test"
	workloadID  = "spiffe://seatrx.test/demo/workload"
)

// credentialsSection maps the simulated SEV-SNP guest's default reference
// values (all zero) to demo/workload; nothing else has an identity.
func credentialsSection() string {
	z := func(n int) string { return `"` + strings.Repeat("00", n) + `"` }
	return "credentials:\n  trust_domain: " + trustDomain + "\n  workloads:\n" +
		"    - name: demo/workload\n      platform: sev-snp\n      measurements: {measurement: " + z(48) + ", host_data: " + z(32) + "}\n"
}

// startCredentials starts a dev server whose policy issues credentials.
func startCredentials(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("id: creds-test\nsnp: {}\ntdx: {}\n"+credentialsSection()), 0o644); err != nil {
		t.Fatal(err)
	}
	return start(t, func(c *server.Config) { c.PolicyFile = path })
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// attested dials with the workload key and attests; it returns the
// connection and the server's EAR.
func (e *env) attestedWith(t *testing.T, key crypto.Signer) (*client.Conn, []byte) {
	t.Helper()
	p := e.snp(sim.SNPGuestConfig{})
	p.Key = key
	c := e.dial(t, p)
	ear, err := c.Attest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c, ear
}

// svidConn dials presenting an SVID and its key over mTLS, without a prover.
func (e *env) svidConn(t *testing.T, svid *x509.Certificate, key crypto.Signer) (*client.Conn, error) {
	t.Helper()
	c, err := client.Dial(context.Background(), client.Config{Server: "https://" + e.addr, Roots: e.roots,
		ClientCertificate: &tls.Certificate{Certificate: [][]byte{svid.Raw}, PrivateKey: key, Leaf: svid}})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// The SVID verifies with go-spiffe against the JWKS bundle and with openssl
// against the PEM bundle; it certifies the workload key, names the mapped
// SPIFFE ID and summarises the attestation it was issued on.
func TestCredentialIssued(t *testing.T) {
	e := startCredentials(t)
	ctx := context.Background()
	if sum := e.srv.Summary(); sum.TrustDomain != trustDomain || sum.Workloads != 1 {
		t.Errorf("startup summary: trust domain %q, %d workloads", sum.TrustDomain, sum.Workloads)
	}
	wk := newKey(t)
	c, earJWT := e.attestedWith(t, wk)
	caps, err := c.Capabilities(ctx)
	if err != nil || caps.Credentials == nil || caps.Credentials.TrustDomain != trustDomain || caps.Credentials.Bundle != api.PathBundle {
		t.Fatalf("capabilities: %+v %v", caps.Credentials, err)
	}
	chain, chainPEM, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	svid := chain[0]
	if !wk.PublicKey.Equal(svid.PublicKey) {
		t.Fatal("the SVID does not certify the attested workload key")
	}
	js, err := c.Bundle(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(trustDomain), js)
	if err != nil {
		t.Fatalf("go-spiffe refuses the served bundle: %v", err)
	}
	if h, ok := b.RefreshHint(); !ok || h != credential.BundleRefreshHint {
		t.Errorf("refresh hint %v %v", h, ok)
	}
	id, _, err := x509svid.Verify(chain, b, x509svid.WithTime(e.clock.Now()))
	if err != nil || id.String() != workloadID {
		t.Fatalf("x509svid.Verify: %v %v", id, err)
	}
	sum, err := credential.SummaryOf(svid)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Platform != "sev-snp" || sum.Status != "warning" || !sum.Simulated || sum.EARDigest != sha256.Sum256(earJWT) {
		t.Fatalf("summary %s", sum)
	}
	if life := svid.NotAfter.Sub(e.clock.Now()); life > credential.DefaultLifetime || life < credential.DefaultLifetime-time.Minute {
		t.Errorf("lifetime %v, want the policy default %v", life, credential.DefaultLifetime)
	}
	bundlePEM, err := c.Bundle(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed; go-spiffe verified the SVID, openssl did not")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bundle.pem"), bundlePEM, 0o644)
	os.WriteFile(filepath.Join(dir, "svid.pem"), chainPEM, 0o644)
	out, err := exec.Command(openssl, "verify", "-CAfile", filepath.Join(dir, "bundle.pem"), filepath.Join(dir, "svid.pem")).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}

func TestCredentialRefusals(t *testing.T) {
	e := startCredentials(t)
	ctx := context.Background()
	t.Run("not attested", func(t *testing.T) {
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		_, _, err := c.RequestCredential(ctx, nil)
		wantProblem(t, err, "attest.not_attested")
	})
	t.Run("after a failed re-attestation", func(t *testing.T) {
		c, _ := e.attestedWith(t, newKey(t))
		if _, err := c.Do(ctx, "POST", api.PathChallenge, "", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, []byte{0x0b, 0, 0, 1, 0}); err == nil {
			t.Fatal("a junk authenticator was accepted")
		}
		_, _, err := c.RequestCredential(ctx, nil)
		wantProblem(t, err, "attest.not_attested")
	})
	t.Run("CSR with another key", func(t *testing.T) {
		c, _ := e.attestedWith(t, newKey(t))
		csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, newKey(t))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.RequestCredential(ctx, csr)
		wantProblem(t, err, "credential.csr_key_mismatch")
		// A malformed body is named too; and the attestation was not used up.
		_, _, err = c.RequestCredential(ctx, []byte("junk"))
		wantProblem(t, err, "credential.bad_csr")
	})
	t.Run("CSR with the attested key", func(t *testing.T) {
		wk := newKey(t)
		c, _ := e.attestedWith(t, wk)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, wk)
		if _, _, err := c.RequestCredential(ctx, csr); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no identity mapping", func(t *testing.T) {
		p := e.snp(sim.SNPGuestConfig{HostData: [32]byte{1}})
		c := e.dial(t, p)
		if _, err := c.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		_, _, err := c.RequestCredential(ctx, nil)
		wantProblem(t, err, "credential.no_workload_identity")
		tc := e.dial(t, e.tdx(sim.TDXGuestConfig{}))
		if _, err := tc.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		_, _, err = tc.RequestCredential(ctx, nil)
		wantProblem(t, err, "credential.no_workload_identity")
	})
	t.Run("one credential per attestation; re-attesting renews", func(t *testing.T) {
		c, _ := e.attestedWith(t, newKey(t))
		first, _, err := c.RequestCredential(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.RequestCredential(ctx, nil)
		wantProblem(t, err, "credential.attestation_used")
		if _, err := c.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		second, _, err := c.RequestCredential(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if first[0].SerialNumber.Cmp(second[0].SerialNumber) == 0 || !bytes.Equal(first[0].RawSubjectPublicKeyInfo, second[0].RawSubjectPublicKeyInfo) {
			t.Fatal("renewal did not give a new SVID for the same key")
		}
		s1, _ := credential.SummaryOf(first[0])
		s2, _ := credential.SummaryOf(second[0])
		if s1.EARDigest == s2.EARDigest {
			t.Fatal("the renewed SVID summarises the old attestation")
		}
	})
	t.Run("stale attestation", func(t *testing.T) {
		c, _ := e.attestedWith(t, newKey(t))
		e.clock.Add(6 * time.Minute)
		defer e.clock.Add(-6 * time.Minute)
		_, _, err := c.RequestCredential(ctx, nil)
		wantProblem(t, err, "server.attestation_stale")
	})
}

// Simulated evidence against a production policy is refused before any
// credential: the policy trusts the vendors' roots only.
func TestCredentialSimulatedAgainstProductionPolicy(t *testing.T) {
	prod, err := os.ReadFile(filepath.Join("..", "..", "examples", "policy-production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, append(prod, "\n"+credentialsSection()...), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) { c.PolicyFile = path })
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	_, err = c.Attest(context.Background())
	wantProblem(t, err, "snp.trust_anchor")
	_, _, err = c.RequestCredential(context.Background(), nil)
	wantProblem(t, err, "attest.not_attested")
}

// With a credential on the connection the receipt's subject is the SPIFFE
// ID and its token is bound to the workload key: it is redeemed on another
// connection that proves that key (mTLS with the SVID, no attestation; or a
// new attestation with the same key), and refused to another key.
func TestTokenRedeemedOnAnotherConnection(t *testing.T) {
	e := startCredentials(t)
	ctx := context.Background()
	wk, other := newKey(t), newKey(t)
	c, _ := e.attestedWith(t, wk)
	chain, _, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	svid := chain[0]
	receipts := make([]*receiptAndSecret, 4)
	for i := range receipts {
		if i > 0 {
			if _, err := c.Attest(ctx); err != nil {
				t.Fatal(err)
			}
		}
		rr, err := c.RequestReceipt(ctx, map[string]any{"n": i}, "")
		if err != nil {
			t.Fatal(err)
		}
		receipts[i] = &receiptAndSecret{rr.ReceiptID, rr.TokenSecret, rr.Bundle}
	}
	b, _ := receipt.UnmarshalBundle(receipts[0].bundle)
	rc, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(svid.RawSubjectPublicKeyInfo)
	if rc.Subject != workloadID || rc.ExecutionToken.Cnf == nil || !bytes.Equal(rc.ExecutionToken.Cnf.Value, spki[:]) {
		t.Fatalf("subject %q, cnf %x: want the SPIFFE ID and the workload key %x", rc.Subject, rc.ExecutionToken.Cnf, spki)
	}

	// mTLS with the SVID: redeemed without attesting.
	m, err := e.svidConn(t, svid, wk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Redeem(ctx, receipts[0].id, receipts[0].secret); err != nil {
		t.Fatalf("redeem over mTLS with the SVID: %v", err)
	}
	_, err = m.Redeem(ctx, receipts[0].id, receipts[0].secret)
	wantProblem(t, err, "receipt.token_consumed")
	// ... but it may not do what needs attestation.
	_, err = m.RequestReceipt(ctx, map[string]any{"x": 1}, "")
	wantProblem(t, err, "attest.not_attested")

	// A new attestation with the same key on a third connection.
	n, _ := e.attestedWith(t, wk)
	if _, err := n.Redeem(ctx, receipts[1].id, receipts[1].secret); err != nil {
		t.Fatalf("redeem after a new attestation with the same key: %v", err)
	}

	// Another key: attested, or with its own SVID, is refused by name.
	o, _ := e.attestedWith(t, other)
	_, err = o.Redeem(ctx, receipts[2].id, receipts[2].secret)
	wantProblem(t, err, "receipt.token_cnf")
	oc, _, err := o.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	om, err := e.svidConn(t, oc[0], other)
	if err != nil {
		t.Fatal(err)
	}
	_, err = om.Redeem(ctx, receipts[2].id, receipts[2].secret)
	wantProblem(t, err, "receipt.token_cnf")

	// Neither attested nor authenticated: the attestation refusal.
	plain := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	_, err = plain.Redeem(ctx, receipts[3].id, receipts[3].secret)
	wantProblem(t, err, "attest.not_attested")

	// An expired SVID no longer authenticates (checked per request).
	e.clock.Add(credential.DefaultLifetime + time.Minute)
	defer e.clock.Add(-credential.DefaultLifetime - time.Minute)
	_, err = m.Redeem(ctx, receipts[3].id, receipts[3].secret)
	wantProblem(t, err, "credential.bad_svid")
}

type receiptAndSecret struct{ id, secret, bundle []byte }

// A client certificate that is not an SVID of this trust domain fails the
// handshake; an ordinary client (no certificate) is unaffected.
func TestForeignSVIDRefusedAtHandshake(t *testing.T) {
	e := startCredentials(t)
	k := newKey(t)
	caKey := newKey(t)
	der, err := credential.NewCACertificate(caKey, spiffeid.RequireTrustDomainFromString("other.test"), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(der)
	ca := &credential.CA{Cert: caCert, Key: caKey}
	foreign, err := ca.Issue(credential.Request{ID: spiffeid.RequireFromString("spiffe://other.test/demo/workload"), PublicKey: k.Public(),
		Summary: credential.NewSummary("sev-snp", "affirming", []byte("x"), false, time.Now()), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.svidConn(t, foreign, k)
	if err == nil {
		_, err = c.Capabilities(context.Background())
	}
	if err == nil {
		t.Fatal("a foreign SVID was accepted in the handshake")
	}
	plain := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := plain.Capabilities(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A rotation of the workload-ca key puts the new CA in the bundle at once,
// while the previous key keeps signing for the overlap; afterwards the new
// one signs, and SVIDs of both verify against the bundle.
func TestWorkloadCARotation(t *testing.T) {
	e := startCredentials(t)
	ctx := context.Background()
	dir := keystore.Open(filepath.Join(e.data, "keys"))
	before, err := dir.Load(keystore.RoleWorkloadCA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Rotate(keystore.RoleWorkloadCA, e.clock.Now(), 10*time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if changed, err := e.srv.ReloadKeys(); err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	c, _ := e.attestedWith(t, newKey(t))
	js, _ := c.Bundle(ctx, false)
	b, err := spiffebundle.Parse(spiffeid.RequireTrustDomainFromString(trustDomain), js)
	if err != nil || len(b.X509Authorities()) != 2 {
		t.Fatalf("bundle after rotation: %v, %d CAs", err, len(b.X509Authorities()))
	}
	during, _, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldKid := before.CurrentEntry.Kid
	if got := hex.EncodeToString(mustThumb(t, during[0].AuthorityKeyId, b)); got != oldKid {
		t.Fatalf("during the overlap the SVID was signed by %s, want the previous key %s", got, oldKid)
	}
	e.clock.Add(11 * time.Minute)
	defer e.clock.Add(-11 * time.Minute)
	c2, _ := e.attestedWith(t, newKey(t))
	after, _, err := c2.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(after[0].AuthorityKeyId, during[0].AuthorityKeyId) {
		t.Fatal("after the overlap the previous key still signs")
	}
	for _, s := range [][]*x509.Certificate{during, after} {
		if _, _, err := x509svid.Verify(s, b, x509svid.WithTime(e.clock.Now())); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
}

// mustThumb returns the kid (key-directory thumbprint) of the bundle CA
// whose subject key id is aki.
func mustThumb(t *testing.T, aki []byte, b *spiffebundle.Bundle) []byte {
	t.Helper()
	for _, ca := range b.X509Authorities() {
		if bytes.Equal(ca.SubjectKeyId, aki) {
			kid, err := receipt.Thumbprint(ca.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return kid
		}
	}
	t.Fatalf("no bundle CA has subject key id %x", aki)
	return nil
}
