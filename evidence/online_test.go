package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// vendorServer plays AMD KDS and Intel PCS (and the simulated Intel root's
// CRL host) for the simulated authorities, over TLS on loopback, counting
// requests per path+query.
type vendorServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	// routes maps a request URI to its headers and body.
	routes map[string]vendorResponse
	hits   map[string]int
}

type vendorResponse struct {
	header http.Header
	body   []byte
}

func (v *vendorServer) count(uri string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.hits[uri]
}

func (v *vendorServer) total() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, c := range v.hits {
		n += c
	}
	return n
}

func newVendorServer(t *testing.T) (*vendorServer, *fetch.Getter) {
	t.Helper()
	sa, ta := authorities(t)
	v := &vendorServer{routes: map[string]vendorResponse{}, hits: map[string]int{}}

	// AMD KDS: the VCEK for the simulated chip's TCB, and the ASK/ARK chain.
	chip := sa.ChipID()
	vcekURL, err := url.Parse(kds.VCEKCertURL(sa.Product(), chip[:], kds.TCBVersion(snp.ComposeTCB(sa.Product(), sa.TCB()))))
	if err != nil {
		t.Fatal(err)
	}
	v.routes[vcekURL.RequestURI()] = vendorResponse{body: sa.VCEK().Raw}
	chainURL, err := url.Parse(kds.ProductCertChainURL(abi.VcekReportSigner, sa.Product()))
	if err != nil {
		t.Fatal(err)
	}
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sa.ASK().Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sa.ARK().Raw})...)
	v.routes[chainURL.RequestURI()] = vendorResponse{body: chain}
	// The ARK-signed CRL at the ASK's distribution point (revokes nothing).
	crl, err := sa.CRL(now.Add(-time.Hour), now.Add(24*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	crlURL, err := url.Parse(sa.ASK().CRLDistributionPoints[0])
	if err != nil {
		t.Fatal(err)
	}
	v.routes[crlURL.RequestURI()] = vendorResponse{body: crl}

	// Intel PCS for the simulated TDX platform.
	c, err := ta.Collateral(now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(name string, chain []byte) http.Header {
		return http.Header{name: {url.QueryEscape(string(chain))}}
	}
	v.routes["/tdx/certification/v4/tcb?fmspc=00806f050000"] = vendorResponse{hdr("Tcb-Info-Issuer-Chain", c.TCBInfoIssuerChain), c.TCBInfo}
	v.routes["/tdx/certification/v4/qe/identity"] = vendorResponse{hdr("Sgx-Enclave-Identity-Issuer-Chain", c.QEIdentityIssuerChain), c.QEIdentity}
	v.routes["/sgx/certification/v4/pckcrl?ca=platform&encoding=der"] = vendorResponse{hdr("Sgx-Pck-Crl-Issuer-Chain", c.PCKCRLIssuerChain), c.PCKCRL}
	v.routes["/IntelSGXRootCA.der"] = vendorResponse{body: c.RootCRL}

	v.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.mu.Lock()
		v.hits[r.URL.RequestURI()]++
		rs, ok := v.routes[r.URL.RequestURI()]
		v.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		for k, vals := range rs.header {
			w.Header()[k] = vals
		}
		_, _ = w.Write(rs.body)
	}))
	t.Cleanup(v.srv.Close)

	g, err := fetch.New(filepath.Join(t.TempDir(), "fetch-cache"), 5*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g.Client = v.srv.Client()
	g.AllowHosts = append([]string{"sim.seatrx.invalid"}, fetch.DefaultAllowHosts...)
	g.Mirrors = map[string]string{
		"kdsintf.amd.com":               v.srv.URL,
		"api.trustedservices.intel.com": v.srv.URL,
		"sim.seatrx.invalid":            v.srv.URL,
	}
	return v, g
}

