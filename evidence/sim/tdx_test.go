package sim

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/abi"
	"github.com/google/go-tdx-guest/pcs"
	tdxtest "github.com/google/go-tdx-guest/testing"
	"github.com/google/go-tdx-guest/verify"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/tdx"
)

var (
	tdxNow      = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tdxAuthOnce sync.Once
	tdxAuth     *TDXAuthority
	tdxAuthErr  error
)

// testTDXAuthority shares one generated PKI across tests (key generation is
// the slow part under -race).
func testTDXAuthority(t testing.TB) *TDXAuthority {
	t.Helper()
	tdxAuthOnce.Do(func() { tdxAuth, tdxAuthErr = GenerateTDX(TDXOptions{Now: tdxNow}) })
	if tdxAuthErr != nil {
		t.Fatal(tdxAuthErr)
	}
	return tdxAuth
}

func tdxWantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s", code)
	}
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
}

func tdxGuestConfig() TDXGuestConfig {
	var c TDXGuestConfig
	copy(c.MRTD[:], bytes.Repeat([]byte{0xaa}, 48))
	copy(c.RTMRs[0][:], bytes.Repeat([]byte{0x01}, 48))
	c.XFAM = [8]byte{0xe7, 0x02, 0x06}
	return c
}

func tdxReportData() [64]byte {
	var rd [64]byte
	copy(rd[:], "binding || aik_pub_hash for this connection")
	return rd
}

func TestTDXSimulatedVerify(t *testing.T) {
	a := testTDXAuthority(t)
	rd := tdxReportData()
	q, err := a.Guest(tdxGuestConfig()).Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	// The quote is real-format: go-tdx-guest parses and verifies it on its own.
	if _, err := abi.QuoteToProto(q); err != nil {
		t.Fatalf("abi.QuoteToProto: %v", err)
	}
	pool := a.Roots().Certificates()
	if err := verify.RawTdxQuote(q, &verify.Options{TrustedRoots: tdxRootsPool(pool), Now: tdxNow}); err != nil {
		t.Fatalf("go-tdx-guest verify: %v", err)
	}

	coll, err := a.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	for _, withColl := range []bool{false, true} {
		opts := tdx.VerifyOptions{Now: tdxNow, Roots: a.Roots()}
		want := ""
		if withColl {
			opts.Collateral, want = coll, "UpToDate"
		}
		res, err := tdx.Verify(q, tdxBound(opts, rd))
		if err != nil {
			t.Fatalf("Verify (collateral %v): %v", withColl, err)
		}
		if !res.Simulated || res.TCBStatus != want || res.Debug || res.FMSPC != "00806f050000" {
			t.Fatalf("collateral %v: simulated %v status %q debug %v fmspc %s", withColl, res.Simulated, res.TCBStatus, res.Debug, res.FMSPC)
		}
		if res.TrustAnchor != a.Roots().Fingerprints()[0] || !bytes.Equal(res.MRTD, bytes.Repeat([]byte{0xaa}, 48)) || res.ReportData != rd {
			t.Fatalf("result fields wrong: anchor %s mrtd %x", res.TrustAnchor, res.MRTD)
		}
		if err := tdx.Appraise(res, &tdx.Policy{MRTDs: []string{hex.EncodeToString(res.MRTD)}, RequireCollateral: withColl}); err != nil {
			t.Fatalf("Appraise: %v", err)
		}
	}
	// Production roots must not accept simulated evidence.
	_, err = tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tdxNow, Roots: tdx.ProductionRoots()})
	tdxWantCode(t, err, "tdx.trust_anchor")
}

