package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence/snp"
)

// TestSNPEKProfileMatchesLibrary: evidence/snp checks the VCEK chain itself
// (go-sev-guest's verify package registers a global flag). For a VCEK that
// breaks each rule of the AMD KDS profile, both our verifier (snp.chain) and
// go-sev-guest's verify.SnpAttestation refuse; the genuine one passes both.
func TestSNPEKProfileMatchesLibrary(t *testing.T) {
	a := testSNPAuthority(t)
	rd := snpRD("profile")
	report, _ := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
	exts, err := snpKDSExtensions(a.product, a.tcb, a.chipID[:], "")
	if err != nil {
		t.Fatal(err)
	}
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(t *testing.T, edit func(*x509.Certificate) any) []byte {
		t.Helper()
		sn, err := snpSerial()
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: sn, Subject: snpName("SEV-VCEK"), NotBefore: a.vcek.NotBefore, NotAfter: a.vcek.NotAfter,
			SignatureAlgorithm: x509.SHA384WithRSAPSS, ExtraExtensions: exts,
		}
		var pub any = &a.vcekKey.PublicKey
		if edit != nil {
			if p := edit(tmpl); p != nil {
				pub = p
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.ask, pub, a.askKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	location := func(mut func(*pkix.Name)) func(*x509.Certificate) any {
		return func(c *x509.Certificate) any { mut(&c.Subject); return nil }
	}
	tests := []struct {
		name string
		edit func(*x509.Certificate) any
		ok   bool
	}{
		{"genuine profile", nil, true},
		{"subject common name", location(func(n *pkix.Name) { n.CommonName = "SEV-VLEK" }), false},
		{"subject country", location(func(n *pkix.Name) { n.Country = []string{"DE"} }), false},
		{"subject two localities", location(func(n *pkix.Name) { n.Locality = append(n.Locality, "Austin") }), false},
		{"subject organizational unit", location(func(n *pkix.Name) { n.OrganizationalUnit = nil }), false},
		{"signature algorithm", func(c *x509.Certificate) any { c.SignatureAlgorithm = x509.SHA256WithRSAPSS; return nil }, false},
		{"P-256 key", func(*x509.Certificate) any { return &p256.PublicKey }, false},
	}
	root := trust.AMDRootCertsProduct(a.Product())
	root.ProductCerts = &trust.ProductCerts{Ark: a.ARK(), Ask: a.ASK()}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			der := issue(t, tc.edit)
			table := (&abi.CertTable{Entries: []abi.CertTableEntry{{GUID: uuid.MustParse(abi.VcekGUID), RawCert: der}}}).Marshal()
			_, ours := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
			att, err := abi.ReportCertsToProto(append(bytes.Clone(report), table...))
			if err != nil {
				t.Fatal(err)
			}
			lib := verify.SnpAttestation(att, &verify.Options{DisableCertFetching: true, Now: snpNow,
				TrustedRoots: map[string][]*trust.AMDRootCerts{a.Product(): {root}}})
			if tc.ok {
				if ours != nil || lib != nil {
					t.Fatalf("genuine VCEK refused: ours %v, go-sev-guest %v", ours, lib)
				}
				return
			}
			if lib == nil {
				t.Fatalf("go-sev-guest accepts the mutated VCEK; the case tests nothing")
			}
			snpWantCode(t, ours, "snp.chain")
		})
	}
}

// crlGetter serves one CRL at the ASK's distribution point and counts requests.
type crlGetter struct {
	url  string
	body []byte
	hits int
}

func (g *crlGetter) Get(url string) ([]byte, error) {
	g.hits++
	if url != g.url || g.body == nil {
		return nil, errors.New("404 " + url)
	}
	return g.body, nil
}

// TestSNPRevocationFetched: without a loaded CRL, CheckRevocations fetches
// the CRL from the ASK's distribution point through the Getter, keeps it
// while fresh, and refuses a revoked ASK; a Getter that cannot serve it
// fails closed.
func TestSNPRevocationFetched(t *testing.T) {
	a, err := GenerateSNP(SNPOptions{Now: snpCreated}) // own Roots: the fetched CRL is stored in them
	if err != nil {
		t.Fatal(err)
	}
	rd := snpRD("crl-fetch")
	report, table := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
	g := &crlGetter{url: a.ASK().CRLDistributionPoints[0]}
	opts := snp.VerifyOptions{Now: snpNow, Roots: a.Roots(), CheckRevocations: true, Getter: g}

	_, err = snp.Verify(report, table, snpBound(opts, rd))
	snpWantCode(t, err, "snp.collateral")

	if g.body, err = a.CRL(snpCreated, snpNow.Add(24*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := snp.Verify(report, table, snpBound(opts, rd)); err != nil {
			t.Fatalf("Verify %d with a fetched CRL: %v", i, err)
		}
	}
	if g.hits != 2 { // the failed attempt, then one fetch kept while fresh
		t.Fatalf("%d CRL requests, want 2", g.hits)
	}

	b, err := GenerateSNP(SNPOptions{Now: snpCreated})
	if err != nil {
		t.Fatal(err)
	}
	report, table = snpQuote(t, b.Guest(SNPGuestConfig{}), rd)
	g = &crlGetter{url: b.ASK().CRLDistributionPoints[0]}
	if g.body, err = b.CRL(snpCreated, snpNow.Add(24*time.Hour), true); err != nil {
		t.Fatal(err)
	}
	_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: b.Roots(), CheckRevocations: true, Getter: g})
	snpWantCode(t, err, "snp.chain")
	// A CRL signed by another ARK is not trusted.
	if g.body, err = a.CRL(snpCreated, snpNow.Add(24*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	c, err := GenerateSNP(SNPOptions{Now: snpCreated})
	if err != nil {
		t.Fatal(err)
	}
	report, table = snpQuote(t, c.Guest(SNPGuestConfig{}), rd)
	g.url = c.ASK().CRLDistributionPoints[0]
	_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: c.Roots(), CheckRevocations: true, Getter: g})
	snpWantCode(t, err, "snp.chain")
}