func onlineVerifier(t *testing.T, g *fetch.Getter, coll *tdx.Collateral) *evidence.Verifier {
	t.Helper()
	sa, ta := authorities(t)
	v, err := evidence.NewVerifier(evidence.Config{
		Policy:   testPolicy(),
		SNPRoots: []*snp.Roots{snp.ProductionRoots(), sa.Roots()},
		TDXRoots: []*tdx.Roots{tdx.ProductionRoots(), ta.Roots()},
		SNPCache: snp.NewChainCache(4), TDXCache: tdx.NewChainCache(4),
		TDXCollateral: coll,
		Getter:        g,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOnlineSNPFetchesVCEK: a report whose certificate table lacks the VCEK
// verifies when the Getter serves the VCEK at its KDS URL, a repeat costs no
// request, and without a Getter the same evidence is refused.
func TestOnlineSNPFetchesVCEK(t *testing.T) {
	sa, _ := authorities(t)
	vs, g := newVendorServer(t)
	v := onlineVerifier(t, g, nil)
	vcekURI := ""
	for uri, r := range vs.routes {
		if bytes.Equal(r.body, sa.VCEK().Raw) {
			vcekURI = uri
		}
	}
	guest := sa.Guest(sim.SNPGuestConfig{})
	for i := range 2 {
		r := rd(byte(10 + i))
		report, _, err := guest.Quote(r)
		if err != nil {
			t.Fatal(err)
		}
		cmwBytes, err := evidence.EncodeSNP(report, nil) // no certificate table at all
		if err != nil {
			t.Fatal(err)
		}
		ap, err := v.Verify(context.Background(), cmwBytes, evidence.VerifyOptions{Now: now, ReportData: r})
		if err != nil {
			t.Fatalf("Verify #%d with a KDS getter: %v", i, err)
		}
		digest := sha256.Sum256(sa.VCEK().Raw)
		if !bytes.Equal(snpDetail(t, ap).VCEKDigest, digest[:]) || ap.TrustAnchor != sa.Roots().Fingerprints()[0] {
			t.Fatalf("appraisal %+v", ap)
		}
		// Online, the ASK was checked against the ARK's CRL: nothing is
		// left unevaluated.
		if !snpDetail(t, ap).RevocationChecked || len(ap.NotEvaluated) != 0 {
			t.Fatalf("online SNP appraisal: revocation checked %v, not evaluated %v", snpDetail(t, ap).RevocationChecked, ap.NotEvaluated)
		}
		if n := vs.count(vcekURI); n != 1 {
			t.Fatalf("after Verify #%d: VCEK requested %d times, want 1 (cached)", i, n)
		}
	}

	// Offline (the default): the same evidence cannot be verified.
	r := rd(20)
	report, _, err := guest.Quote(r)
	if err != nil {
		t.Fatal(err)
	}
	cmwBytes, err := evidence.EncodeSNP(report, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = onlineVerifier(t, nil, nil).Verify(context.Background(), cmwBytes, evidence.VerifyOptions{Now: now, ReportData: r})
	wantCode(t, err, "snp.chain")
}

// TestOnlineTDXFetchesCollateral: with a Getter and no collateral anywhere,
// the verifier fetches PCS collateral for the verified FMSPC (once), and the
// TCB status is computed; configured or CMW-carried collateral is used
// without any request.
func TestOnlineTDXFetchesCollateral(t *testing.T) {
	_, ta := authorities(t)
	vs, g := newVendorServer(t)
	guest := ta.Guest(sim.TDXGuestConfig{})
	v := onlineVerifier(t, g, nil)
	for i := range 2 {
		r := rd(byte(30 + i))
		ap, err := v.Verify(context.Background(), attest(t, evidence.NewTDXAttester(guest), r), evidence.VerifyOptions{Now: now, ReportData: r})
		if err != nil {
			t.Fatalf("Verify #%d: %v", i, err)
		}
		if ap.TCBStatus != "UpToDate" || len(ap.NotEvaluated) != 0 {
			t.Fatalf("Verify #%d: appraisal %+v", i, ap)
		}
		if n := vs.total(); n != 4 {
			t.Fatalf("after Verify #%d: %d vendor requests, want 4 (TCB info, QE identity, two CRLs, once)", i, n)
		}
	}

	// Collateral configured or carried: no request at all.
	_, g2 := newVendorServer(t)
	coll, err := ta.Collateral(now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r := rd(40)
	ap, err := onlineVerifier(t, g2, coll).Verify(context.Background(), attest(t, evidence.NewTDXAttester(guest), r), evidence.VerifyOptions{Now: now, ReportData: r})
	if err != nil || ap.TCBStatus != "UpToDate" {
		t.Fatalf("configured collateral: %+v, %v", ap, err)
	}
	collJSON, err := coll.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	quote, err := guest.Quote(r)
	if err != nil {
		t.Fatal(err)
	}
	withColl, err := evidence.EncodeTDX(quote, collJSON)
	if err != nil {
		t.Fatal(err)
	}
	if ap, err := onlineVerifier(t, g2, nil).Verify(context.Background(), withColl, evidence.VerifyOptions{Now: now, ReportData: r}); err != nil || ap.TCBStatus != "UpToDate" {
		t.Fatalf("collateral in the CMW: %+v, %v", ap, err)
	}
	if entries, _ := filepath.Glob(filepath.Join(g2.Dir, "*")); len(entries) != 0 {
		t.Fatalf("fetched although collateral was available: cache holds %v", entries)
	}
}

// TestOnlineTDXPCSDown: no collateral anywhere and the PCS unreachable means
// the evidence is refused (tdx.collateral), not verified without collateral.
func TestOnlineTDXPCSDown(t *testing.T) {
	_, ta := authorities(t)
	vs, g := newVendorServer(t)
	vs.srv.Close()
	r := rd(50)
	_, err := onlineVerifier(t, g, nil).Verify(context.Background(), attest(t, evidence.NewTDXAttester(ta.Guest(sim.TDXGuestConfig{})), r), evidence.VerifyOptions{Now: now, ReportData: r})
	wantCode(t, err, "tdx.collateral")
}