// TestTDXSimulatedV5: the simulator's version 5 quotes (TD 1.5 body, and TD
// 1.0 body) verify with the in-house v5 parser, with and without collateral,
// and carry the TD 1.5 fields; go-tdx-guest v0.3.1 still rejects them.
func TestTDXSimulatedV5(t *testing.T) {
	a := testTDXAuthority(t)
	rd := tdxReportData()
	coll, err := a.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	c := tdxGuestConfig()
	c.QuoteVersion = 5
	c.TEETCBSVN2 = [16]byte{3, 0, 5}
	copy(c.MRServiceTD[:], bytes.Repeat([]byte{0x5e}, 48))
	for _, body := range []uint16{tdx.BodyTDX15, tdx.BodyTDX10} {
		c.BodyType = body
		q, err := a.Guest(c).Quote(rd)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := abi.QuoteToProto(q); err == nil {
			t.Fatal("go-tdx-guest v0.3.1 parsed a v5 quote: the in-house parser may no longer be needed")
		}
		for _, withColl := range []*tdx.Collateral{nil, coll} {
			res, err := tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tdxNow, Roots: a.Roots(), Collateral: withColl})
			if err != nil {
				t.Fatalf("body %d, collateral %v: %v", body, withColl != nil, err)
			}
			if res.QuoteVersion != 5 || res.BodyType != body || !bytes.Equal(res.MRTD, c.MRTD[:]) || res.ReportData != rd {
				t.Fatalf("body %d: version %d body %d", body, res.QuoteVersion, res.BodyType)
			}
			if withColl != nil && res.TCBStatus != "UpToDate" {
				t.Fatalf("body %d: TCB status %q", body, res.TCBStatus)
			}
			if body == tdx.BodyTDX15 && (!bytes.Equal(res.TEETCBSVN2, c.TEETCBSVN2[:]) || !bytes.Equal(res.MRServiceTD, c.MRServiceTD[:])) {
				t.Fatalf("TD 1.5 fields: %x %x", res.TEETCBSVN2, res.MRServiceTD)
			}
			if body == tdx.BodyTDX10 && (res.TEETCBSVN2 != nil || res.MRServiceTD != nil) {
				t.Fatal("TD 1.0 body reports TD 1.5 fields")
			}
		}
	}
	if _, err := a.Guest(TDXGuestConfig{QuoteVersion: 4, BodyType: tdx.BodyTDX15}).Quote(rd); err == nil {
		t.Fatal("a v4 quote with a TD 1.5 body was produced")
	}
	if _, err := a.Guest(TDXGuestConfig{QuoteVersion: 6}).Quote(rd); err == nil {
		t.Fatal("a v6 quote was produced")
	}
}

func TestTDXSimulatedAppraisal(t *testing.T) {
	a := testTDXAuthority(t)
	rd := tdxReportData()
	coll, err := a.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	verifyCfg := func(t *testing.T, c TDXGuestConfig) (*tdx.Result, error) {
		t.Helper()
		q, err := a.Guest(c).Quote(rd)
		if err != nil {
			t.Fatal(err)
		}
		return tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tdxNow, Roots: a.Roots(), Collateral: coll})
	}

	t.Run("debug TD", func(t *testing.T) {
		c := tdxGuestConfig()
		c.Debug = true
		res, err := verifyCfg(t, c)
		if err != nil {
			t.Fatalf("Verify must pass a debug TD (appraisal rejects it): %v", err)
		}
		if !res.Debug {
			t.Fatal("Debug not reported")
		}
		tdxWantCode(t, tdx.Appraise(res, &tdx.Policy{}), "tdx.debug")
		if err := tdx.Appraise(res, &tdx.Policy{AllowDebug: true}); err != nil {
			t.Fatalf("AllowDebug: %v", err)
		}
	})
	t.Run("MRTD not allowed", func(t *testing.T) {
		res, err := verifyCfg(t, tdxGuestConfig())
		if err != nil {
			t.Fatal(err)
		}
		tdxWantCode(t, tdx.Appraise(res, &tdx.Policy{MRTDs: []string{strings.Repeat("bb", 48)}}), "tdx.measurement")
	})
	t.Run("OutOfDate", func(t *testing.T) {
		c := tdxGuestConfig()
		c.TEETCBSVN = TDXOutOfDateTEETCBSVN
		res, err := verifyCfg(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if res.TCBStatus != "OutOfDate" {
			t.Fatalf("TCBStatus = %q, want OutOfDate", res.TCBStatus)
		}
		tdxWantCode(t, tdx.Appraise(res, &tdx.Policy{}), "tdx.tcb")
		if err := tdx.Appraise(res, &tdx.Policy{AcceptedTCBStatuses: []string{"UpToDate", "OutOfDate"}}); err != nil {
			t.Fatalf("OutOfDate listed as accepted: %v", err)
		}
	})
	t.Run("below every level", func(t *testing.T) {
		c := tdxGuestConfig()
		c.TEETCBSVN = [16]byte{1}
		_, err := verifyCfg(t, c)
		tdxWantCode(t, err, "tdx.tcb")
	})
}

