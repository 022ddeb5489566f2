package ear

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"
)

// ratioLoop runs op b.N times and, interleaved in blocks, the baseline b.N
// times, so that the reported ratio holds even when machine load drifts
// during the run. Baseline time is excluded from ns/op; blocks amortise the
// cost of StopTimer/StartTimer.
func ratioLoop(b *testing.B, op, baseline func(), unit string) {
	const block = 32
	var base time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(block, b.N-done)
		for range n {
			op()
		}
		b.StopTimer()
		start := time.Now()
		for range n {
			baseline()
		}
		base += time.Since(start)
		b.StartTimer()
		done += n
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed())/float64(base), unit)
}

// BenchmarkIssueES256 reports Issue's cost as a multiple of one bare ECDSA
// P-256 signature (SHA-256 + SignASN1) over a message of the token's size.
func BenchmarkIssueES256(b *testing.B) {
	f := newFixture(b, elliptic.P256(), 32)
	c := f.claims()
	tok := f.issue(b, c)
	ratioLoop(b, func() {
		if _, err := f.iss.Issue(c); err != nil {
			b.Fatal(err)
		}
	}, func() {
		d := sha256.Sum256(tok)
		if _, err := ecdsa.SignASN1(rand.Reader, f.key, d[:]); err != nil {
			b.Fatal(err)
		}
	}, "x-bare-sign")
	b.ReportMetric(float64(len(tok)), "token-bytes")
}

// BenchmarkVerifyES256 reports Verify's cost as a multiple of one bare ECDSA
// P-256 verification (SHA-256 + VerifyASN1) over a message of the token's
// size.
func BenchmarkVerifyES256(b *testing.B) {
	f := newFixture(b, elliptic.P256(), 32)
	tok := f.issue(b, f.claims())
	opts := f.opts()
	d := sha256.Sum256(tok)
	sig, err := ecdsa.SignASN1(rand.Reader, f.key, d[:])
	if err != nil {
		b.Fatal(err)
	}
	ratioLoop(b, func() {
		if _, err := Verify(tok, opts); err != nil {
			b.Fatal(err)
		}
	}, func() {
		d := sha256.Sum256(tok)
		if !ecdsa.VerifyASN1(&f.key.PublicKey, d[:], sig) {
			b.Fatal("baseline signature does not verify")
		}
	}, "x-bare-verify")
}
