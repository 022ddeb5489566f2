package evidence_test

import (
	"context"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
)

func BenchmarkDecode(b *testing.B) {
	a, _ := authorities(b)
	in := attest(b, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), rd(1))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := evidence.Decode(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySNPWarm measures the whole dispatcher (CMW decode, root
// selection, platform verify with a warm chain cache, appraisal) and reports
// its cost relative to the bare snp.Verify it wraps, measured in the same run.
func BenchmarkVerifySNPWarm(b *testing.B) {
	a, _ := authorities(b)
	r := rd(1)
	report, table, err := a.Guest(sim.SNPGuestConfig{}).Quote(r)
	if err != nil {
		b.Fatal(err)
	}
	in, err := evidence.EncodeSNP(report, table)
	if err != nil {
		b.Fatal(err)
	}
	v := newVerifier(b, setup{snp: []*snp.Roots{a.Roots()}, cache: true})
	cache := snp.NewChainCache(4)
	opts := snp.VerifyOptions{Now: now, ReportData: r, Roots: a.Roots(), Cache: cache}
	ctx := context.Background()
	if _, err := v.Verify(ctx, in, evidence.VerifyOptions{Now: now, ReportData: r}); err != nil { // warm the cache
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.Verify(ctx, in, evidence.VerifyOptions{Now: now, ReportData: r}); err != nil {
			b.Fatal(err)
		}
	}
	// Baseline: the same number of bare snp.Verify calls, timed outside the
	// benchmark timer (testing.Benchmark cannot be nested in a benchmark).
	elapsed := b.Elapsed()
	b.StopTimer()
	start := time.Now()
	for range b.N {
		if _, err := snp.Verify(report, table, opts); err != nil {
			b.Fatal(err)
		}
	}
	if base := time.Since(start); base > 0 {
		b.ReportMetric(float64(elapsed)/float64(base), "x-snp.Verify")
	}
}
