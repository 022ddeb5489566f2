package tdx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/seatrx/seatrx/evidence/check"
)

const realFMSPC = "50806f000000"

// pcsResponse is one canned PCS answer.
type pcsResponse struct {
	header map[string][]string
	body   []byte
}

// pcsMap serves canned responses by URL, like go-tdx-guest's test Getter,
// and counts requests; unknown URLs fail with errNotServed.
type pcsMap struct {
	resp map[string]pcsResponse
	hits map[string]int
}

var errNotServed = errors.New("test getter: URL not served")

func (m *pcsMap) Get(u string) (map[string][]string, []byte, error) {
	if m.hits == nil {
		m.hits = map[string]int{}
	}
	m.hits[u]++
	r, ok := m.resp[u]
	if !ok {
		return nil, nil, fmt.Errorf("%s: %w", u, errNotServed)
	}
	return r.header, r.body, nil
}

const intelRootCRLURL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"

// realPCS serves the real 2023 Intel collateral at the URLs go-tdx-guest uses,
// with the issuer chains URL-escaped in headers as Intel PCS sends them.
func realPCS(t testing.TB) (*pcsMap, *Collateral) {
	t.Helper()
	c := realCollateral(t)
	hdr := func(name string, chain []byte) map[string][]string {
		return map[string][]string{name: {url.QueryEscape(string(chain))}}
	}
	return &pcsMap{resp: map[string]pcsResponse{
		pcs.TcbInfoURL(realFMSPC): {hdr("Tcb-Info-Issuer-Chain", c.TCBInfoIssuerChain), c.TCBInfo},
		pcs.QeIdentityURL():       {hdr("Sgx-Enclave-Identity-Issuer-Chain", c.QEIdentityIssuerChain), c.QEIdentity},
		pcs.PckCrlURL("platform"): {hdr("Sgx-Pck-Crl-Issuer-Chain", c.PCKCRLIssuerChain), c.PCKCRL},
		intelRootCRLURL:           {nil, c.RootCRL},
	}}, c
}