func TestTDXSimulatedCollateralFailures(t *testing.T) {
	a := testTDXAuthority(t)
	rd := tdxReportData()
	q, err := a.Guest(tdxGuestConfig()).Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	stale, err := a.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := a.CollateralWith(TDXCollateralConfig{Now: tdxNow, RevokePCK: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := GenerateTDX(TDXOptions{Now: tdxNow})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		coll   *tdx.Collateral
		now    time.Time
		detail string
	}{
		// nextUpdate is Now+30d; the certificates are still valid then.
		{"stale collateral", stale, tdxNow.Add(31 * 24 * time.Hour), "stale"},
		{"revoked PCK", revoked, tdxNow, "PCK certificate"},
		{"collateral of another PKI", foreign, tdxNow, "not trusted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tc.now, Roots: a.Roots(), Collateral: tc.coll})
			tdxWantCode(t, err, "tdx.collateral")
			if !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("error %q does not say %q", err, tc.detail)
			}
		})
	}
}

func TestTDXSaveLoad(t *testing.T) {
	a := testTDXAuthority(t)
	dir := t.TempDir()
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	b, err := LoadTDX(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b.Roots().Fingerprints(), a.Roots().Fingerprints(); got[0] != want[0] {
		t.Fatalf("root changed: %v vs %v", got, want)
	}
	// A quote from the loaded authority verifies against the original's roots,
	// so the keys survived too.
	rd := tdxReportData()
	q, err := b.Guest(tdxGuestConfig()).Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := b.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tdx.Verify(q, tdx.VerifyOptions{ReportData: rd, Now: tdxNow, Roots: a.Roots(), Collateral: coll}); err != nil {
		t.Fatalf("loaded authority: %v", err)
	}
	if _, err := LoadTDX(t.TempDir()); err == nil {
		t.Fatal("LoadTDX of an empty directory succeeded")
	}
	// A key that does not belong to its certificate is refused.
	k, err := os.ReadFile(filepath.Join(dir, "tdx", "root.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tdx", "pck.key"), k, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTDX(dir); err == nil || !strings.Contains(err.Error(), "pck: key does not match certificate") {
		t.Fatalf("mismatched key: %v", err)
	}
}

// TestTDXCollateralAcceptedByLibrary cross-checks the mock collateral with
// go-tdx-guest's own collateral path (served through its test Getter): the
// library accepts it, CRLs included, so its shapes and signatures are real.
func TestTDXCollateralAcceptedByLibrary(t *testing.T) {
	a := testTDXAuthority(t)
	q, err := a.Guest(tdxGuestConfig()).Quote(tdxReportData())
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Collateral(tdxNow)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(name string, chain []byte) map[string][]string {
		return map[string][]string{name: {url.QueryEscape(string(chain))}}
	}
	getter := &tdxtest.Getter{Responses: map[string]tdxtest.HTTPResponse{
		pcs.TcbInfoURL("00806f050000"): {Header: hdr("Tcb-Info-Issuer-Chain", c.TCBInfoIssuerChain), Body: c.TCBInfo},
		pcs.QeIdentityURL():            {Header: hdr("Sgx-Enclave-Identity-Issuer-Chain", c.QEIdentityIssuerChain), Body: c.QEIdentity},
		pcs.PckCrlURL("platform"):      {Header: hdr("Sgx-Pck-Crl-Issuer-Chain", c.PCKCRLIssuerChain), Body: c.PCKCRL},
		tdxRootCRLURL:                  {Body: c.RootCRL},
	}}
	err = verify.RawTdxQuote(q, &verify.Options{TrustedRoots: tdxRootsPool(a.Roots().Certificates()), Now: tdxNow,
		GetCollateral: true, CheckRevocations: true, Getter: getter})
	if err != nil {
		t.Fatalf("go-tdx-guest rejects the mock collateral: %v", err)
	}
}

func tdxRootsPool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// tdxBound returns opts expecting REPORTDATA rd.
func tdxBound(opts tdx.VerifyOptions, rd [64]byte) tdx.VerifyOptions {
	opts.ReportData = rd
	return opts
}
