package tdx

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/pcs"
)

// v5Now lies inside the v5 sample's PCK validity (2026-01-27 to 2033-01-27).
var v5Now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// Offsets in the v5 sample (TD 1.5 body).
const (
	v5Body      = headerSize + bodyDescSize // 0x36
	v5SigData   = v5Body + body15Size + 4   // 0x2C2
	v5QEReport  = v5SigData + 128 + 6
	v5AuthLen   = v5QEReport + qeReportSize + qeReportSigSize
	v5ChainHdr  = v5AuthLen + 2 + 32 // the sample's QE auth data is 32 bytes
	v5ChainData = v5ChainHdr + 6
)

func v5Sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/v5/quote_v5_sample.dat")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func v5TCBInfo(t testing.TB) *pcs.TdxTcbInfo {
	t.Helper()
	b, err := os.ReadFile("testdata/v5/sample_tcbinfo_response_v5")
	if err != nil {
		t.Fatal(err)
	}
	var ti pcs.TdxTcbInfo
	if err := json.Unmarshal(b, &ti); err != nil {
		t.Fatal(err)
	}
	return &ti
}

// TestVerifyV5RealSample verifies the recorded TDX 1.5 quote (version 5,
// body type 3) in-house against the Intel SGX Root CA: header, body, PCK
// chain, quote signature, QE report signature and its binding to the
// attestation key.
func TestVerifyV5RealSample(t *testing.T) {
	q := v5Sample(t)
	if binary.LittleEndian.Uint16(q) != 5 || binary.LittleEndian.Uint16(q[headerSize:]) != BodyTDX15 {
		t.Fatal("the sample is not a v5 quote with a TD 1.5 body")
	}
	var rd [64]byte
	copy(rd[:], q[v5Body+bReportData:])
	res, err := Verify(q, VerifyOptions{ReportData: rd, Now: v5Now, Roots: ProductionRoots()})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.QuoteVersion != 5 || res.BodyType != BodyTDX15 || res.FMSPC != "90c06f000000" || res.TrustAnchor != intelRootFP ||
		res.Simulated || res.Debug || res.TCBStatus != "" {
		t.Fatalf("result: version %d body %d FMSPC %s anchor %s simulated %v debug %v status %q",
			res.QuoteVersion, res.BodyType, res.FMSPC, res.TrustAnchor, res.Simulated, res.Debug, res.TCBStatus)
	}
	if hex.EncodeToString(res.TEETCBSVN) != "0b010400000000000000000000000000" ||
		hex.EncodeToString(res.TEETCBSVN2) != "0d010400000000000000000000000000" ||
		!bytes.Equal(res.MRServiceTD, make([]byte, 48)) || res.QESVN != 0 || res.PCESVN != 0 {
		t.Fatalf("TD 1.5 fields: tee_tcb_svn %x tee_tcb_svn2 %x mrservicetd %x qesvn %d pcesvn %d",
			res.TEETCBSVN, res.TEETCBSVN2, res.MRServiceTD, res.QESVN, res.PCESVN)
	}
	if !bytes.Equal(res.MRTD, q[v5Body+bMrTd:v5Body+bMrTd+48]) || res.ReportData != rd {
		t.Fatal("MRTD or REPORTDATA not read from the TD 1.5 body")
	}
	if rd2, ok := UnverifiedReportData(q); !ok || rd2 != rd {
		t.Fatal("UnverifiedReportData misreads v5")
	}
	if f, err := FMSPCOf(q); err != nil || f != "90c06f000000" {
		t.Fatalf("FMSPCOf(v5) = %q, %v", f, err)
	}
	// The PCK is not valid before 2026-01-27.
	_, err = Verify(q, VerifyOptions{SkipReportData: true, Now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Roots: ProductionRoots()})
	wantCode(t, err, "tdx.time")
}

