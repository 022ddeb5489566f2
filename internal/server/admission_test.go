package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	dto "github.com/prometheus/client_model/go"
	"github.com/seatrx/seatrx/internal/fdlimit"

	"github.com/seatrx/seatrx/internal/api"
)

// fakeConn is a net.Conn from a chosen address that records its closing.
type fakeConn struct {
	net.Conn
	remote net.Addr
	closed chan struct{}
}

func newFakeConn(ip string) *fakeConn {
	a, _ := net.Pipe()
	return &fakeConn{Conn: a, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, closed: make(chan struct{})}
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error {
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return c.Conn.Close()
}
func (c *fakeConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

func refusals(a *admission, reason string) float64 {
	var m dto.Metric
	a.refusals.WithLabelValues(reason).Write(&m)
	return m.GetCounter().GetValue()
}

func testAdmission(t *testing.T, mod func(*Config)) *admission {
	cfg := &Config{MaxUnattestedConns: 4, MaxUnattestedPerAddr: 3, UnattestedTimeout: time.Hour, MaxUnattestedStreams: 2,
		MaxAttestedConns: 1, MaxBodyBuffer: 1000}
	if mod != nil {
		mod(cfg)
	}
	a := newAdmission(cfg, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, cs := range a.byAddr {
			for _, c := range cs {
				c.timer.Stop()
			}
		}
	})
	return a
}

// The accept rules: per-address bound, total bound with eviction from the
// busiest address, and the 503 allowance past both.
func TestAdmit(t *testing.T) {
	a := testAdmission(t, nil)
	var attacker []*fakeConn
	for i := range 3 {
		c := newFakeConn("127.0.0.2")
		ac := a.admit(c)
		if ac == nil || ac.state != stateUnattested {
			t.Fatalf("attacker conn %d not admitted", i)
		}
		attacker = append(attacker, c)
	}
	// A fourth from the same address is over its bound: kept to be answered 503.
	if ac := a.admit(newFakeConn("127.0.0.2")); ac == nil || ac.state != stateOverflow || ac.reason != reasonAddressCap {
		t.Fatalf("4th from one address: %+v", ac)
	}
	// Another address fills the total (4).
	if ac := a.admit(newFakeConn("127.0.0.3")); ac == nil || ac.state != stateUnattested {
		t.Fatal("127.0.0.3 not admitted")
	}
	// The total is reached: a newcomer from a quiet address evicts the
	// oldest connection of the busiest one.
	legit := a.admit(newFakeConn("127.0.0.1"))
	if legit == nil || legit.state != stateUnattested {
		t.Fatalf("newcomer not admitted: %+v", legit)
	}
	if !attacker[0].isClosed() || attacker[1].isClosed() {
		t.Fatalf("evicted: oldest %v, next %v; want the oldest only", attacker[0].isClosed(), attacker[1].isClosed())
	}
	if u, _, o := a.counts(); u != 4 || o != 1 {
		t.Fatalf("counts: unattested %d, overflow %d; want 4, 1", u, o)
	}
	// Now 2, 1, 1: a newcomer from 127.0.0.3 (would hold 2) does not evict
	// from an address holding 2: it is answered 503.
	if ac := a.admit(newFakeConn("127.0.0.3")); ac == nil || ac.state != stateOverflow || ac.reason != reasonUnattestedCap {
		t.Fatalf("newcomer from an address as busy as the busiest: %+v", ac)
	}
	// Attesting frees the un-attested slot and takes an attested one.
	legit.attested()
	if u, at, _ := a.counts(); u != 3 || at != 1 {
		t.Fatalf("after attesting: unattested %d, attested %d", u, at)
	}
	// Closing releases it once, however often it is closed.
	legit.Close()
	legit.Close()
	if u, at, _ := a.counts(); u != 3 || at != 0 {
		t.Fatalf("after closing: unattested %d, attested %d", u, at)
	}
	if got := refusals(a, reasonEvicted); got != 1 {
		t.Errorf("evictions counted %v, want 1", got)
	}
}

// Past maxOverflowConns, connections are held unread (then closed at
// their time), and past the hold closed at accept.
func TestAdmitOverflowFull(t *testing.T) {
	a := testAdmission(t, func(c *Config) { c.MaxUnattestedConns = 1; c.MaxUnattestedPerAddr = 1 })
	a.admit(newFakeConn("127.0.0.2"))
	for range maxOverflowConns {
		if ac := a.admit(newFakeConn("127.0.0.2")); ac == nil || ac.state != stateOverflow {
			t.Fatal("overflow allowance refused early")
		}
	}
	// Past it, connections are held unread, as many as the hold allows.
	a.held.limit = 2
	var held []*fakeConn
	for range 2 {
		c := newFakeConn("127.0.0.2")
		if ac := a.admit(c); ac != nil || c.isClosed() {
			t.Fatal("connection past the overflow allowance not held")
		}
		held = append(held, c)
	}
	if n := a.held.count(); n != 2 {
		t.Fatalf("%d connections held, want 2", n)
	}
	// Past the hold too, closed at accept.
	c := newFakeConn("127.0.0.2")
	if ac := a.admit(c); ac != nil || !c.isClosed() {
		t.Fatal("connection past the overflow allowance and the hold not closed at accept")
	}
	if got := refusals(a, reasonOverflowFull); got != 1 {
		t.Errorf("overflow_full counted %v, want 1", got)
	}
	// Their time up, the held connections are closed.
	a.held.mu.Lock()
	for i := range a.held.q {
		a.held.q[i].until = time.Now()
	}
	a.held.mu.Unlock()
	a.held.expire(a)
	if !held[0].isClosed() || !held[1].isClosed() || a.held.count() != 0 {
		t.Fatal("held connections not closed at their time")
	}
	if got := refusals(a, reasonHeld); got != 2 {
		t.Errorf("held counted %v, want 2", got)
	}
	// Shutdown closes what is held, and holds no more.
	a.held.limit = 10
	late := newFakeConn("127.0.0.2")
	a.admit(late)
	a.held.closeAll()
	after := newFakeConn("127.0.0.2")
	if a.admit(after); !late.isClosed() || !after.isClosed() {
		t.Fatal("after closeAll: a held connection is still open, or a new one was held")
	}
}

// The hold leaves room in the open-file limit for the other bounds.
func TestHoldLimit(t *testing.T) {
	a := testAdmission(t, nil)
	soft := fdlimit.Soft()
	want := maxHeldConns
	if soft > 0 {
		want = int(max(0, min(int64(soft)-int64(4+1+maxOverflowConns+heldFileReserve), maxHeldConns)))
	}
	if got := a.holdLimit(); got != want {
		t.Fatalf("hold limit %d with an open-file limit of %d, want %d", got, soft, want)
	}
}

// The deadline closes an idle un-attested connection, and waits for a
// request in flight.
func TestExpire(t *testing.T) {
	a := testAdmission(t, nil)
	idle := newFakeConn("127.0.0.2")
	ac := a.admit(idle)
	ac.expire()
	if !idle.isClosed() {
		t.Fatal("idle un-attested connection not closed at its deadline")
	}
	busy := newFakeConn("127.0.0.2")
	bc := a.admit(busy)
	bc.inflight.Add(1)
	bc.expire()
	if busy.isClosed() || !bc.expired.Load() {
		t.Fatal("connection with a request in flight closed at once, or not marked expired")
	}
	bc.inflight.Add(-1)
	bc.expire() // the recheck
	if !busy.isClosed() {
		t.Fatal("expired connection not closed once idle")
	}
	att := newFakeConn("127.0.0.2")
	atc := a.admit(att)
	atc.attested()
	atc.expire()
	if att.isClosed() {
		t.Fatal("attested connection closed by the un-attested deadline")
	}
	if u, _, _ := a.counts(); u != 0 {
		t.Fatalf("unattested count %d, want 0", u)
	}
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) api.Problem {
	t.Helper()
	var p api.Problem
	if ct := rec.Header().Get("Content-Type"); ct != api.MediaProblem {
		t.Fatalf("content type %q, body %q", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// The per-request rules: 503 on a connection over a bound, 408 after the
// deadline, 429 past the stream limit until attested, 503 over the body
// budget; each a problem with the headers it promises.
func TestAdmissionHandler(t *testing.T) {
	a := testAdmission(t, nil)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := readBody(w, r, 600); ok {
			w.WriteHeader(http.StatusNoContent)
		}
	})
	h := a.handler(next)
	serve := func(ac *admConn, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/attest", strings.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), connKey{}, &conn{ac: ac}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	tests := []struct {
		name       string
		setup      func() *admConn
		body       string
		status     int
		code       string
		retryAfter string
		closing    bool
	}{
		{"admitted", func() *admConn { return a.admit(newFakeConn("127.0.0.4")) }, "x", 204, "", "", false},
		{"over the per-address bound", func() *admConn {
			return &admConn{a: a, state: stateOverflow, reason: reasonAddressCap}
		}, "x", 503, "server.too_many_from_address", "2", true},
		{"over the total", func() *admConn {
			return &admConn{a: a, state: stateOverflow, reason: reasonUnattestedCap}
		}, "x", 503, "server.too_many_connections", "2", true},
		{"after the deadline", func() *admConn {
			ac := a.admit(newFakeConn("127.0.0.5"))
			ac.expired.Store(true)
			return ac
		}, "x", 408, "server.attestation_deadline", "", true},
		{"past the stream limit", func() *admConn {
			ac := a.admit(newFakeConn("127.0.0.6"))
			ac.inflight.Store(2)
			return ac
		}, "x", 429, "server.too_many_streams", "1", false},
		{"attested: no stream limit", func() *admConn {
			ac := a.admit(newFakeConn("127.0.0.7"))
			ac.inflight.Store(2)
			ac.attested()
			return ac
		}, "x", 204, "", "", false},
		{"small body beside a full budget", func() *admConn {
			a.body.Store(1000) // a small body is read from the small-body allowance
			return &admConn{a: a, state: stateAttested}
		}, strings.Repeat("x", 550), 204, "", "", false},
		{"over the body budget", func() *admConn {
			a.small.Store(a.smallBodies) // the small-body allowance is used up
			a.body.Store(500)            // others hold 500 of 1000; this body reserves 551
			return a.admit(newFakeConn("127.0.0.8"))
		}, strings.Repeat("x", 550), 503, "server.busy", "1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a.body.Store(0)
			a.small.Store(0)
			rec := serve(tc.setup(), tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			if tc.code != "" {
				if p := problemOf(t, rec); p.Code != tc.code || p.Detail == "" {
					t.Fatalf("problem %+v, want %s with a detail", p, tc.code)
				}
			}
			if got := rec.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if got := rec.Header().Get("Connection") == "close"; got != tc.closing {
				t.Errorf("Connection: close %v, want %v", got, tc.closing)
			}
			switch tc.name {
			case "over the body budget":
			case "small body beside a full budget":
				if a.small.Load() != 0 || a.body.Load() != 1000 {
					t.Errorf("after the request: %d small bodies, %d budget bytes; want 0, 1000", a.small.Load(), a.body.Load())
				}
			default:
				if a.body.Load() != 0 || a.small.Load() != 0 {
					t.Errorf("%d body bytes, %d small bodies still reserved after the request", a.body.Load(), a.small.Load())
				}
			}
		})
	}
}

// net/http's messages about a peer's failed handshake go to DEBUG, the
// rest to WARN.
func TestErrorLogLevels(t *testing.T) {
	var buf strings.Builder
	w := errorLogWriter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, tc := range []struct{ msg, level string }{
		{"http: TLS handshake error from 127.0.0.2:1: EOF\n", "DEBUG"},
		{"http2: server: error reading preface from client 127.0.0.2:1: EOF\n", "DEBUG"},
		{"http: Accept error: too many open files; retrying in 5ms\n", "WARN"},
	} {
		buf.Reset()
		w.Write([]byte(tc.msg))
		if !strings.Contains(buf.String(), "level="+tc.level) {
			t.Errorf("%q logged as %q, want %s", tc.msg, buf.String(), tc.level)
		}
	}
}

// IPv6 peers count by /64; IPv4 (also mapped into IPv6) by address.
func TestAddrOf(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"127.0.0.2", "127.0.0.2"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"2001:db8:1:2::1", "2001:db8:1:2::"},
		{"2001:db8:1:3::1", "2001:db8:1:3::"},
	} {
		if got := addrOf(newFakeConn(tc.remote)).String(); got != tc.want {
			t.Errorf("addrOf(%s) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

// An attested connection is closed after AttestedIdleTimeout without a
// request; one with a request in flight is not.
func TestAttestedIdle(t *testing.T) {
	a := testAdmission(t, func(c *Config) { c.AttestedIdleTimeout = 20 * time.Millisecond; c.MaxAttestedConns = 2 })
	idle, busy := newFakeConn("127.0.0.2"), newFakeConn("127.0.0.3")
	a.admit(idle).attested()
	bc := a.admit(busy)
	bc.attested()
	bc.inflight.Add(1)
	deadline := time.Now().Add(10 * time.Second)
	for !idle.isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !idle.isClosed() || busy.isClosed() {
		t.Fatalf("idle closed %v, busy closed %v; want only the idle one", idle.isClosed(), busy.isClosed())
	}
	if _, at, _ := a.counts(); at != 1 {
		t.Fatalf("%d attested connections counted, want 1", at)
	}
	if got := refusals(a, reasonIdle); got != 1 {
		t.Errorf("attested_idle counted %v, want 1", got)
	}
	// Its request over, the busy one goes idle too, and the sweep ends.
	bc.inflight.Add(-1)
	for !busy.isClosed() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for time.Now().Before(deadline) {
		a.mu.Lock()
		sweeping := a.sweeping
		a.mu.Unlock()
		if !sweeping {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the idle sweep still runs with no attested connection")
}
