package tdx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"testing"
	"time"
)

// ecdsaVerifier returns a function doing one ECDSA verify on curve c (the
// baseline unit: P-384 as the issue asks, P-256 since TDX signs with it).
func ecdsaVerifier(b *testing.B, c elliptic.Curve) func() {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	var d []byte
	if c == elliptic.P384() {
		h := sha512.Sum384([]byte("baseline"))
		d = h[:]
	} else {
		h := sha256.Sum256([]byte("baseline"))
		d = h[:]
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k, d)
	if err != nil {
		b.Fatal(err)
	}
	return func() {
		if !ecdsa.VerifyASN1(&k.PublicKey, d, sig) {
			b.Fatal("baseline verify failed")
		}
	}
}

func BenchmarkECDSAP384Verify(b *testing.B) {
	f := ecdsaVerifier(b, elliptic.P384())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f()
	}
}

func BenchmarkECDSAP256Verify(b *testing.B) {
	f := ecdsaVerifier(b, elliptic.P256())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f()
	}
}

// BenchmarkVerifyTDX verifies the real sample quote without collateral.
// cold: full path (our pre-checks + go-tdx-guest: PCK chain x509 walk, QE
// report and quote signatures). warm: PCK chain cached, only the quote and
// QE report signatures and the key binding are checked. The x-p384-verify and
// x-p256-verify metrics give the cost in units of one ECDSA verify; the
// baselines are timed interleaved with the measured calls (timer stopped), so
// both see the same machine load.
func BenchmarkVerifyTDX(b *testing.B) {
	q := sampleQuote(b)
	roots := ProductionRoots()
	p384 := ecdsaVerifier(b, elliptic.P384())
	p256 := ecdsaVerifier(b, elliptic.P256())
	run := func(b *testing.B, cache *ChainCache) {
		opts := VerifyOptions{Now: sampleNow, Roots: roots, Cache: cache}
		if cache != nil {
			if _, err := Verify(q, unbound(opts)); err != nil {
				b.Fatal(err)
			}
		}
		var tv, t384, t256 time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if _, err := Verify(q, unbound(opts)); err != nil {
				b.Fatal(err)
			}
			tv += time.Since(start)
			b.StopTimer()
			start = time.Now()
			p384()
			t384 += time.Since(start)
			start = time.Now()
			p256()
			t256 += time.Since(start)
			b.StartTimer()
		}
		b.ReportMetric(float64(tv)/float64(t384), "x-p384-verify")
		b.ReportMetric(float64(tv)/float64(t256), "x-p256-verify")
	}
	b.Run("cold", func(b *testing.B) { run(b, nil) })
	b.Run("warm", func(b *testing.B) { run(b, NewChainCache(16)) })
}
