package snp

import (
	"bytes"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// FuzzVerify feeds arbitrary report and cert-table bytes to Verify: it must
// never panic, and with valid options every failure must carry a check code.
func FuzzVerify(f *testing.F) {
	report, vcek := loadSample(f)
	table := vcekTable(vcek)
	f.Add(report, table)
	f.Add(report, []byte{})
	f.Add(report[:ReportSize-1], table)
	f.Add([]byte{}, []byte("garbage"))
	f.Add(report, badTable(0xFFFFFFF0, 0x20))
	opts := VerifyOptions{Now: sampleNow, Roots: ProductionRoots(), Cache: NewChainCache(4)}
	f.Fuzz(func(t *testing.T, rep, tab []byte) {
		res, err := Verify(rep, tab, unbound(opts))
		if err != nil {
			if res != nil {
				t.Fatal("result returned with an error")
			}
			if check.Code(err) == "" {
				t.Fatalf("error without a check code: %v", err)
			}
			return
		}
		if len(rep) != ReportSize || res.Product == "" || res.TrustAnchor == "" {
			t.Fatalf("accepted %d-byte report with result %+v", len(rep), res)
		}
	})
}

// FuzzCanonicalCertTable: canonicalisation never panics, fails only with
// snp.decode, and what it returns is a fixed point holding the same
// certificates as the input.
func FuzzCanonicalCertTable(f *testing.F) {
	_, vcek := loadSample(f)
	f.Add(vcekTable(vcek))
	f.Add(badTable(0xFFFFFFF0, 0x20))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tab []byte) {
		c, err := CanonicalCertTable(tab)
		if err != nil {
			if check.Code(err) != "snp.decode" {
				t.Fatalf("error without snp.decode: %v", err)
			}
			return
		}
		c2, err := CanonicalCertTable(c)
		if err != nil || !bytes.Equal(c, c2) {
			t.Fatalf("canonical form is not a fixed point: %v", err)
		}
		a, _ := ParseCertTable(tab)
		b, err := ParseCertTable(c)
		if err != nil || !bytes.Equal(a.VCEK, b.VCEK) || !bytes.Equal(a.VLEK, b.VLEK) || !bytes.Equal(a.ASK, b.ASK) ||
			!bytes.Equal(a.ARK, b.ARK) || !bytes.Equal(a.ASVK, b.ASVK) || len(a.Extras) != len(b.Extras) {
			t.Fatalf("canonical form holds other certificates: %v", err)
		}
	})
}
