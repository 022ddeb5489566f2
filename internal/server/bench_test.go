package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/veraison/go-cose"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// attestedConn returns a dev server and one of its connections on which a
// simulated SNP client has attested, without the HTTP layer (the
// attestation is not recorded in the store).
func attestedConn(b testing.TB) (*Server, *conn, *tlsbind.Result) {
	s, err := New(Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.store.Close() })
	cc, sc := tlsPair(b, s)
	ccs, scs := cc.ConnectionState(), sc.ConnectionState()
	cli, _ := tlsbind.NewSession(&ccs, expat.Client, nil, 0)
	srv, _ := tlsbind.NewSession(&scs, expat.Server, nil, 0)
	req, err := srv.Challenge()
	if err != nil {
		b.Fatal(err)
	}
	proof, err := cli.Respond(context.Background(), &tlsbind.Prover{Attester: evidence.NewSNPAttester(s.simPKI.SNP.Guest(sim.SNPGuestConfig{}))}, req.Raw)
	if err != nil {
		b.Fatal(err)
	}
	res, err := srv.Accept(context.Background(), s.keyState().checker, proof.Authenticator)
	if err != nil {
		b.Fatal(err)
	}
	c := &conn{id: "bench", tls: sc}
	c.once.Do(func() { c.session = srv })
	return s, c, res
}

// tlsPair returns both ends of a TLS 1.3 connection to s's TLS
// configuration on loopback, closed at cleanup.
func tlsPair(b testing.TB, s *Server) (client, server *tls.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cas, err := keyfile.LoadCertificates(filepath.Join(DevDir(s.cfg.DataDir), "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	srvc := make(chan *tls.Conn, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			srvc <- nil
			return
		}
		t := tls.Server(raw, s.tlsCfg)
		t.Handshake()
		srvc <- t
	}()
	cc, err := tls.Dial("tcp", ln.Addr().String(), tlsbind.ClientConfig(roots, "localhost"))
	if err != nil {
		b.Fatal(err)
	}
	sc := <-srvc
	b.Cleanup(func() { cc.Close(); sc.Close() })
	return cc, sc
}

