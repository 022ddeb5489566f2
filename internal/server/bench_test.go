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
// simulated SNP client has attested, without the HTTP layer.
func attestedConn(b *testing.B) (*Server, *conn, *tlsbind.Result) {
	s, err := New(Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.store.Close() })
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
	ccs, scs := cc.ConnectionState(), sc.ConnectionState()
	cli, _ := tlsbind.NewSession(&ccs, expat.Client, tlsbind.Profile{}, 0)
	srv, _ := tlsbind.NewSession(&scs, expat.Server, tlsbind.Profile{}, 0)
	req, err := srv.Challenge()
	if err != nil {
		b.Fatal(err)
	}
	proof, err := cli.Respond(context.Background(), &tlsbind.Prover{Attester: evidence.NewSNPAttester(s.simPKI.SNP.Guest(sim.SNPGuestConfig{}))}, req.Raw)
	if err != nil {
		b.Fatal(err)
	}
	res, err := srv.Accept(context.Background(), s.checker, proof.Authenticator)
	if err != nil {
		b.Fatal(err)
	}
	return s, &conn{id: "bench", tls: sc}, res
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
	requested, _ := detEnc.Marshal(map[string]any{"operation": "bench"})
	ctx := context.Background()
	key, err := keyfile.LoadKey(filepath.Join(s.cfg.DataDir, "keys", "issuer.pem"))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES256, key)
	if err != nil {
		b.Fatal(err)
	}
	big, small := make([]byte, 3500), make([]byte, 350)
	bare := func() {
		for _, p := range [][]byte{big, small} {
			if _, err := cose.Sign1(rand.Reader, signer, cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES256}}, p, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	var full, issueOnly, baseline time.Duration
	n := 0
	for b.Loop() {
		t := time.Now()
		if _, _, err := s.issue(ctx, c, res, requested, ""); err != nil {
			b.Fatal(err)
		}
		full += time.Since(t)
		t = time.Now()
		if _, _, err := receipt.Issue(s.issuer, s.issueInput(c, res, requested, "")); err != nil {
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
