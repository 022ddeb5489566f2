package sim

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/google/go-tdx-guest/verify"

	"github.com/seatrx/seatrx/evidence/tdx"
)

// oidSGXExtension is the Intel SGX extension of a PCK certificate.
var oidSGXExtension = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// TestTDXPCKProfileMatchesLibrary: evidence/tdx checks the PCK chain itself
// (go-tdx-guest's verifier reports failures as text only). For a chain that
// breaks each rule of the Intel PCK profile, both our verifier (tdx.chain)
// and go-tdx-guest's verify.RawTdxQuote refuse; the genuine chain passes both.
func TestTDXPCKProfileMatchesLibrary(t *testing.T) {
	a := testTDXAuthority(t)
	var sgx pkix.Extension
	for _, e := range a.pck.Extensions {
		if e.Id.Equal(oidSGXExtension) {
			sgx = e
		}
	}
	if sgx.Id == nil {
		t.Fatal("simulated PCK certificate has no SGX extension")
	}
	// reissue returns a copy of a whose PCK CA (caCN) and PCK certificate
	// (edited by mod) are freshly issued under a's root.
	reissue := func(t *testing.T, caCN string, mod func(*x509.Certificate)) *TDXAuthority {
		t.Helper()
		b := *a
		var err error
		nb, na := a.pck.NotBefore, a.pck.NotAfter
		if b.pckCA, b.pckCAKey, err = tdxCert(caCN, a.root, a.rootKey, true, nb, na, nil); err != nil {
			t.Fatal(err)
		}
		if b.pck, b.pckKey, err = tdxCert(tdxPCKCN, b.pckCA, b.pckCAKey, false, nb, na, func(c *x509.Certificate) {
			c.CRLDistributionPoints = []string{tdxPCKCRLURL}
			c.ExtraExtensions = []pkix.Extension{sgx}
			if mod != nil {
				mod(c)
			}
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.init(); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	tests := []struct {
		name string
		caCN string
		mod  func(*x509.Certificate)
		ok   bool
	}{
		{"genuine profile", tdxPCKCACN, nil, true},
		{"PCK common name", tdxPCKCACN, func(c *x509.Certificate) { c.Subject.CommonName = "Intel SGX PCK Something" }, false},
		{"PCK signature algorithm", tdxPCKCACN, func(c *x509.Certificate) { c.SignatureAlgorithm = x509.ECDSAWithSHA384 }, false},
		{"intermediate common name", "Intel SGX PCK Processor CA", nil, false},
	}
	rd := tdxReportData()
	pool := tdxRootsPool(a.Roots().Certificates())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := reissue(t, tc.caCN, tc.mod).Guest(tdxGuestConfig()).Quote(rd)
			if err != nil {
				t.Fatal(err)
			}
			_, ours := tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tdxNow, Roots: a.Roots()})
			lib := verify.RawTdxQuote(q, &verify.Options{TrustedRoots: pool, Now: tdxNow})
			if tc.ok {
				if ours != nil || lib != nil {
					t.Fatalf("genuine chain refused: ours %v, go-tdx-guest %v", ours, lib)
				}
				return
			}
			if lib == nil {
				t.Fatal("go-tdx-guest accepts the mutated chain; the case tests nothing")
			}
			tdxWantCode(t, ours, "tdx.chain")
		})
	}
}
