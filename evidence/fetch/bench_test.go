package fetch

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkGetCached measures a cache hit (open, read, decode one entry of a
// 2 KiB body) and reports it as a fraction of an uncached fetch of the same
// body from a loopback TLS server (keep-alive), measured in the same run.
func BenchmarkGetCached(b *testing.B) {
	body := make([]byte, 2048)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(body) }))
	defer srv.Close()
	g, err := New(filepath.Join(b.TempDir(), "c"), 5*time.Second, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	g.Client = srv.Client()
	g.Mirrors = map[string]string{"kdsintf.amd.com": srv.URL}

	// Baseline: network fetches (g.fetch bypasses the cache), same run.
	const netRounds = 200
	start := time.Now()
	for i := range netRounds {
		if _, err := g.fetch(fmt.Sprintf("%s?n=%d", testURL, i)); err != nil {
			b.Fatal(err)
		}
	}
	perFetch := time.Since(start) / netRounds

	if _, err := g.Get(testURL); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.Get(testURL); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perHit := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(perFetch.Nanoseconds()), "ns/network-fetch")
	b.ReportMetric(float64(perHit)/float64(perFetch), "hit/fetch")
}
