package tdx_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// simPCS is an httptest TLS server playing Intel PCS (and the simulated
// root's CRL host) for a simulated authority's collateral, and a fetch.Getter
// pointed at it through Mirrors.
type simPCS struct {
	srv  *httptest.Server
	g    *fetch.Getter
	hits sync.Map // path -> *atomic.Int64
}

func newSimPCS(t *testing.T, c *tdx.Collateral) *simPCS {
	t.Helper()
	p := &simPCS{}
	type resp struct {
		header, chain string
		body          []byte
	}
	routes := map[string]resp{
		"/tdx/certification/v4/tcb?fmspc=00806f050000":          {"Tcb-Info-Issuer-Chain", string(c.TCBInfoIssuerChain), c.TCBInfo},
		"/tdx/certification/v4/qe/identity":                     {"Sgx-Enclave-Identity-Issuer-Chain", string(c.QEIdentityIssuerChain), c.QEIdentity},
		"/sgx/certification/v4/pckcrl?ca=platform&encoding=der": {"Sgx-Pck-Crl-Issuer-Chain", string(c.PCKCRLIssuerChain), c.PCKCRL},
		"/IntelSGXRootCA.der":                                   {"", "", c.RootCRL},
	}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := p.hits.LoadOrStore(r.URL.RequestURI(), new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		rs, ok := routes[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if rs.header != "" {
			w.Header().Set(rs.header, url.QueryEscape(rs.chain))
		}
		_, _ = w.Write(rs.body)
	}))
	t.Cleanup(p.srv.Close)
	g, err := fetch.New(filepath.Join(t.TempDir(), "fetch"), 5*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g.Client = p.srv.Client()
	g.AllowHosts = []string{"api.trustedservices.intel.com", "sim.seatrx.invalid"}
	g.Mirrors = map[string]string{"api.trustedservices.intel.com": p.srv.URL, "sim.seatrx.invalid": p.srv.URL}
	p.g = g
	return p
}

func (p *simPCS) total() int64 {
	var n int64
	p.hits.Range(func(_, v any) bool { n += v.(*atomic.Int64).Load(); return true })
	return n
}

// TestFetchCollateralSimulatedPCS fetches a simulated authority's collateral
// over HTTPS through the cache, verifies a quote with it (UpToDate), and
// checks that a second fetch is served from the cache.
func TestFetchCollateralSimulatedPCS(t *testing.T) {
	now := time.Now()
	a, err := sim.GenerateTDX(sim.TDXOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want, err := a.Collateral(now)
	if err != nil {
		t.Fatal(err)
	}
	p := newSimPCS(t, want)
	var rd [64]byte
	copy(rd[:], "fetched collateral")
	quote, err := a.Guest(sim.TDXGuestConfig{}).Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	fmspc, err := tdx.FMSPCOf(quote)
	if err != nil || fmspc != "00806f050000" {
		t.Fatalf("FMSPCOf = %q, %v", fmspc, err)
	}
	c, err := tdx.FetchCollateral(context.Background(), p.g.TDX(), fmspc)
	if err != nil {
		t.Fatalf("FetchCollateral: %v", err)
	}
	res, err := tdx.Verify(quote, tdx.VerifyOptions{ReportData: rd, Now: now, Roots: a.Roots(), Collateral: c})
	if err != nil {
		t.Fatalf("Verify with fetched collateral: %v", err)
	}
	if res.TCBStatus != "UpToDate" || res.FMSPC != fmspc {
		t.Fatalf("TCB status %q FMSPC %s", res.TCBStatus, res.FMSPC)
	}
	if n := p.total(); n != 4 {
		t.Fatalf("PCS requests %d, want 4", n)
	}
	// Through the Verify hook, a second time: everything comes from the cache.
	res, err = tdx.Verify(quote, tdx.VerifyOptions{ReportData: rd, Now: now, Roots: a.Roots(),
		FetchCollateral: func(f string) (*tdx.Collateral, error) {
			return tdx.FetchCollateral(context.Background(), p.g.TDX(), f)
		}})
	if err != nil || res.TCBStatus != "UpToDate" {
		t.Fatalf("Verify via the hook: %+v, %v", res, err)
	}
	if n := p.total(); n != 4 {
		t.Fatalf("PCS requests %d after a cached repeat, want still 4", n)
	}
}

// TestFetchCollateralPCSDown: with the PCS gone and nothing cached, the
// verification fails closed with tdx.collateral naming the fetch error.
func TestFetchCollateralPCSDown(t *testing.T) {
	now := time.Now()
	a, err := sim.GenerateTDX(sim.TDXOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	c, err := a.Collateral(now)
	if err != nil {
		t.Fatal(err)
	}
	p := newSimPCS(t, c)
	p.srv.Close()
	var rd [64]byte
	quote, err := a.Guest(sim.TDXGuestConfig{}).Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tdx.Verify(quote, tdx.VerifyOptions{ReportData: rd, Now: now, Roots: a.Roots(),
		FetchCollateral: func(f string) (*tdx.Collateral, error) {
			return tdx.FetchCollateral(context.Background(), p.g.TDX(), f)
		}})
	if check.Code(err) != "tdx.collateral" || !errors.Is(err, tdx.ErrFetch) {
		t.Fatalf("err = %v, want tdx.collateral wrapping ErrFetch", err)
	}
}
