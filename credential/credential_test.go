package credential_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seatrx/seatrx/credential"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newCA(t *testing.T, td string, at time.Time) *credential.CA {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := credential.NewCACertificate(k, spiffeid.RequireTrustDomainFromString(td), at)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &credential.CA{Cert: c, Key: k}
}

func summary() credential.Summary {
	return credential.NewSummary("sev-snp", "affirming", []byte("ear.jwt.bytes"), true, now)
}

func issue(t *testing.T, ca *credential.CA, id string, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	c, err := ca.Issue(credential.Request{ID: spiffeid.RequireFromString(id), PublicKey: pub, Summary: summary(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func workloadKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// An issued SVID follows the X509-SVID standard's MUSTs and verifies with
// go-spiffe against the bundle, parsed from what BundleJWKS wrote.
func TestIssuedSVIDVerifiesWithGoSPIFFE(t *testing.T) {
	ca := newCA(t, "example.org", now.Add(-time.Hour))
	k := workloadKey(t)
	svid := issue(t, ca, "spiffe://example.org/payments/api", k.Public())

	if len(svid.URIs) != 1 || svid.URIs[0].String() != "spiffe://example.org/payments/api" {
		t.Errorf("URI SANs %v", svid.URIs)
	}
	if svid.IsCA || svid.KeyUsage != x509.KeyUsageDigitalSignature || !svid.BasicConstraintsValid {
		t.Errorf("leaf: IsCA %v, key usage %v", svid.IsCA, svid.KeyUsage)
	}
	critical := map[string]bool{}
	for _, e := range svid.Extensions {
		critical[e.Id.String()] = e.Critical
	}
	if !critical["2.5.29.15"] { // key usage MUST be critical
		t.Error("key usage not critical")
	}
	if c, ok := critical[credential.OIDAttestationSummary.String()]; !ok || c {
		t.Errorf("summary extension present %v critical %v", ok, c)
	}
	if len(svid.ExtKeyUsage) != 2 {
		t.Errorf("EKU %v: want serverAuth and clientAuth", svid.ExtKeyUsage)
	}
	if !svid.NotAfter.Equal(now.Add(credential.DefaultLifetime)) || !svid.NotBefore.Equal(now.Add(-credential.Backdate)) {
		t.Errorf("window %v .. %v", svid.NotBefore, svid.NotAfter)
	}
	if !k.PublicKey.Equal(svid.PublicKey) {
		t.Error("the SVID does not certify the requested key")
	}

	js, err := credential.BundleJWKS([]*x509.Certificate{ca.Cert}, credential.BundleRefreshHint)
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString("example.org")
	b, err := spiffebundle.Parse(td, js)
	if err != nil {
		t.Fatalf("go-spiffe refuses the bundle: %v\n%s", err, js)
	}
	if hint, ok := b.RefreshHint(); !ok || hint != credential.BundleRefreshHint {
		t.Errorf("refresh hint %v %v", hint, ok)
	}
	if len(b.X509Authorities()) != 1 || !b.X509Authorities()[0].Equal(ca.Cert) {
		t.Errorf("bundle authorities %d", len(b.X509Authorities()))
	}
	if strings.Contains(string(js), `"kid"`) {
		t.Error("an x509-svid entry MUST NOT carry kid")
	}
	id, _, err := x509svid.Verify([]*x509.Certificate{svid}, b, x509svid.WithTime(now))
	if err != nil || id.String() != "spiffe://example.org/payments/api" {
		t.Fatalf("x509svid.Verify: %v %v", id, err)
	}
	got, err := credential.SummaryOf(svid)
	if err != nil || *got != summary() {
		t.Fatalf("summary %+v %v, want %+v", got, err, summary())
	}
	// The PEM bundle parses as an X.509 bundle too.
	xb, err := x509bundle.Parse(td, credential.BundlePEM([]*x509.Certificate{ca.Cert}))
	if err != nil || len(xb.X509Authorities()) != 1 {
		t.Fatalf("PEM bundle: %v", err)
	}
	// The CA certificate is a SPIFFE signing certificate.
	if !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 || len(ca.Cert.URIs) != 1 || ca.Cert.URIs[0].String() != "spiffe://example.org" {
		t.Errorf("CA certificate %v %v %v", ca.Cert.IsCA, ca.Cert.KeyUsage, ca.Cert.URIs)
	}
}

// go-spiffe and openssl refuse an SVID after its expiry, one from another
// trust domain, and a tampered one; and accept the good one.
func TestSVIDRefusals(t *testing.T) {
	ca := newCA(t, "example.org", now.Add(-time.Hour))
	other := newCA(t, "other.example", now.Add(-time.Hour))
	k := workloadKey(t)
	good := issue(t, ca, "spiffe://example.org/w", k.Public())
	foreign := issue(t, other, "spiffe://other.example/w", k.Public())
	// Tampered: one byte of the signed part changed (the serial number's
	// last), so the CA's signature no longer covers it.
	raw := bytes.Clone(good.Raw)
	sn := good.SerialNumber.Bytes()
	i := bytes.Index(raw, sn) + len(sn) - 1
	raw[i] ^= 1
	tampered, err := x509.ParseCertificate(raw)
	if err != nil {
		t.Fatal(err)
	}
	b := x509bundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString("example.org"), []*x509.Certificate{ca.Cert})
	cases := []struct {
		name string
		cert *x509.Certificate
		at   time.Time
		ok   bool
	}{
		{"good", good, now, true},
		{"expired", good, good.NotAfter.Add(time.Second), false},
		{"other trust domain", foreign, now, false},
		{"tampered", tampered, now, false},
	}
	dir := t.TempDir()
	bundlePath := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundlePath, credential.BundlePEM([]*x509.Certificate{ca.Cert}), 0o644); err != nil {
		t.Fatal(err)
	}
	openssl, _ := exec.LookPath("openssl")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := x509svid.Verify([]*x509.Certificate{c.cert}, b, x509svid.WithTime(c.at))
			if (err == nil) != c.ok {
				t.Errorf("x509svid.Verify at %v: %v, want ok=%v", c.at, err, c.ok)
			}
			if openssl == "" {
				t.Skip("openssl is not installed: the openssl half of this check is skipped")
			}
			svidPath := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".pem")
			if err := os.WriteFile(svidPath, credential.ChainPEM(c.cert), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "verify", "-attime", strconv.FormatInt(c.at.Unix(), 10), "-CAfile", bundlePath, svidPath).CombinedOutput()
			if (err == nil) != c.ok {
				t.Errorf("openssl verify: %v\n%s", err, out)
			}
		})
	}
}