// TestVerifyV5Tampered flips one byte in each region of the real v5 quote,
// cold and with the PCK chain cached: every copy is refused with the code of
// the check that catches it.
func TestVerifyV5Tampered(t *testing.T) {
	orig := v5Sample(t)
	var rd [64]byte
	copy(rd[:], orig[v5Body+bReportData:])
	cases := []struct {
		name string
		mod  func(q []byte) []byte
		code string
	}{
		{"header: QE vendor id", flipAt(12), "tdx.signature"},
		{"header: user data", flipAt(0x2f), "tdx.signature"},
		{"header: version", flipAt(0), "tdx.decode"},
		{"body descriptor: type", flipAt(headerSize), "tdx.decode"},
		{"body descriptor: size", flipAt(headerSize + 2), "tdx.decode"},
		{"body: TEE_TCB_SVN", flipAt(v5Body + bTeeTcbSvn), "tdx.signature"},
		{"body: MRTD", flipAt(v5Body + bMrTd + 5), "tdx.signature"},
		{"body: RTMR3", flipAt(v5Body + bRtmr0 + 3*48), "tdx.signature"},
		{"body: TD attributes", flipAt(v5Body + bTdAttrs), "tdx.signature"},
		{"body: TEE_TCB_SVN_2", flipAt(v5Body + bTeeTcbSvn2), "tdx.signature"},
		{"body: MRSERVICETD", flipAt(v5Body + bMrServiceTD + 47), "tdx.signature"},
		{"report data", flipAt(v5Body + bReportData + 9), "tdx.report_data"},
		{"signed data size", flipAt(v5SigData - 4), "tdx.decode"},
		{"quote signature", flipAt(v5SigData + 3), "tdx.signature"},
		{"attestation key", flipAt(v5SigData + 64 + 3), "tdx.signature"},
		{"certification data type", flipAt(v5SigData + 128), "tdx.decode"},
		{"QE report", flipAt(v5QEReport + qMrEnclave), "tdx.signature"},
		{"QE report data", flipAt(v5QEReport + qReportData + 1), "tdx.signature"},
		{"QE report signature", flipAt(v5QEReport + qeReportSize + 1), "tdx.signature"},
		{"QE auth data", flipAt(v5AuthLen + 2), "tdx.signature"},
		{"PCK chain type", flipAt(v5ChainHdr), "tdx.decode"},
		{"PCK chain PEM header", flipAt(v5ChainData + 3), "tdx.decode"},
		{"PCK leaf certificate: subject", flipPEM(1, 200), "tdx.decode"},
		{"PCK leaf certificate: signature", flipPEMSignature(1), "tdx.chain"},
		{"trailing non-zero byte", func(q []byte) []byte { return append(q, 0, 0, 0x80) }, "tdx.decode"},
	}
	for _, warm := range []bool{false, true} {
		for _, tc := range cases {
			t.Run(tc.name+map[bool]string{false: "/cold", true: "/warm"}[warm], func(t *testing.T) {
				opts := VerifyOptions{Now: v5Now, Roots: ProductionRoots(), ReportData: rd}
				if warm {
					opts.Cache = NewChainCache(4)
					if _, err := Verify(orig, opts); err != nil {
						t.Fatal(err)
					}
				}
				q := tc.mod(append([]byte(nil), orig...))
				if bytes.Equal(q, orig) {
					t.Fatal("the case changed nothing")
				}
				_, err := Verify(q, opts)
				wantCode(t, err, tc.code)
			})
		}
	}
}

func flipAt(off int) func([]byte) []byte {
	return func(q []byte) []byte { q[off] ^= 0x01; return q }
}

// flipPEM changes one base64 character (at index i of the n-th certificate's
// base64 text, counting from 1) to another valid one.
func flipPEM(n, i int) func([]byte) []byte {
	return func(q []byte) []byte {
		at := 0
		for range n {
			at += bytes.Index(q[at:], []byte("-----BEGIN CERTIFICATE-----\n")) + len("-----BEGIN CERTIFICATE-----\n")
		}
		if q[at+i] == 'A' {
			q[at+i] = 'B'
		} else {
			q[at+i] = 'A'
		}
		return q
	}
}

// flipPEMSignature changes a base64 character near the end of the n-th
// certificate (counting from 1), inside its signature value.
func flipPEMSignature(n int) func([]byte) []byte {
	return func(q []byte) []byte {
		at := 0
		for range n {
			at += bytes.Index(q[at:], []byte("-----END CERTIFICATE-----")) + 1
		}
		i := at - 1 - 12
		if q[i] == 'A' {
			q[i] = 'B'
		} else {
			q[i] = 'A'
		}
		return q
	}
}

