package server

import (
	"context"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/tlsbind"
)

// A client that attests in one request, against a server without POST
// /v1/attest/issue (as before it existed), falls back to POST /v1/attest
// and POST /v1/receipts on the same connection, with the same
// authenticator, and gets its receipt.
func TestAttestIssueFallback(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var unrouted atomic.Int64
	routes := s.http.Handler
	s.http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.PathAttestIssue {
			unrouted.Add(1)
			http.NotFound(w, r)
			return
		}
		routes.ServeHTTP(w, r)
	})
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	cas, err := keyfile.LoadCertificates(filepath.Join(DevDir(s.cfg.DataDir), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	p := &tlsbind.Prover{Attester: evidence.NewSNPAttester(s.simPKI.SNP.Guest(sim.SNPGuestConfig{}))}
	c, err := client.Dial(context.Background(), client.Config{Server: "https://" + addr.String(), Roots: roots, Prover: p})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ear, rr, err := c.AttestAndIssue(context.Background(), map[string]any{"op": "x"}, "")
	if err != nil || len(ear) == 0 || len(rr.Bundle) == 0 {
		t.Fatalf("fallback: %v", err)
	}
	if tm := c.Timings(); unrouted.Load() != 1 || tm.Attest == 0 || tm.Receipt == 0 {
		t.Fatalf("%d unrouted requests, timings %+v: want one refused combined request, then the two requests", unrouted.Load(), tm)
	}
}

// An attestation accepted by a request that has not recorded it yet (a
// concurrent HTTP/2 request on the same connection) earns no receipt: the
// receipt endpoints see the connection as not attested until it is recorded.
func TestReceiptNeedsRecordedAttestation(t *testing.T) {
	s, c, res := attestedConn(t)
	var ran int
	h := s.attested(func(http.ResponseWriter, *http.Request, *conn, *tlsbind.Result) { ran++ })
	call := func() *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(context.WithValue(context.Background(), connKey{}, c), "POST", api.PathReceipts, nil)
		w := httptest.NewRecorder()
		h(w, r)
		return w
	}
	if w := call(); w.Code != http.StatusForbidden || ran != 0 || !strings.Contains(w.Body.String(), `"code":"attest.not_attested"`) {
		t.Fatalf("unrecorded attestation: %d %s (handler ran %d times)", w.Code, w.Body, ran)
	}
	c.markRecorded(res.Context)
	if call(); ran != 1 {
		t.Fatal("the recorded attestation did not reach the handler")
	}
}
