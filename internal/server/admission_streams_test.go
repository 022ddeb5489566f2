package server

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/tlsbind"
)

// startInternal runs a dev server on loopback for tests that look at its
// admission state.
func startInternal(t *testing.T, mod func(*Config)) (*Server, *http.Client) {
	t.Helper()
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mod(&cfg)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	cas, err := keyfile.LoadCertificates(filepath.Join(DevDir(cfg.DataDir), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	// One HTTP/2 connection, all requests multiplexed on it.
	tr := &http.Transport{TLSClientConfig: tlsbind.ClientConfig(roots, "127.0.0.1"), ForceAttemptHTTP2: true, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	s.cfg.Addr = addr.String()
	return s, &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// stalledPost starts POST /v1/attest with a body that never ends (until
// the test does) and returns the response when it comes.
func stalledPost(t *testing.T, s *Server, cl *http.Client) <-chan *http.Response {
	t.Helper()
	return stalledPostLen(t, s, cl, -1)
}

// stalledPostLen is stalledPost with a declared Content-Length (-1: none).
func stalledPostLen(t *testing.T, s *Server, cl *http.Client, n int64) <-chan *http.Response {
	t.Helper()
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	out := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest("POST", "https://"+s.cfg.Addr+"/v1/attest", pr)
		req.ContentLength = n
		resp, err := cl.Do(req)
		if err != nil {
			out <- nil
			return
		}
		resp.Body.Close()
		out <- resp
	}()
	pw.Write([]byte{0}) // the handler is reading
	return out
}

// waitReserved polls until n bodies of POST /v1/attest hold their budget.
func waitReserved(t *testing.T, s *Server, n int64) {
	t.Helper()
	want := n * (maxAuthBody + 1)
	deadline := time.Now().Add(20 * time.Second)
	for s.adm.body.Load() != want {
		if time.Now().After(deadline) {
			t.Fatalf("reserved %d body bytes, want %d", s.adm.body.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantAdmissionProblem(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp == nil {
		t.Fatalf("no response, want %d %s", status, code)
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != api.MediaProblem || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s Retry-After %q, want %d problem %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), status, code)
	}
}

// An un-attested HTTP/2 connection runs MaxUnattestedStreams requests at
// once; the next is answered 429 (the connection stays usable).
func TestAdmissionStreamLimit(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.MaxUnattestedStreams = 2 })
	stalledPost(t, s, cl)
	stalledPost(t, s, cl)
	waitReserved(t, s, 2)
	resp, err := cl.Post("https://"+s.cfg.Addr+"/v1/attest", "application/octet-stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p api.Problem
	json.NewDecoder(resp.Body).Decode(&p)
	wantAdmissionProblem(t, resp, http.StatusTooManyRequests, "server.too_many_streams")
	if p.Code != "server.too_many_streams" {
		t.Fatalf("problem %+v", p)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
}

// A connection that keeps opening streams past the limit is closed after
// maxRefusals refusals: the next refusal asks for the close (GOAWAY
// over HTTP/2), and its detail says so.
func TestAdmissionStreamRefusalsClose(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.MaxUnattestedStreams = 1 })
	stalledPost(t, s, cl)
	waitReserved(t, s, 1)
	postRefusals(t, s, cl, func() io.Reader { return nil }, http.StatusTooManyRequests, "server.too_many_streams", "the connection is closed")
}

// postRefusals posts maxRefusals+1 requests that admission refuses with
// status and code, and checks that only the last one's detail announces the
// close (closeText).
func postRefusals(t *testing.T, s *Server, cl *http.Client, body func() io.Reader, status int, code, closeText string) {
	t.Helper()
	for i := 1; i <= maxRefusals+1; i++ {
		resp, err := cl.Post("https://"+s.cfg.Addr+"/v1/attest", "application/octet-stream", body())
		if err != nil {
			t.Fatalf("refusal %d: %v", i, err)
		}
		var p api.Problem
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		wantAdmissionProblem(t, resp, status, code)
		if closing := strings.Contains(p.Detail, closeText); closing != (i > maxRefusals) {
			t.Fatalf("refusal %d: detail %q", i, p.Detail)
		}
	}
}

// Bodies are read only into reserved budget: past it, 503 server.busy.
func TestAdmissionBodyBudget(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.MaxBodyBuffer = 2*(maxAuthBody+1) + 100 })
	stalledPost(t, s, cl)
	stalledPost(t, s, cl)
	waitReserved(t, s, 2)
	third := stalledPost(t, s, cl)
	resp := <-third
	wantAdmissionProblem(t, resp, http.StatusServiceUnavailable, "server.busy")
	if s.adm.body.Load() != 2*(maxAuthBody+1) {
		t.Fatalf("reserved %d after a refusal", s.adm.body.Load())
	}
}

// Busy refusals count against an un-attested connection like stream
// refusals: past maxRefusals of them, the answer asks for the close.
func TestAdmissionBusyRefusalsClose(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.MaxBodyBuffer = maxAuthBody + 1; c.MaxUnattestedStreams = 100 })
	stalledPost(t, s, cl)
	waitReserved(t, s, 1)
	s.adm.mu.Lock()
	ac := s.adm.byAddr[netip.MustParseAddr("127.0.0.1")][0]
	s.adm.mu.Unlock()
	// Bodies of unknown length: reserved at the endpoint's limit.
	unknownLength := func() io.Reader { return io.MultiReader(strings.NewReader("x")) }
	postRefusals(t, s, cl, unknownLength, http.StatusServiceUnavailable, "server.busy", "this one is closed")
	if n := ac.refusals.Load(); n != maxRefusals+1 {
		t.Fatalf("the connection counted %d refusals, want %d", n, maxRefusals+1)
	}
}

// A small declared body is read from the small-body allowance: large
// bodies that fill the budget do not keep it out.
func TestAdmissionSmallBodyBesideFullBudget(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.MaxBodyBuffer = maxAuthBody + 1 })
	stalledPost(t, s, cl)
	waitReserved(t, s, 1)
	stalledPostLen(t, s, cl, 1000)
	deadline := time.Now().Add(20 * time.Second)
	for s.adm.small.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("small bodies being read: %d, want 1", s.adm.small.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.adm.body.Load(); got != maxAuthBody+1 {
		t.Fatalf("budget %d, want only the large body's %d", got, maxAuthBody+1)
	}
	// Past the allowance, a small body falls back to the (full) budget.
	s.adm.small.Add(s.adm.smallBodies)
	resp := <-stalledPostLen(t, s, cl, 1000)
	wantAdmissionProblem(t, resp, http.StatusServiceUnavailable, "server.busy")
}

// An un-attested connection's request body is due by its attestation
// deadline: a body still arriving then fails (400 body_unreadable) instead
// of holding its reservation for the 30 s read timeout.
func TestAdmissionBodyDueByDeadline(t *testing.T) {
	s, cl := startInternal(t, func(c *Config) { c.UnattestedTimeout = 300 * time.Millisecond })
	resp := <-stalledPost(t, s, cl)
	if resp == nil {
		// The connection may be closed before the answer is read: then
		// the reservation must be gone all the same.
		waitReserved(t, s, 0)
		return
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 server.body_unreadable", resp.StatusCode)
	}
	waitReserved(t, s, 0)
}