// TestVerifyV5ZeroPadding: zeros after the signed data are padding: the quote
// verifies, and CanonicalQuote drops them.
func TestVerifyV5ZeroPadding(t *testing.T) {
	for name, q := range map[string][]byte{"v5": v5Sample(t), "v4": sampleQuote(t)} {
		padded := append(append([]byte(nil), q...), make([]byte, 70)...)
		now := v5Now
		if name == "v4" {
			now = sampleNow
		}
		if _, err := Verify(padded, VerifyOptions{SkipReportData: true, Now: now, Roots: ProductionRoots()}); err != nil {
			t.Fatalf("%s with 70 zero bytes: %v", name, err)
		}
		c, err := CanonicalQuote(padded)
		if err != nil || !bytes.Equal(c, q) {
			t.Fatalf("%s: CanonicalQuote = %d bytes, %v; want the unpadded %d", name, len(c), err, len(q))
		}
		if c, err := CanonicalQuote(q); err != nil || !bytes.Equal(c, q) {
			t.Fatalf("%s: CanonicalQuote of an unpadded quote changed it: %v", name, err)
		}
	}
	_, err := CanonicalQuote(append(v5Sample(t), 1))
	wantCode(t, err, "tdx.decode")
}

// TestV5TCBInfoSignature: the recorded v5-era TCB info is Intel's: its
// signature verifies under the Intel SGX TCB Signing key of the recorded 2023
// issuer chain (the certificate itself expired 2025-05-21, so the full
// collateral check cannot run on it; see testdata/README.md).
func TestV5TCBInfoSignature(t *testing.T) {
	b, err := os.ReadFile("testdata/v5/sample_tcbinfo_response_v5")
	if err != nil {
		t.Fatal(err)
	}
	c := realCollateral(t)
	var ti pcs.TdxTcbInfo
	opts := VerifyOptions{Now: time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC), Roots: ProductionRoots()}
	if _, err := verifySignedJSON("tcb_info", "tcbInfo", b, c.TCBInfoIssuerChain, &ti, &ti.Signature, opts); err != nil {
		t.Fatalf("v5 TCB info signature: %v", err)
	}
	if ti.TcbInfo.Version != 3 || ti.TcbInfo.ID != "TDX" || len(ti.TcbInfo.TdxModuleIdentities) != 2 {
		t.Fatalf("tcb info %+v", ti.TcbInfo)
	}
	tampered := bytes.Replace(b, []byte(`"isvsvn":6`), []byte(`"isvsvn":5`), 1)
	_, err = verifySignedJSON("tcb_info", "tcbInfo", tampered, c.TCBInfoIssuerChain, &ti, &ti.Signature, opts)
	wantCode(t, err, "tdx.collateral")
}

