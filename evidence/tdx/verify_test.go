package tdx

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
)

var (
	sampleNow   = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	intelRootFP = "sha256:44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"
)

// upstreamSuffix is what go-tdx-guest's authors appended to the real quote
// in their copy (tdx_prod_quote_SPR_E4.dat) to test that their parser
// tolerates extra bytes. Intel's quoting enclave did not produce it, nothing
// signs it, and seatrx refuses it (tdx.decode); the _trimmed copy is the
// quote without it.
const upstreamSuffix = "\nextra bytes(only for testing purpose)\n"

// sampleQuote returns the real v4 quote as the QE produced it.
func sampleQuote(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4_trimmed.dat")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSampleTrimmed: the trimmed sample is exactly the upstream file without
// the appended test text, and the upstream file itself is refused, naming the
// trailing bytes.
func TestSampleTrimmed(t *testing.T) {
	up, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4.dat")
	if err != nil {
		t.Fatal(err)
	}
	if q := sampleQuote(t); string(up) != string(q)+upstreamSuffix {
		t.Fatal("testdata/tdx_prod_quote_SPR_E4_trimmed.dat is not the upstream sample without its appended test text")
	}
	_, err = Verify(up, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots()})
	wantCode(t, err, "tdx.decode")
	if !strings.Contains(err.Error(), "trailing_bytes: 39 bytes") {
		t.Fatalf("error does not name the trailing bytes: %v", err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s", code)
	}
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
}

func TestProductionRoots(t *testing.T) {
	r := ProductionRoots()
	if r.Simulated() {
		t.Fatal("production roots marked simulated")
	}
	if fps := r.Fingerprints(); len(fps) != 1 || fps[0] != intelRootFP {
		t.Fatalf("fingerprints = %v", fps)
	}
	if cn := r.Certificates()[0].Subject.CommonName; cn != "Intel SGX Root CA" {
		t.Fatalf("CN = %q", cn)
	}
}

func TestVerifyRealSample(t *testing.T) {
	q := sampleQuote(t)
	var rd [64]byte
	copy(rd[:], q[bodyStart+bReportData:])
	res, err := Verify(q, VerifyOptions{ReportData: rd, Now: sampleNow, Roots: ProductionRoots()})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.FMSPC != "50806f000000" || res.TrustAnchor != intelRootFP || res.Simulated || res.Debug || res.TCBStatus != "" {
		t.Fatalf("unexpected result: FMSPC %s anchor %s simulated %v debug %v status %q",
			res.FMSPC, res.TrustAnchor, res.Simulated, res.Debug, res.TCBStatus)
	}
	if hex.EncodeToString(res.TDAttributes) != "0000004000000000" || res.TEETCBSVN[0] != 3 || res.TEETCBSVN[2] != 4 {
		t.Fatalf("td_attributes %x tee_tcb_svn %x", res.TDAttributes, res.TEETCBSVN)
	}
	if len(res.MRTD) != 48 || len(res.PCKDigest) != 32 || len(res.RTMRs[3]) != 48 {
		t.Fatalf("field sizes: mrtd %d pck %d rtmr3 %d", len(res.MRTD), len(res.PCKDigest), len(res.RTMRs[3]))
	}
	p := &Policy{MRTDs: []string{hex.EncodeToString(res.MRTD)}, MinTEETCBSVN: hex.EncodeToString(res.TEETCBSVN)}
	if err := Appraise(res, p); err != nil {
		t.Fatalf("Appraise with pinned MRTD: %v", err)
	}
	// The result must not alias the caller's buffer.
	q[bodyStart+bMrTd] ^= 0xff
	if res.MRTD[0] == q[bodyStart+bMrTd] {
		t.Fatal("Result.MRTD aliases the quote")
	}
}

// TestVerifyRealSampleTampered runs every tampering case both cold and with
// the PCK chain already cached (warm), since the two paths check signatures
// with different code.
func TestVerifyRealSampleTampered(t *testing.T) {
	orig := sampleQuote(t)
	var origRD [64]byte
	copy(origRD[:], orig[bodyStart+bReportData:])
	cases := []struct {
		name string
		off  int
		now  time.Time
		code string
	}{
		{"quote signature", sigDataStart + 7, sampleNow, "tdx.signature"},
		{"MRTD", bodyStart + bMrTd + 3, sampleNow, "tdx.signature"},
		{"RTMR2", bodyStart + bRtmr0 + 2*48, sampleNow, "tdx.signature"},
		{"REPORTDATA", bodyStart + bReportData + 1, sampleNow, "tdx.report_data"},
		{"attestation key", sigDataStart + 64 + 10, sampleNow, "tdx.signature"},
		{"QE report", sigDataStart + 134 + qMrEnclave, sampleNow, "tdx.signature"},
		{"QE report signature", sigDataStart + 134 + qeReportSize + 3, sampleNow, "tdx.signature"},
		{"QE auth data", sigDataStart + 134 + qeReportSize + 64 + 2, sampleNow, "tdx.signature"},
		{"expired PCK", -1, time.Date(2029, 10, 1, 0, 0, 0, 0, time.UTC), "tdx.time"},
		{"not yet valid", -1, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), "tdx.time"},
	}
	for _, warm := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name + map[bool]string{false: "/cold", true: "/warm"}[warm]
			t.Run(name, func(t *testing.T) {
				opts := VerifyOptions{Now: tc.now, Roots: ProductionRoots()}
				if warm {
					opts.Cache = NewChainCache(4)
					if _, err := Verify(orig, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: opts.Roots, Cache: opts.Cache}); err != nil {
						t.Fatal(err)
					}
				}
				q := append([]byte(nil), orig...)
				if tc.off >= 0 {
					q[tc.off] ^= 0x01
				}
				_, err := Verify(q, bound(opts, origRD))
				wantCode(t, err, tc.code)
			})
		}
	}
}

