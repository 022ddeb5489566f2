package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

// holdConn opens a TLS connection from src (a loopback address) and sends
// nothing: an idle un-attested peer.
func (e *env) holdConn(t *testing.T, src string) *tls.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	raw, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, tlsbind.ClientConfig(e.roots, "127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		t.Fatalf("handshake from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// getFrom sends GET path on a new connection from src.
func (e *env) getFrom(t *testing.T, src, path string) (*http.Response, []byte) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   tlsbind.ClientConfig(e.roots, "127.0.0.1"),
		ForceAttemptHTTP2: true,
		DialContext:       (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := cl.Get("https://" + e.addr + path)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, src, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func wantRefusal(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	var p api.Problem
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != api.MediaProblem || json.Unmarshal(body, &p) != nil || p.Code != code {
		t.Fatalf("got %d %s %q, want %d problem %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, status, code)
	}
	if p.Detail == "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("refusal %s without a detail or Retry-After: %+v %v", code, p, resp.Header)
	}
}

// waitClosed reads c until the server closes it (bounded: 20 s).
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server did not close the connection")
	}
}

// An un-attested connection that sends nothing is closed at its deadline;
// an attested one stays open past it. (The deadline is long enough for the
// attestation to finish first on a busy machine; TestExpire covers the
// rule itself without a clock.)
func TestAdmissionDeadline(t *testing.T) {
	e := start(t, func(c *server.Config) { c.UnattestedTimeout = 3 * time.Second })
	ctx := context.Background()
	att := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := att.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	idle := e.holdConn(t, "127.0.0.2")
	waitClosed(t, idle) // the deadline has passed for both
	if _, err := att.RequestReceipt(ctx, map[string]any{"op": "after the deadline"}, ""); err != nil {
		t.Fatalf("attested connection after the un-attested deadline: %v", err)
	}
}

// Over a bound, the first request is answered 503 with a problem and
// Retry-After; one address cannot keep another out of the total.
func TestAdmissionCapacity(t *testing.T) {
	e := start(t, func(c *server.Config) { c.MaxUnattestedConns = 3; c.MaxUnattestedPerAddr = 2 })
	e.holdConn(t, "127.0.0.2")
	e.holdConn(t, "127.0.0.2")
	resp, body := e.getFrom(t, "127.0.0.2", "/healthz")
	wantRefusal(t, resp, body, http.StatusServiceUnavailable, "server.too_many_from_address")

	e.holdConn(t, "127.0.0.3") // the total (3) is reached: 2 + 1
	// A newcomer from a quiet address evicts from the busiest (127.0.0.2).
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, _, err := c.AttestAndIssue(context.Background(), map[string]any{"op": "admitted"}, ""); err != nil {
		t.Fatalf("session from a quiet address while the total is reached: %v", err)
	}
	// Now 1 (127.0.0.2) + 1 (127.0.0.3); fill to 3 from 127.0.0.4, then a
	// newcomer from 127.0.0.5 finds no address busier than it would be.
	e.holdConn(t, "127.0.0.4")
	resp, body = e.getFrom(t, "127.0.0.5", "/healthz")
	wantRefusal(t, resp, body, http.StatusServiceUnavailable, "server.too_many_connections")
}

// A legitimate session succeeds while hundreds of idle connections from
// other addresses hold more than the un-attested bound.
func TestAdmissionLegitUnderIdleConns(t *testing.T) {
	const held, perAddr = 300, 60
	e := start(t, func(c *server.Config) { c.MaxUnattestedConns = 200 })
	if n := openFiles(); n > 0 && n < 3*held {
		t.Skipf("open-file limit %d is too low for %d held connections (both ends)", n, held)
	}
	var conns []net.Conn
	for i := range held {
		src := fmt.Sprintf("127.0.0.%d", 2+i/perAddr)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		raw, err := d.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		c := tls.Client(raw, tlsbind.ClientConfig(e.roots, "127.0.0.1"))
		c.Handshake() // past the bounds, the server may close it
		conns = append(conns, c)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	ctx := context.Background()
	for i := range 3 {
		c := e.dial(t, e.tdx(sim.TDXGuestConfig{}))
		if _, _, err := c.AttestAndIssue(ctx, map[string]any{"op": "legit", "i": i}, ""); err != nil {
			t.Fatalf("legitimate session %d with %d idle connections held: %v", i, held, err)
		}
		c.Close()
	}
}

func openFiles() int {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0
	}
	var n int
	for _, line := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(line, "Max open files %d", &n); err == nil {
			return n
		}
	}
	return 0
}

// An address whose connections keep running into the deadline is
// penalized: its next connection gets no handshake (held unread, then
// closed), while another address's session succeeds.
func TestAdmissionPenalized(t *testing.T) {
	// 32 strikes (the cap) decay to the penalty's end in 2.1 deadlines:
	// 6 s for the held connection below to be dialled.
	const idle = 32
	e := start(t, func(c *server.Config) { c.UnattestedTimeout = 3 * time.Second })
	var conns []*tls.Conn
	for range idle {
		conns = append(conns, e.holdConn(t, "127.0.0.2"))
	}
	for _, c := range conns {
		waitClosed(t, c)
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 10 * time.Second}
	raw, err := d.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	held := tls.Client(raw, tlsbind.ClientConfig(e.roots, "127.0.0.1"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := held.HandshakeContext(ctx); err == nil {
		t.Fatalf("handshake from an address whose %d connections ran into the deadline: succeeded, want held and closed", idle)
	}
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, _, err := c.AttestAndIssue(context.Background(), map[string]any{"op": "beside a penalized address"}, ""); err != nil {
		t.Fatalf("session from another address: %v", err)
	}
}