func TestFMSPCOf(t *testing.T) {
	got, err := FMSPCOf(sampleQuote(t))
	if err != nil || got != realFMSPC {
		t.Fatalf("FMSPCOf(real quote) = %q, %v; want %s", got, err, realFMSPC)
	}
	q := sampleQuote(t)
	tests := []struct {
		name string
		in   []byte
		code string
	}{
		{"empty", nil, "tdx.decode"},
		{"truncated", q[:0x300], "tdx.decode"},
		{"chain-garbled", bytes.Replace(q, []byte("-----BEGIN CERTIFICATE-----"), []byte("-----BEGIN XXXXXXXXXXX-----"), 1), "tdx.decode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FMSPCOf(tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

// TestFetchCollateralReal fetches the real Intel collateral through a getter
// exactly as go-tdx-guest would and gets back, byte for byte, what the
// operator-maintained cache directory holds; Verify then judges it the same.
func TestFetchCollateralReal(t *testing.T) {
	g, want := realPCS(t)
	got, err := FetchCollateral(context.Background(), g, strings.ToUpper(realFMSPC))
	if err != nil {
		t.Fatalf("FetchCollateral: %v", err)
	}
	for _, f := range collateralFiles {
		if !bytes.Equal(*f.get(got), *f.get(want)) {
			t.Errorf("%s differs from the cached file", f.name)
		}
	}
	if len(g.hits) != 4 {
		t.Fatalf("requests %v, want the 4 collateral URLs once each", g.hits)
	}
	_, err = Verify(sampleQuote(t), VerifyOptions{SkipReportData: true, Now: collateralNow, Roots: ProductionRoots(), Collateral: got})
	wantCode(t, err, "tdx.tcb") // as TestRealCollateral: every signature passes, no level matches
}

func TestFetchCollateralMalformed(t *testing.T) {
	ctx := context.Background()
	tcbURL := pcs.TcbInfoURL(realFMSPC)
	tests := []struct {
		name   string
		fmspc  string
		mutate func(m *pcsMap)
		want   error
		msg    string
	}{
		{"fmspc-short", "50806f", nil, ErrFetch, "not 6 hex-encoded bytes"},
		{"fmspc-not-hex", "50806f00000g", nil, ErrFetch, "not 6 hex-encoded bytes"},
		{"tcb-unavailable", realFMSPC, func(m *pcsMap) { delete(m.resp, tcbURL) }, errNotServed, tcbURL},
		{"tcb-empty", realFMSPC, func(m *pcsMap) { r := m.resp[tcbURL]; r.body = nil; m.resp[tcbURL] = r }, ErrCollateralMissing, "empty body"},
		{"tcb-too-large", realFMSPC, func(m *pcsMap) {
			r := m.resp[tcbURL]
			r.body = make([]byte, MaxCollateralItem+1)
			m.resp[tcbURL] = r
		}, ErrCollateralTooLarge, "1048577 bytes"},
		{"tcb-not-json", realFMSPC, func(m *pcsMap) { r := m.resp[tcbURL]; r.body = []byte("<html>"); m.resp[tcbURL] = r }, ErrFetch, "not a JSON object"},
		{"tcb-wrong-member", realFMSPC, func(m *pcsMap) { r := m.resp[tcbURL]; r.body = []byte(`{"enclaveIdentity":{}}`); m.resp[tcbURL] = r }, ErrCollateralMissing, `no "tcbInfo" member`},
		{"tcb-no-chain", realFMSPC, func(m *pcsMap) { r := m.resp[tcbURL]; r.header = nil; m.resp[tcbURL] = r }, ErrCollateralMissing, "want one Tcb-Info-Issuer-Chain header, found 0"},
		{"tcb-two-chains", realFMSPC, func(m *pcsMap) {
			r := m.resp[tcbURL]
			v := r.header["Tcb-Info-Issuer-Chain"][0]
			r.header = map[string][]string{"Tcb-Info-Issuer-Chain": {v, v}}
			m.resp[tcbURL] = r
		}, ErrCollateralMissing, "found 2"},
		{"tcb-chain-bad-escape", realFMSPC, func(m *pcsMap) {
			m.resp[tcbURL] = pcsResponse{map[string][]string{"Tcb-Info-Issuer-Chain": {"%zz"}}, m.resp[tcbURL].body}
		}, url.EscapeError("%zz"), "invalid URL escape"},
		{"tcb-chain-one-cert", realFMSPC, func(m *pcsMap) {
			one := realCollateral(t).TCBInfoIssuerChain
			one = one[:bytes.Index(one, []byte("-----END CERTIFICATE-----"))+len("-----END CERTIFICATE-----\n")]
			m.resp[tcbURL] = pcsResponse{map[string][]string{"Tcb-Info-Issuer-Chain": {url.QueryEscape(string(one))}}, m.resp[tcbURL].body}
		}, ErrFetch, "want exactly 2 PEM certificates, found 1"},
		{"qe-unavailable", realFMSPC, func(m *pcsMap) { delete(m.resp, pcs.QeIdentityURL()) }, errNotServed, pcs.QeIdentityURL()},
		{"pck-crl-not-der", realFMSPC, func(m *pcsMap) {
			r := m.resp[pcs.PckCrlURL("platform")]
			r.body = []byte("not a crl")
			m.resp[pcs.PckCrlURL("platform")] = r
		}, ErrFetch, "not a DER CRL"},
		{"pck-crl-no-chain", realFMSPC, func(m *pcsMap) {
			r := m.resp[pcs.PckCrlURL("platform")]
			r.header = nil
			m.resp[pcs.PckCrlURL("platform")] = r
		}, ErrCollateralMissing, "Sgx-Pck-Crl-Issuer-Chain"},
		{"root-crl-unavailable", realFMSPC, func(m *pcsMap) { delete(m.resp, intelRootCRLURL) }, errNotServed, "root CA CRL"},
		{"root-crl-not-der", realFMSPC, func(m *pcsMap) { m.resp[intelRootCRLURL] = pcsResponse{nil, []byte("junk")} }, ErrFetch, "not a DER CRL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := realPCS(t)
			if tc.mutate != nil {
				tc.mutate(g)
			}
			c, err := FetchCollateral(ctx, g, tc.fmspc)
			var esc url.EscapeError
			matches := errors.Is(err, tc.want) || (errors.As(tc.want, &esc) && errors.As(err, &esc))
			if c != nil || !matches || !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v and ErrFetch with %q", err, tc.want, tc.msg)
			}
		})
	}
	if _, err := FetchCollateral(ctx, nil, realFMSPC); !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "no getter") {
		t.Fatalf("nil getter: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	g, _ := realPCS(t)
	if _, err := FetchCollateral(cctx, g, realFMSPC); !errors.Is(err, context.Canceled) || len(g.hits) != 0 {
		t.Fatalf("cancelled context: %v, requests %v", err, g.hits)
	}
}

// TestVerifyFetchHook checks that Verify consults FetchCollateral only for a
// quote whose chain and signatures verified, with the PCK's FMSPC, and
// reports its failure as tdx.collateral.
func TestVerifyFetchHook(t *testing.T) {
	q := sampleQuote(t)
	var asked []string
	hook := func(fmspc string) (*Collateral, error) {
		asked = append(asked, fmspc)
		return nil, errNotServed
	}
	_, err := Verify(q, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(), FetchCollateral: hook})
	wantCode(t, err, "tdx.collateral")
	if !errors.Is(err, errNotServed) || len(asked) != 1 || asked[0] != realFMSPC {
		t.Fatalf("err %v, hook asked for %v", err, asked)
	}
	forged := bytes.Clone(q)
	forged[0x30+0x208] ^= 1 // REPORTDATA: the quote signature no longer verifies
	if _, err := Verify(forged, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(), FetchCollateral: hook}); check.Code(err) != "tdx.signature" || len(asked) != 1 {
		t.Fatalf("forged quote: %v, hook asked %d times", err, len(asked))
	}
	// A hook returning nothing is an error too, never a silent no-collateral pass.
	_, err = Verify(q, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(),
		FetchCollateral: func(string) (*Collateral, error) { return nil, nil }})
	wantCode(t, err, "tdx.collateral")
	// Configured collateral wins: the hook is not called.
	g, _ := realPCS(t)
	c, err := FetchCollateral(context.Background(), g, realFMSPC)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(q, VerifyOptions{SkipReportData: true, Now: collateralNow, Roots: ProductionRoots(), Collateral: c, FetchCollateral: hook})
	wantCode(t, err, "tdx.tcb")
	if len(asked) != 1 {
		t.Fatalf("hook called despite configured collateral")
	}
}
