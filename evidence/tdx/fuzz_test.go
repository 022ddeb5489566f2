package tdx

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// FuzzVerify: no input may panic Verify (the pre-parser must reject every
// length the library parser would slice out of range), and every rejection
// must carry a tdx check code.
func FuzzVerify(f *testing.F) {
	q, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4_trimmed.dat")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(q)
	f.Add(q[:sigDataStart+200])
	f.Add(q[:headerSize])
	v5 := append([]byte(nil), q...)
	v5[0] = 5
	f.Add(v5)
	real5, err := os.ReadFile("testdata/v5/quote_v5_sample.dat")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real5)
	f.Add(append(append([]byte(nil), real5...), 0, 0, 0))
	big := append([]byte(nil), q...)
	binary.LittleEndian.PutUint32(big[sigDataLenOff:], 0xffffffff)
	f.Add(big)
	roots := ProductionRoots()
	cache := NewChainCache(8)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []*ChainCache{nil, cache} {
			res, err := Verify(data, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: roots, Cache: c})
			if err != nil {
				if check.Code(err) == "" {
					t.Fatalf("error without a check code: %v", err)
				}
				continue
			}
			if res == nil || len(res.MRTD) != 48 {
				t.Fatalf("nil or malformed result without error")
			}
		}
	})
}

// FuzzParseQuote: the v4/v5 parser never panics, fails only with tdx.decode,
// and what it accepts is self-consistent: the body has the size its type
// says, every part lies inside the signed data, and the canonical form is a
// fixed point that parses to the same view.
func FuzzParseQuote(f *testing.F) {
	for _, name := range []string{"testdata/tdx_prod_quote_SPR_E4_trimmed.dat", "testdata/v5/quote_v5_sample.dat"} {
		q, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(q)
		f.Add(append(append([]byte(nil), q...), 0, 0))
		f.Add(q[:len(q)/2])
	}
	td10 := []byte{5, 0, 2, 0, 0x81, 0, 0, 0}
	f.Add(append(append(td10, make([]byte, headerSize-len(td10))...), 2, 0, 0x48, 2, 0, 0))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseQuote(data)
		if err != nil {
			if check.Code(err) != "tdx.decode" {
				t.Fatalf("parse error without tdx.decode: %v", err)
			}
			return
		}
		want := map[uint16]int{BodyTDX10: bodySize, BodyTDX15: body15Size}[v.bodyType]
		if len(v.body) != want || v.end > len(data) || len(v.signature) != 64 || len(v.attKey) != 64 ||
			len(v.qeReport) != qeReportSize || len(v.pckChain) == 0 {
			t.Fatalf("inconsistent view: body %d (type %d) end %d of %d", len(v.body), v.bodyType, v.end, len(data))
		}
		c, err := CanonicalQuote(data)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := CanonicalQuote(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("canonical form is not a fixed point: %v", err)
		}
	})
}

// FuzzCollateral feeds arbitrary collateral JSON through ParseCollateralJSON
// and, when it parses, through full verification against the real sample at
// a time when the real collateral is valid. No panics; only tdx codes.
func FuzzCollateral(f *testing.F) {
	q, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4_trimmed.dat")
	if err != nil {
		f.Fatal(err)
	}
	c, err := LoadCollateral("testdata/collateral-2023")
	if err != nil {
		f.Fatal(err)
	}
	j, err := c.MarshalJSON()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(j)
	f.Add([]byte(`{"tcb_info":"{\"tcbInfo\":{},\"signature\":\"00\"}","tcb_info_issuer_chain":"x","qe_identity":"{}","qe_identity_issuer_chain":"x","pck_crl":"AA==","root_crl":"AA=="}`))
	f.Add([]byte(`null`))
	roots := ProductionRoots()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCollateralJSON(data)
		if err != nil {
			return
		}
		_, err = Verify(q, VerifyOptions{SkipReportData: true, Now: collateralNow, Roots: roots, Collateral: c})
		if err == nil {
			t.Fatal("sample quote matches no TCB level, yet verification passed")
		}
		if code := check.Code(err); code != "tdx.collateral" && code != "tdx.tcb" {
			t.Fatalf("unexpected code %q: %v", code, err)
		}
	})
}