// The SVID's window never passes the attestation's validity or the CA's.
func TestIssueWindow(t *testing.T) {
	ca := newCA(t, "example.org", now.Add(-time.Hour))
	k := workloadKey(t)
	id := spiffeid.RequireFromString("spiffe://example.org/w")
	c, err := ca.Issue(credential.Request{ID: id, PublicKey: k.Public(), Summary: summary(), Now: now, ValidUntil: now.Add(10 * time.Minute)})
	if err != nil || !c.NotAfter.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("bounded by the attestation: %v %v", c, err)
	}
	late := ca.Cert.NotAfter.Add(-30 * time.Minute)
	c, err = ca.Issue(credential.Request{ID: id, PublicKey: k.Public(), Summary: summary(), Now: late})
	if err != nil || !c.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("bounded by the CA: %v %v", c, err)
	}
	if _, err := ca.Issue(credential.Request{ID: id, PublicKey: k.Public(), Summary: summary(), Now: now, ValidUntil: now.Add(-time.Second)}); !errors.Is(err, credential.ErrNoValidity) {
		t.Fatalf("an attestation no longer valid: %v", err)
	}
	for _, bad := range []string{"spiffe://other.example/w", "spiffe://example.org"} {
		if _, err := ca.Issue(credential.Request{ID: spiffeid.RequireFromString(bad), PublicKey: k.Public(), Summary: summary(), Now: now}); err == nil {
			t.Errorf("issued for %s", bad)
		}
	}
	if _, err := ca.Issue(credential.Request{ID: id, PublicKey: k.Public(), Summary: summary(), Now: now, Lifetime: credential.MaxLifetime + time.Second}); err == nil {
		t.Error("issued beyond MaxLifetime")
	}
	// An Ed25519 workload key is certified as well.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := ca.Issue(credential.Request{ID: id, PublicKey: pub, Summary: summary(), Now: now}); err != nil {
		t.Fatal(err)
	}
}

func TestInBundle(t *testing.T) {
	ca := newCA(t, "example.org", now)
	retired := now.Add(time.Hour)
	for _, c := range []struct {
		at       time.Time
		notAfter *time.Time
		want     bool
	}{
		{now, nil, true},
		{ca.Cert.NotAfter, nil, false},
		{retired.Add(credential.MaxLifetime - time.Second), &retired, true},
		{retired.Add(credential.MaxLifetime), &retired, false},
	} {
		if got := credential.InBundle(ca.Cert, c.notAfter, c.at); got != c.want {
			t.Errorf("InBundle at %v (key until %v) = %v", c.at, c.notAfter, got)
		}
	}
}

func csrFor(t testing.TB, k crypto.Signer, uris ...string) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ignored"}}
	for _, u := range uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestCSR(t *testing.T) {
	k, other := workloadKey(t), workloadKey(t)
	const id = "spiffe://example.org/w"
	good := csrFor(t, k)
	badSig := bytes.Clone(good)
	badSig[len(badSig)-3] ^= 0x40
	for _, c := range []struct {
		name string
		der  []byte
		code credential.Code
	}{
		{"empty", nil, credential.CodeBadCSR},
		{"too large", make([]byte, credential.MaxCSRSize+1), credential.CodeBadCSR},
		{"not DER", []byte("-----BEGIN CERTIFICATE REQUEST-----"), credential.CodeBadCSR},
		{"truncated", good[:len(good)/2], credential.CodeBadCSR},
		{"trailing data", append(bytes.Clone(good), 0), credential.CodeBadCSR},
		{"bad signature", badSig, credential.CodeBadCSR},
		{"another key", csrFor(t, other), credential.CodeCSRKeyMismatch},
		{"another SPIFFE ID", csrFor(t, k, "spiffe://example.org/x"), credential.CodeCSRIdentity},
		{"two URIs", csrFor(t, k, id, "spiffe://example.org/x"), credential.CodeCSRIdentity},
		{"good", good, ""},
		{"good with its ID", csrFor(t, k, id), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			csr, err := credential.ParseCSR(c.der)
			if err == nil {
				err = credential.CheckCSR(csr, k.Public(), id)
			}
			if c.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *credential.Error
			if !errors.As(err, &ce) || ce.Code != c.code {
				t.Fatalf("error %v, want code %s", err, c.code)
			}
			if ce.ProblemCode() != "credential."+string(c.code) {
				t.Errorf("problem code %s", ce.ProblemCode())
			}
		})
	}
}
