package snp

import (
	"crypto/ecdsa"
	"crypto/sha512"
	"crypto/x509"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
)

// p384Op returns one ECDSA P-384/SHA-384 verification of the sample report's
// signature: the floor for any SNP verification.
func p384Op(b *testing.B) func() {
	b.Helper()
	report, vcekDER := loadSample(b)
	cert, err := x509.ParseCertificate(vcekDER)
	if err != nil {
		b.Fatal(err)
	}
	pub := cert.PublicKey.(*ecdsa.PublicKey)
	sig, err := abi.ReportToSignatureDER(report)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		d := sha512.Sum384(abi.SignedComponent(report))
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkECDSAP384Verify is the baseline: hash + one P-384 verify.
func BenchmarkECDSAP384Verify(b *testing.B) {
	op := p384Op(b)
	for b.Loop() {
		op()
	}
}

// BenchmarkVerifySNP measures Verify on the real Milan sample: cold (full
// VCEK chain walk every time) and warm (ChainCache hit: only the report
// signature). x-p384 is Verify time divided by P-384 verify time, both
// measured interleaved in the same loop (baseline excluded from ns/op), so
// the ratio holds even when the machine's load changes during the run.
func BenchmarkVerifySNP(b *testing.B) {
	report, vcek := loadSample(b)
	table := vcekTable(vcek)
	baseline := p384Op(b)
	run := func(b *testing.B, cache *ChainCache) {
		opts := VerifyOptions{Now: sampleNow, Roots: ProductionRoots(), Cache: cache}
		if _, err := Verify(report, table, bound(opts, sampleReportData)); err != nil { // fills a cache
			b.Fatal(err)
		}
		var tVerify, tBase time.Duration
		for b.Loop() {
			t0 := time.Now()
			if _, err := Verify(report, table, bound(opts, sampleReportData)); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			b.StopTimer()
			baseline()
			tBase += time.Since(t1)
			b.StartTimer()
			tVerify += t1.Sub(t0)
		}
		b.ReportMetric(float64(tVerify)/float64(tBase), "x-p384")
	}
	b.Run("cold", func(b *testing.B) { run(b, nil) })
	b.Run("warm", func(b *testing.B) { run(b, NewChainCache(16)) })
}
