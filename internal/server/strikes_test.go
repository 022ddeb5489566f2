package server

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// fakeClock is a settable time for strikes.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// count is how many addresses are tracked.
func (st *strikes) count() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.m)
}

func TestStrikes(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	st := newStrikes(10 * time.Second)
	st.now = clk.now
	bad, good := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")

	for i := range penaltyStrikes - 1 {
		if now, _ := st.add(bad); now || st.penalized(bad) {
			t.Fatalf("penalized after %d strikes, want from %d", i+1, penaltyStrikes)
		}
	}
	// The strike that penalizes says so, once.
	if now, score := st.add(bad); !now || score != penaltyStrikes || !st.penalized(bad) {
		t.Fatalf("strike %d: penalized now %v, score %v", penaltyStrikes, now, score)
	}
	if now, _ := st.add(bad); now {
		t.Fatal("a strike against an address already penalized reported it newly penalized")
	}
	if st.penalized(good) {
		t.Fatal("an address without strikes is penalized")
	}
	// The score halves every half-life: 9 is 4.5 after 10 s.
	clk.t = clk.t.Add(10 * time.Second)
	if st.penalized(bad) {
		t.Fatal("still penalized one half-life later with a score of 9")
	}
	// The score is capped: however many strikes, 2.1 half-lives end it
	// (32 halves to 7.5 in 2.09).
	for range 1000 {
		st.add(bad)
	}
	clk.t = clk.t.Add(20 * time.Second)
	if !st.penalized(bad) {
		t.Fatal("penalty over before two half-lives from the cap")
	}
	clk.t = clk.t.Add(time.Second)
	if st.penalized(bad) {
		t.Fatalf("penalty lasts past 2.1 half-lives from the cap (%d)", maxStrikeScore)
	}
	// An invalid address (a connection whose address did not parse) is
	// not tracked.
	st.add(netip.Addr{})
	if st.count() != 1 {
		t.Fatalf("%d addresses tracked, want 1", st.count())
	}
}

// The addresses tracked are bounded: past the bound, decayed ones are
// forgotten (at most once per strikeSweep) and new ones wait for room.
func TestStrikesBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	st := newStrikes(time.Second)
	st.now = clk.now
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := range maxStrikeAddrs {
		st.add(addr(i))
	}
	newcomer := addr(maxStrikeAddrs)
	for range penaltyStrikes {
		st.add(newcomer)
	}
	if st.count() != maxStrikeAddrs || st.penalized(newcomer) {
		t.Fatalf("past the bound: %d tracked, newcomer penalized %v; want %d, false", st.count(), st.penalized(newcomer), maxStrikeAddrs)
	}
	// Once the others' scores decay below 1, they are forgotten.
	clk.t = clk.t.Add(2 * time.Second)
	for range penaltyStrikes {
		st.add(newcomer)
	}
	if st.count() != 1 || !st.penalized(newcomer) {
		t.Fatalf("after decay: %d tracked, newcomer penalized %v; want 1, true", st.count(), st.penalized(newcomer))
	}
}

// Admission: an address whose connections keep running into the deadline
// is held unread (no handshake); another address is not affected.
func TestAdmitPenalized(t *testing.T) {
	a := testAdmission(t, func(c *Config) { c.MaxUnattestedConns = 100; c.MaxUnattestedPerAddr = 100 })
	var log bytes.Buffer
	a.log = slog.New(slog.NewTextHandler(&log, nil))
	for range penaltyStrikes {
		ac := a.admit(newFakeConn("127.0.0.2"))
		if ac == nil {
			t.Fatal("connection refused before its address has strikes")
		}
		ac.expire() // its deadline, un-attested
	}
	if got := refusals(a, reasonDeadline); got != penaltyStrikes {
		t.Fatalf("deadline closes counted %v, want %d", got, penaltyStrikes)
	}
	c := newFakeConn("127.0.0.2")
	if ac := a.admit(c); ac != nil || c.isClosed() || a.held.count() != 1 {
		t.Fatalf("penalized address: admitted %v, closed %v, held %d; want held", ac != nil, c.isClosed(), a.held.count())
	}
	if ac := a.admit(newFakeConn("127.0.0.1")); ac == nil || ac.state != stateUnattested {
		t.Fatal("an address without strikes is not admitted")
	}
	// One log line says which address was penalized.
	if lines := strings.Count(log.String(), "address penalized"); lines != 1 || !strings.Contains(log.String(), "address=127.0.0.2 strikes=8") {
		t.Fatalf("log %q: want one line naming address 127.0.0.2 with 8 strikes", log.String())
	}
	a.held.closeAll()
	a.held.mu.Lock()
	a.held.closed = false
	a.held.mu.Unlock()

	// Refusals: the connection closed after maxRefusals is one strike, not
	// one per refusal.
	ac := a.admit(newFakeConn("127.0.0.3"))
	rs := &reqState{a: a, ac: ac}
	for range 3 * maxRefusals {
		rs.refusedOnce()
	}
	if s := a.strikes.m[ac.addr].score; s != 1 {
		t.Fatalf("score after one connection refused %d times: %v, want 1", 3*maxRefusals, s)
	}
}
