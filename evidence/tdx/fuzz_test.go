package tdx

import (
	"encoding/binary"
	"os"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// FuzzVerify: no input may panic Verify (the pre-parser must reject every
// length the library parser would slice out of range), and every rejection
// must carry a tdx check code.
func FuzzVerify(f *testing.F) {
	q, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4.dat")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(q)
	f.Add(q[:sigDataStart+200])
	f.Add(q[:headerSize])
	v5 := append([]byte(nil), q...)
	v5[0] = 5
	f.Add(v5)
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

// FuzzCollateral feeds arbitrary collateral JSON through ParseCollateralJSON
// and, when it parses, through full verification against the real sample at
// a time when the real collateral is valid. No panics; only tdx codes.
func FuzzCollateral(f *testing.F) {
	q, err := os.ReadFile("testdata/tdx_prod_quote_SPR_E4.dat")
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
