package server_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/tlsbind"
)

// BenchmarkAttestedSession measures one whole client session against a live
// dev server on loopback (TLS 1.3 handshake, challenge, simulated SNP
// evidence, attestation, receipt issued and durably stored) and reports it as
// a multiple of a plain TLS 1.3 handshake to the same server, timed in the
// same loop ("x-handshake").
func BenchmarkAttestedSession(b *testing.B) {
	e := start(b, nil)
	ctx := context.Background()
	p := e.snp(sim.SNPGuestConfig{})
	plain := tlsbind.ClientConfig(e.roots, "localhost")
	var session, hs time.Duration
	for b.Loop() {
		t0 := time.Now()
		c, err := tls.Dial("tcp", e.addr, plain)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		hs += time.Since(t0)
		t0 = time.Now()
		cc, err := client.Dial(ctx, client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: p})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := cc.Attest(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := cc.RequestReceipt(ctx, map[string]any{"op": "bench"}, ""); err != nil {
			b.Fatal(err)
		}
		cc.Close()
		session += time.Since(t0)
	}
	b.ReportMetric(float64(session)/float64(hs), "x-handshake")
	b.ReportMetric(float64(hs.Microseconds())/float64(b.N), "handshake-µs")
}