// bareSignatures returns the baseline of the issuing benchmarks: two bare
// ES256 COSE_Sign1 signatures with the issuer's key over payloads the size of
// a receipt (3.5 KB) and an approval (350 B).
func bareSignatures(b *testing.B, s *Server) func() error {
	key, err := keyfile.LoadKey(filepath.Join(s.cfg.DataDir, "keys", "issuer.pem"))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		b.Fatal(err)
	}
	big, small := make([]byte, 3500), make([]byte, 350)
	hdr := cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}}
	return func() error {
		for _, p := range [][]byte{big, small} {
			if _, err := cose.Sign1(rand.Reader, signer, hdr, p, nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// BenchmarkIssueDurable measures the server's whole issuing path minus HTTP
// (action and snapshot, receipt signature, approval signature, deterministic
// encoding, durable SQLite insert with the token) and reports it as a ratio
// to the two bare ES256 COSE_Sign1 signatures it contains, timed in
// alternating blocks within the same run ("x-2sign1"). "insert-x-2sign1" is
// the part spent outside receipt.Issue: mostly the fsync of
// synchronous=FULL.
func BenchmarkIssueDurable(b *testing.B) {
	s, c, res := attestedConn(b)
	requested, _ := receipt.RequestedFromJSON([]byte(`{"operation": "bench"}`))
	ctx := context.Background()
	sign2 := bareSignatures(b, s)
	bare := func() {
		if err := sign2(); err != nil {
			b.Fatal(err)
		}
	}
	var full, issueOnly, baseline time.Duration
	n := 0
	for b.Loop() {
		t := time.Now()
		if _, err := s.issue(ctx, c, res, requested, "", nil); err != nil {
			b.Fatal(err)
		}
		full += time.Since(t)
		t = time.Now()
		if _, _, err := receipt.Issue(s.keyState().issuer, s.issueInput(c, res, s.keyState(), requested, "")); err != nil {
			b.Fatal(err)
		}
		issueOnly += time.Since(t)
		t = time.Now()
		bare()
		baseline += time.Since(t)
		n++
	}
	b.ReportMetric(float64(full)/float64(baseline), "x-2sign1")
	b.ReportMetric(float64(issueOnly)/float64(baseline), "sign-x-2sign1")
	b.ReportMetric(float64(full-issueOnly)/float64(baseline), "insert-x-2sign1")
	b.ReportMetric(float64(full.Microseconds())/float64(n), "issue-µs")
	b.ReportMetric(float64(baseline.Microseconds())/float64(n), "2sign1-µs")
}

// wallParallel runs fn n times from g goroutines and returns the wall time;
// the first error stops the run.
func wallParallel(g, n int, fn func() error) (time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), first
}

// BenchmarkIssueDurableParallel is BenchmarkIssueDurable with 8 x GOMAXPROCS
// concurrent issuers, so that group commit can share one fsync among several
// receipts. ns/op and "issue-µs" are wall time per receipt. The baseline, two
// bare ES256 COSE_Sign1 signatures per receipt, runs from the same number of
// goroutines in alternating blocks of the same run ("x-2sign1" = wall time per
// receipt / wall time per baseline pair). "commits/receipt" is the share of
// SQLite transactions per stored receipt.
func BenchmarkIssueDurableParallel(b *testing.B) {
	s, c, res := attestedConn(b)
	requested, _ := receipt.RequestedFromJSON([]byte(`{"operation": "bench"}`))
	ctx := context.Background()
	bare := bareSignatures(b, s)
	issue := func() error {
		_, err := s.issue(ctx, c, res, requested, "", nil)
		return err
	}
	g := 8 * runtime.GOMAXPROCS(0)
	const block = 512
	before := s.store.GroupCommitStats()
	var full, baseline time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(block, b.N-done)
		d, err := wallParallel(g, n, issue)
		if err != nil {
			b.Fatal(err)
		}
		full += d
		b.StopTimer()
		d, err = wallParallel(g, n, bare)
		if err != nil {
			b.Fatal(err)
		}
		baseline += d
		b.StartTimer()
		done += n
	}
	b.StopTimer()
	after := s.store.GroupCommitStats()
	b.ReportMetric(float64(full)/float64(baseline), "x-2sign1")
	b.ReportMetric(float64(full.Microseconds())/float64(b.N), "issue-µs")
	b.ReportMetric(float64(baseline.Microseconds())/float64(b.N), "2sign1-µs")
	if items := after.Items - before.Items; items > 0 {
		b.ReportMetric(float64(after.Commits-before.Commits)/float64(items), "commits/receipt")
	}
}

// BenchmarkAccept measures the server's side of one attestation as a dev
// server runs it (production and simulated roots, warm chain caches):
// RFC 9261 validation, CMW decoding, evidence verification, appraisal and
// the EAR, without HTTP. The client's challenge answer is made with the
// timer stopped, so ns/op and allocs/op are the server's alone.
func BenchmarkAccept(b *testing.B) {
	for _, platform := range []string{"snp", "tdx"} {
		b.Run(platform, func(b *testing.B) {
			s, _, _ := attestedConn(b)
			var a evidence.Attester = evidence.NewSNPAttester(s.simPKI.SNP.Guest(sim.SNPGuestConfig{}))
			if platform == "tdx" {
				a = evidence.NewTDXAttester(s.simPKI.TDX.Guest(sim.TDXGuestConfig{}))
			}
			p := &tlsbind.Prover{Attester: a}
			cc, sc := tlsPair(b, s)
			ccs, scs := cc.ConnectionState(), sc.ConnectionState()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				// A fresh pair of sessions per attestation (the
				// per-connection attempt limit), on one TLS connection.
				cli, err := tlsbind.NewSession(&ccs, expat.Client, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				srv, err := tlsbind.NewSession(&scs, expat.Server, nil, 0)
				if err != nil {
					b.Fatal(err)
				}
				req, err := srv.Challenge()
				if err != nil {
					b.Fatal(err)
				}
				proof, err := cli.Respond(ctx, p, req.Raw)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := srv.Accept(ctx, s.keyState().checker, proof.Authenticator); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