// TestV5TCBEvaluation rates the real v5 quote against the real v5-era TCB
// info (TCB info v3: tdxtcbcomponents and the TDX_01/TDX_03 module
// identities), and variants of its TEE_TCB_SVN / TEE_TCB_SVN_2, the way
// Intel's library does. The QE's own status is an input here: no v5-era QE
// identity was recorded.
func TestV5TCBEvaluation(t *testing.T) {
	ti := &v5TCBInfo(t).TcbInfo
	orig := v5Sample(t)
	v, err := parseQuote(orig)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseChain(v.pckChain)
	if err != nil {
		t.Fatal(err)
	}
	exts, err := pcs.PckCertificateExtensions(certs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.EqualFold(exts.FMSPC, ti.Fmspc) {
		t.Fatalf("PCK FMSPC %s, TCB info %s", exts.FMSPC, ti.Fmspc)
	}
	if err := checkModule(v, ti); err != nil {
		t.Fatalf("module identity TDX_01: %v", err)
	}
	svn := func(b ...byte) []byte { return append(b, make([]byte, 16-len(b))...) }
	up, ood := pcs.TcbComponentStatusUpToDate, pcs.TcbComponentStatusOutOfDate
	cases := []struct {
		name       string
		tee, tee2  []byte // nil: as recorded
		qe         pcs.TcbComponentStatus
		want       pcs.TcbComponentStatus
		wantErr    string
		wantModule string // checkModule error, if any
	}{
		{name: "as recorded: module 1.11, now 1.13", qe: up, want: up},
		{name: "QE out of date", qe: ood, want: ood},
		{name: "QE revoked", qe: pcs.TcbComponentStatusRevoked, want: pcs.TcbComponentStatusRevoked},
		{name: "launched on module 1.4, running 1.13: relaunch", tee: svn(4, 1, 4), qe: up, want: StatusTDRelaunchAdvised},
		{name: "launched on 1.4, running 1.4", tee: svn(4, 1, 4), tee2: svn(4, 1, 4), qe: up, want: ood},
		{name: "launched on 1.4, QE out of date: no relaunch advice", tee: svn(4, 1, 4), qe: ood, want: ood},
		{name: "launched on 1.2, running 1.6", tee: svn(2, 1, 4), tee2: svn(6, 1, 4), qe: up, want: StatusTDRelaunchAdvised},
		{name: "launched on 1.2, running 1.5", tee: svn(2, 1, 4), tee2: svn(5, 1, 4), qe: up, want: ood},
		{name: "microcode component 2 behind", tee: svn(11, 1, 2), qe: up, want: ood},
		{name: "module below every level", tee: svn(1, 1, 4), qe: up, wantErr: "TDX module TDX_01 ISVSVN 1 is below every level"},
		{name: "module major 2 unknown", tee: svn(11, 2, 4), qe: up, wantErr: "no TDX module identity TDX_02",
			wantModule: "no TDX module identity TDX_02"},
		{name: "major 0: components 0 and 1 rated by levels", tee: svn(5, 0, 3), tee2: svn(5, 0, 3), qe: up, want: up},
		{name: "major 0 below every level", tee: svn(4, 0, 3), qe: up, wantErr: "no TCB level"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := append([]byte(nil), orig...)
			if tc.tee != nil {
				copy(q[v5Body+bTeeTcbSvn:], tc.tee)
			}
			if tc.tee2 != nil {
				copy(q[v5Body+bTeeTcbSvn2:], tc.tee2)
			}
			v, err := parseQuote(q)
			if err != nil {
				t.Fatal(err)
			}
			err = checkModule(v, ti)
			if tc.wantModule == "" && err != nil || tc.wantModule != "" && (err == nil || !strings.Contains(err.Error(), tc.wantModule)) {
				t.Fatalf("checkModule: %v, want %q", err, tc.wantModule)
			}
			got, err := tcbStatus(ti, v, exts, tc.qe)
			if tc.wantErr != "" {
				wantCode(t, err, "tdx.tcb")
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v does not say %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("status %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestConvergeAndRelaunchRules pins how component statuses combine and
// when the relaunch rule applies.
func TestConvergeAndRelaunchRules(t *testing.T) {
	up, ood, cn := pcs.TcbComponentStatusUpToDate, pcs.TcbComponentStatusOutOfDate, pcs.TcbComponentStatusConfigurationNeeded
	for _, tc := range []struct{ plat, comp, want pcs.TcbComponentStatus }{
		{up, up, up},
		{up, ood, ood},
		{pcs.TcbComponentStatusSwHardeningNeeded, ood, ood},
		{cn, ood, pcs.TcbComponentStatusOutOfDateConfigurationNeeded},
		{pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded, ood, pcs.TcbComponentStatusOutOfDateConfigurationNeeded},
		{ood, pcs.TcbComponentStatusRevoked, pcs.TcbComponentStatusRevoked},
		{cn, up, cn},
		{up, cn, up},
	} {
		if got := converge(tc.plat, tc.comp); got != tc.want {
			t.Errorf("converge(%s, %s) = %s, want %s", tc.plat, tc.comp, got, tc.want)
		}
	}
	ti := &v5TCBInfo(t).TcbInfo
	tee2 := []byte{13, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if got, _ := relaunch(ti, tee2, cn, pcs.TcbComponentStatusOutOfDateConfigurationNeeded, ood, up); got != StatusTDRelaunchAdvisedConfigurationNeeded {
		t.Errorf("relaunch with configuration needed = %s", got)
	}
	if got, _ := relaunch(ti, tee2, up, ood, up, up); got != ood {
		t.Errorf("relaunch when the module is current = %s, want OutOfDate (another component is behind)", got)
	}
	if got, _ := relaunch(ti, tee2, ood, ood, ood, up); got != ood {
		t.Errorf("relaunch when the SGX part is out of date = %s", got)
	}
}
