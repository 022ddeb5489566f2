package snp

import (
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