func TestVerifyTrustAnchor(t *testing.T) {
	// A root set that does not hold the Intel root (here: the PCK CA as a
	// "root") must yield tdx.trust_anchor, not a generic chain error.
	q := sampleQuote(t)
	v, err := parseQuote(q)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseChain(v.pckChain)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Verify(q, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: NewRoots(certs[1:2], true)})
	wantCode(t, err, "tdx.trust_anchor")
	if !strings.Contains(err.Error(), "simulated") {
		t.Fatalf("detail should say the trusted roots are simulated: %v", err)
	}
}

func TestVerifyOptions(t *testing.T) {
	q := sampleQuote(t)
	if _, err := Verify(q, VerifyOptions{SkipReportData: true, Roots: ProductionRoots()}); !errors.Is(err, ErrOptions) {
		t.Fatalf("zero Now: %v", err)
	}
	if _, err := Verify(q, VerifyOptions{SkipReportData: true, Now: sampleNow}); !errors.Is(err, ErrOptions) {
		t.Fatalf("nil Roots: %v", err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	orig := sampleQuote(t)
	mod := func(f func(q []byte) []byte) []byte { return f(append([]byte(nil), orig...)) }
	sds := int(binary.LittleEndian.Uint32(orig[sigDataLenOff:]))
	authLen := int(binary.LittleEndian.Uint16(orig[sigDataStart+134+qeReportSize+64:]))
	chainHdr := sigDataStart + 134 + qeReportSize + 64 + 2 + authLen
	cases := []struct {
		name, field string
		quote       []byte
	}{
		{"empty", "quote: empty", nil},
		{"short header", "header:", orig[:20]},
		{"version 6", "header.version: 6", mod(func(q []byte) []byte { q[0] = 6; return q })},
		{"version 5 with a v4 body", "td_quote_body_descriptor.size: 4, body type 3", mod(func(q []byte) []byte { q[0] = 5; return q })},
		{"trailing non-zero byte", "trailing_bytes: 3 bytes follow the signed data and byte 2 of them", append(append([]byte(nil), orig...), 0, 0, 1)},
		{"attestation key type", "header.attestation_key_type", mod(func(q []byte) []byte { q[2] = 3; return q })},
		{"SGX tee type", "header.tee_type: 0x0", mod(func(q []byte) []byte { q[4] = 0; return q })},
		{"header only", "td_quote_body", orig[:headerSize+10]},
		{"truncated cert data", "signed_data_size", orig[:sigDataStart+sds-100]},
		{"signed data too small", "signed_data_size: 10", mod(func(q []byte) []byte {
			binary.LittleEndian.PutUint32(q[sigDataLenOff:], 10)
			return q
		})},
		{"certification data type", "certification_data.type: 7", mod(func(q []byte) []byte { q[sigDataStart+128] = 7; return q })},
		{"certification data size", "certification_data.size", mod(func(q []byte) []byte {
			binary.LittleEndian.PutUint32(q[sigDataStart+130:], 1<<31)
			return q
		})},
		{"qe auth data size", "qe_auth_data.size", mod(func(q []byte) []byte {
			binary.LittleEndian.PutUint16(q[sigDataStart+134+qeReportSize+64:], 0xffff)
			return q
		})},
		{"pck chain type", "pck_cert_chain.type: 4", mod(func(q []byte) []byte { q[chainHdr] = 4; return q })},
		{"pck chain size", "pck_cert_chain.size", mod(func(q []byte) []byte {
			binary.LittleEndian.PutUint32(q[chainHdr+2:], 3)
			return q
		})},
		{"pck chain not PEM", "pck_cert_chain: want 3 PEM certificates, found 2", mod(func(q []byte) []byte {
			copy(q[chainHdr+6:], "XXXXXXXXXXX")
			return q
		})},
		{"oversized", "exceeds the 65536-byte limit", append(append([]byte(nil), orig...), make([]byte, MaxQuoteSize)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.quote, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots()})
			wantCode(t, err, "tdx.decode")
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %q", err, tc.field)
			}
		})
	}
}

func TestChainCache(t *testing.T) {
	q := sampleQuote(t)
	c := NewChainCache(1)
	prod := ProductionRoots()
	if _, err := Verify(q, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: prod, Cache: c}); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d after one verify", c.Len())
	}
	v, _ := parseQuote(q)
	if c.get(cacheKey(v.pckChain, prod), sampleNow) == nil {
		t.Fatal("verified chain not cached")
	}
	// The key includes the root set: another set must not hit.
	other := NewRoots(prod.Certificates(), true)
	if c.get(cacheKey(v.pckChain, other), sampleNow) != nil {
		t.Fatal("cache hit across root sets")
	}
	// Outside the validity window the entry is not used.
	if c.get(cacheKey(v.pckChain, prod), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) != nil {
		t.Fatal("cache served an expired chain")
	}
	// LRU eviction at max 1.
	c.put([64]byte{1}, &chainEntry{})
	if c.Len() != 1 || c.get(cacheKey(v.pckChain, prod), sampleNow) != nil {
		t.Fatalf("eviction failed, Len %d", c.Len())
	}
}

// bound returns opts expecting REPORTDATA rd.
func bound(opts VerifyOptions, rd [64]byte) VerifyOptions {
	opts.ReportData = rd
	return opts
}

// unbound returns opts that skip the REPORTDATA check.
func unbound(opts VerifyOptions) VerifyOptions {
	opts.SkipReportData = true
	return opts
}
