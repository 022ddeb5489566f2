package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seatrx/seatrx/internal/fdlimit"
)

// Admission: which connections the server keeps, for how long, and how it
// refuses the rest. docs/OPERATIONS.md ("Admission and hostile load") is
// the reader's account of these rules and numbers.
//
//   - An accepted connection is un-attested until an attestation on it is
//     recorded. Un-attested connections are bounded in total
//     (MaxUnattestedConns) and per source address (MaxUnattestedPerAddr),
//     and each has UnattestedTimeout from accept to attest: then it is
//     closed (once its requests in flight, if any, end; a request that
//     starts after the deadline is refused with 408
//     server.attestation_deadline).
//   - When the total is reached, a newcomer whose address holds fewer
//     un-attested connections than the address holding the most evicts
//     that address's oldest one: no address, however many connections it
//     opens, keeps another out.
//   - Otherwise a connection over a bound still gets its TLS handshake and
//     its first request answered: 503 server.too_many_connections (or
//     server.too_many_from_address) with Retry-After, and the connection is
//     closed (HTTP/1.1 Connection: close; HTTP/2 GOAWAY). At most
//     maxOverflowConns such connections are kept at once, each at most
//     overflowTimeout. Past that a connection gets no handshake (spending
//     one on every refused connection would give a flood the server's
//     CPU): it is held unread for UnattestedTimeout, then closed (at most
//     maxHeldConns at once, fewer if the open-file limit is short), so that
//     a flood's connections wait out a timeout instead of coming back at
//     once; past that too, it is closed at accept. Only the busiest
//     addresses get here: a connection from a less busy one evicts.
//   - An address whose connections the server keeps having to end (closed
//     at the deadline un-attested, closed after maxRefusals, answered 503
//     over a bound or closed without a request, held, closed at accept)
//     collects strikes; from penaltyStrikes close together it is
//     penalized, and its new connections are held unread from the start
//     (strikes.go): a flood's addresses no longer get a handshake and a
//     round of refusals each time they come back.
//   - An un-attested connection runs at most MaxUnattestedStreams requests
//     at once (HTTP/2 streams); more get 429 server.too_many_streams. Its
//     request bodies must arrive before its deadline (the read fails then:
//     400 server.body_unreadable), and after maxRefusals refusals (429 or
//     503 server.busy) it is closed.
//   - Request bodies are read only into bytes reserved for as long as the
//     request runs: a body declared at most smallBody bytes from the
//     smallBodies allowance (MaxUnattestedConns x MaxUnattestedStreams
//     such bodies, enough for every un-attested stream at once, so that
//     no flood of large bodies can keep a small attestation out), any
//     other from a server-wide budget (MaxBodyBuffer); over it, 503
//     server.busy with Retry-After.
//   - Attested connections have their own bound (MaxAttestedConns, checked
//     when an attestation starts: 503 server.too_many_connections) and idle
//     timeout (AttestedIdleTimeout: closed once no request has run on them
//     for that long, looked at every idleSweep). The idle timeout is ours,
//     not net/http's (whose IdleTimeout is off): Go's HTTP/2 server arms a
//     timer of that length on every connection, and a stopped timer kept
//     the whole connection (buffers, streams) in memory until it would
//     have fired; with 2 minutes, the h2-streams scenario of seatrx bench
//     left 70-200 MB in the heap for 2 minutes after the attack.
//
// Every refusal is counted in seatrx_admission_refusals_total by reason.

// Defaults of the admission settings (Config fields of the same names).
const (
	DefaultMaxUnattestedConns   = 1024
	DefaultMaxUnattestedPerAddr = 64
	DefaultUnattestedTimeout    = 10 * time.Second
	DefaultMaxUnattestedStreams = 4
	DefaultMaxAttestedConns     = 4096
	DefaultAttestedIdleTimeout  = 2 * time.Minute
	DefaultMaxBodyBuffer        = 64 << 20
)

// Fixed admission numbers.
const (
	// maxOverflowConns bounds the connections kept only to be answered
	// 503 (over a connection bound).
	maxOverflowConns = 64
	// overflowTimeout is how long such a connection may take to send its
	// first request.
	overflowTimeout = 5 * time.Second
	// maxHeldConns bounds the connections held unread (past every other
	// allowance); heldFileReserve is the open files kept out of that
	// bound's reach for everything else (the other bounds, the store).
	maxHeldConns    = 16384
	heldFileReserve = 1024
	// heldBatch is the least time between two closings of held
	// connections (a held connection may stay up to this much longer).
	heldBatch = 100 * time.Millisecond
	// idleSweep is how often attested connections are looked at for
	// AttestedIdleTimeout (at most; a quarter of the timeout if shorter).
	idleSweep = time.Second
	// expiredRecheck is how often a connection past its deadline with
	// requests in flight is looked at again.
	expiredRecheck = time.Second
	// retryAfterConns and retryAfterBusy are the Retry-After seconds of
	// the connection refusals and of the stream and body-budget refusals.
	retryAfterConns = 2
	retryAfterBusy  = 1
	// http2MaxStreams is SETTINGS_MAX_CONCURRENT_STREAMS for every
	// connection (the handler path bounds un-attested ones further). The
	// API is one conversation per connection (a client has at most a few
	// requests in flight); at 100, the h2-streams scenario of seatrx bench
	// kept the server busy answering 22,000 refused streams a second.
	http2MaxStreams = 16
	// maxPenaltyLines bounds the "address penalized" log lines a second
	// (a flood from many addresses would otherwise write one each).
	maxPenaltyLines = 20
	// maxRefusals is how many requests of an un-attested connection may be
	// refused (too_many_streams, busy) before it is closed (GOAWAY over
	// HTTP/2): a client that keeps opening streams past a limit is not
	// waiting for its answers, and its refusals would otherwise cost the
	// server without end (the h2-streams scenario of seatrx bench, with
	// busy refusals not counted, had the server answer 22,000 a second).
	maxRefusals = 16
	// smallBody is the largest declared body read from the small-body
	// allowance instead of the MaxBodyBuffer budget; it holds any
	// authenticator the simulated and recorded SNP and TDX evidence makes
	// (5-11 KB) with room to spare.
	smallBody = 32 << 10
	// http2ConnBuffer and http2StreamBuffer bound what an HTTP/2 peer may
	// send ahead of the handlers (flow-control windows; 64 KiB is the
	// least net/http takes). With Go's default (1 MiB per connection), the
	// h2-streams scenario of seatrx bench held the server above 600 MB
	// in data its handlers had not read yet; a body larger than the window
	// only takes a few more window updates.
	http2ConnBuffer   = 64 << 10
	http2StreamBuffer = 64 << 10
)

// Reasons of seatrx_admission_refusals_total.
const (
	reasonUnattestedCap = "unattested_cap"   // over MaxUnattestedConns: answered 503
	reasonAddressCap    = "address_cap"      // over MaxUnattestedPerAddr: answered 503
	reasonAttestedCap   = "attested_cap"     // attestation started over MaxAttestedConns: 503
	reasonEvicted       = "evicted"          // closed to admit a connection from a less busy address
	reasonOverflowFull  = "overflow_full"    // closed at accept: too many connections waiting for their 503, and too many held
	reasonHeld          = "held"             // held unread past every allowance, then closed
	reasonPenalized     = "penalized"        // its address penalized (strikes.go): held unread, then closed (DTLS: closed at once)
	reasonIdle          = "attested_idle"    // attested, closed after AttestedIdleTimeout without a request
	reasonNoRequest     = "no_request"       // over a bound, closed without sending a request within overflowTimeout
	reasonDeadline      = "deadline"         // closed: not attested within UnattestedTimeout
	reasonLateRequest   = "late_request"     // request after the deadline: 408
	reasonStreams       = "streams"          // over MaxUnattestedStreams: 429
	reasonBodyBudget    = "body_budget"      // over MaxBodyBuffer: 503
	reasonDTLSCap       = "dtls_cap"         // a DTLS connection past MaxUnattestedConns DTLS connections: closed (dtls.go)
	reasonDTLSAddrCap   = "dtls_address_cap" // a DTLS connection past MaxUnattestedPerAddr from its address: closed (dtls.go)
)

type connState uint8

const (
	stateUnattested connState = iota
	stateAttested
	stateOverflow // over a bound: its requests are answered 503
	stateClosed
)

// admission holds the counts behind the rules above.
type admission struct {
	maxUnattested, perAddr, maxStreams, maxAttested int
	timeout, idle                                   time.Duration
	maxBody                                         int64

	mu         sync.Mutex
	unattested int
	byAddr     map[netip.Addr][]*admConn // un-attested connections per address, oldest first
	overflow   int
	attested   map[*admConn]struct{}
	sweeping   bool // sweepIdle runs

	held       heldConns
	strikes    *strikes
	log        *slog.Logger
	penaltyLog logLimiter // "address penalized" lines

	body        atomic.Int64 // request-body bytes reserved from maxBody
	small       atomic.Int64 // small bodies being read (smallBody each)
	smallBodies int64        // the small-body allowance

	refusals *prometheus.CounterVec
}

func newAdmission(cfg *Config, reg *prometheus.Registry, log *slog.Logger) *admission {
	a := &admission{
		log: log, penaltyLog: logLimiter{max: maxPenaltyLines},
		maxUnattested: cfg.MaxUnattestedConns, perAddr: cfg.MaxUnattestedPerAddr, maxStreams: cfg.MaxUnattestedStreams,
		maxAttested: cfg.MaxAttestedConns, timeout: cfg.UnattestedTimeout, idle: cfg.AttestedIdleTimeout, maxBody: cfg.MaxBodyBuffer,
		attested:    map[*admConn]struct{}{},
		byAddr:      map[netip.Addr][]*admConn{},
		held:        heldConns{limit: -1},
		strikes:     newStrikes(cfg.UnattestedTimeout),
		smallBodies: int64(cfg.MaxUnattestedConns) * int64(cfg.MaxUnattestedStreams),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "seatrx_admission_refusals_total",
			Help: "Connections and requests refused by admission, by reason (docs/OPERATIONS.md).",
		}, []string{"reason"}),
	}
	for _, r := range []string{reasonUnattestedCap, reasonAddressCap, reasonAttestedCap, reasonEvicted, reasonOverflowFull,
		reasonHeld, reasonPenalized, reasonIdle, reasonNoRequest, reasonDeadline, reasonLateRequest, reasonStreams, reasonBodyBudget, reasonDTLSCap, reasonDTLSAddrCap} {
		a.refusals.WithLabelValues(r)
	}
	reg.MustRegister(a.refusals, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "seatrx_request_body_reserved_bytes", Help: "Request-body bytes reserved from the --max-body-buffer budget.",
	}, func() float64 { return float64(a.body.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "seatrx_addresses_penalized", Help: "Source addresses whose new connections are held unread for their recent misbehaving (docs/OPERATIONS.md).",
	}, func() float64 { return float64(a.strikes.penalizedNow()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "seatrx_connections_held", Help: "Connections held unread past every admission allowance, to be closed at their timeout.",
	}, func() float64 { return float64(a.held.count()) }))
	for i, state := range []string{"unattested", "attested", "overflow"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "seatrx_connections", Help: "Open connections by admission state (overflow: over a bound, kept to be answered 503).",
			ConstLabels: prometheus.Labels{"state": state},
		}, func() float64 {
			u, at, o := a.counts()
			return float64([]int{u, at, o}[i])
		}))
	}
	return a
}

// counts returns the open connections: un-attested, attested, over a bound.
func (a *admission) counts() (unattested, attested, overflow int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.unattested, len(a.attested), a.overflow
}

func (a *admission) refused(reason string) { a.refusals.WithLabelValues(reason).Inc() }

// strike counts a strike against addr (strikes.go) and logs, at INFO and
// at most maxPenaltyLines a second, an address it penalizes.
func (a *admission) strike(addr netip.Addr) {
	penalized, score := a.strikes.add(addr)
	if !penalized {
		return
	}
	ok, suppressed := a.penaltyLog.allow(time.Now())
	if !ok {
		return
	}
	attrs := []slog.Attr{slog.String("address", addr.String()), slog.Float64("strikes", math.Round(score*10)/10),
		slog.Int64("half_life_ms", a.strikes.halfLife.Milliseconds())}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "address penalized: its new connections are held unread until its strikes decay", attrs...)
}

// admitListener applies admission to every accepted connection.
type admitListener struct {
	net.Listener
	a *admission
}

// Accept returns the next connection kept (un-attested or, over a bound,
// kept to be answered 503); those past every allowance are closed here.
func (l *admitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ac := l.a.admit(c); ac != nil {
			return ac, nil
		}
	}
}

// admConn is an accepted connection with its admission state.
type admConn struct {
	net.Conn
	a    *admission
	addr netip.Addr

	state    connState // guarded by a.mu
	reason   string    // why stateOverflow
	timer    *time.Timer
	deadline time.Time // un-attested: when it must have attested
	expired  atomic.Bool
	inflight atomic.Int32
	// lastActive is when a request last started or ended (Unix ns).
	lastActive atomic.Int64
	// refusals counts too_many_streams and busy refusals (maxRefusals).
	refusals atomic.Int32
}

// addrOf is the source a connection counts against: its IPv4 address, or
// the /64 prefix of its IPv6 address (one host is commonly given a whole
// /64, so counting single IPv6 addresses would bound nothing).
func addrOf(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.Addr()
	}
	return a
}

// admit places c: un-attested (evicting from the busiest address if the
// total is reached), over a bound, or not kept (nil: held unread, or
// closed).
func (a *admission) admit(c net.Conn) *admConn {
	addr := addrOf(c)
	if a.strikes.penalized(addr) {
		a.hold(c, addr, reasonPenalized)
		return nil
	}
	ac := &admConn{Conn: c, a: a, addr: addr}
	var victim *admConn
	a.mu.Lock()
	n := len(a.byAddr[addr])
	switch {
	case n >= a.perAddr:
		ac.reason = reasonAddressCap
	case a.unattested >= a.maxUnattested:
		if victim = a.busiest(n + 1); victim == nil {
			ac.reason = reasonUnattestedCap
		} else {
			a.releaseLocked(victim)
		}
	}
	switch {
	case ac.reason == "":
		ac.state = stateUnattested
		a.byAddr[addr] = append(a.byAddr[addr], ac)
		a.unattested++
		ac.deadline = time.Now().Add(a.timeout)
		ac.timer = time.AfterFunc(a.timeout, ac.expire)
	case a.overflow < maxOverflowConns:
		ac.state = stateOverflow
		a.overflow++
		ac.timer = time.AfterFunc(overflowTimeout, ac.expire)
	default:
		ac = nil
	}
	a.mu.Unlock()
	if victim != nil {
		a.refused(reasonEvicted)
		victim.timer.Stop()
		victim.Conn.Close()
	}
	if ac == nil {
		a.hold(c, addr, reasonHeld)
	}
	return ac
}

// hold holds c unread for a.timeout, or closes it at once if the hold is
// full; either way a strike against its address.
func (a *admission) hold(c net.Conn, addr netip.Addr, reason string) {
	if !a.held.hold(heldConn{c: c, addr: addr, reason: reason}, a) {
		a.refused(reasonOverflowFull)
		a.strike(addr)
		c.Close()
	}
}

// heldConns are the connections held unread past every allowance, oldest
// (first to close) first.
type heldConns struct {
	mu     sync.Mutex
	limit  int // maxHeldConns, or fewer when open files are short; -1 until known
	q      []heldConn
	timer  *time.Timer
	closed bool
}

type heldConn struct {
	c      net.Conn
	addr   netip.Addr
	reason string // reasonHeld or reasonPenalized, counted at its close
	until  time.Time
}

// holdLimit is how many connections may be held: maxHeldConns, within
// what the open-file limit leaves beside the other bounds.
func (a *admission) holdLimit() int {
	soft := fdlimit.Soft()
	if soft == 0 {
		return maxHeldConns
	}
	left := int64(soft) - int64(a.maxUnattested+a.maxAttested+maxOverflowConns+heldFileReserve)
	return int(max(0, min(left, maxHeldConns)))
}

// hold keeps hc unread until a.timeout from now, if there is room.
func (h *heldConns) hold(hc heldConn, a *admission) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.limit < 0 {
		h.limit = a.holdLimit() // at first use: once the server has raised the open-file limit
	}
	if h.closed || len(h.q) >= h.limit {
		return false
	}
	hc.until = time.Now().Add(a.timeout)
	h.q = append(h.q, hc)
	if h.timer == nil {
		h.timer = time.AfterFunc(a.timeout, func() { h.expire(a) })
	}
	return true
}

// expire closes the held connections whose time is up, each a strike
// against its address, and waits for the next.
func (h *heldConns) expire(a *admission) {
	h.mu.Lock()
	now := time.Now()
	n := 0
	for n < len(h.q) && !h.q[n].until.After(now) {
		n++
	}
	done := make([]heldConn, n)
	copy(done, h.q)
	clear(h.q[:n]) // the array outlives them until append moves the rest
	h.q = h.q[n:]
	if len(h.q) > 0 {
		// In batches: waking at each connection's own time would wake
		// this as often as held connections arrive.
		h.timer.Reset(max(h.q[0].until.Sub(now), heldBatch))
	} else {
		h.q, h.timer = nil, nil
	}
	h.mu.Unlock()
	for _, hc := range done {
		hc.c.Close()
		a.refused(hc.reason)
		a.strike(hc.addr)
	}
}

// closeAll closes every held connection and holds no more (shutdown).
func (h *heldConns) closeAll() {
	h.mu.Lock()
	q := h.q
	h.q, h.closed = nil, true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
	for _, hc := range q {
		hc.c.Close()
	}
}

// count is how many connections are held now.
func (h *heldConns) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.q)
}

// busiest returns the oldest un-attested connection of the address holding
// the most, if it holds more than than (the newcomer's address's count once
// admitted): evicting it leaves the counts more even. Called with a.mu held.
func (a *admission) busiest(than int) *admConn {
	var top []*admConn
	for _, cs := range a.byAddr {
		if len(cs) > len(top) {
			top = cs
		}
	}
	if len(top) <= than {
		return nil
	}
	return top[0]
}

// releaseLocked takes c out of the counts (once). Called with a.mu held.
func (a *admission) releaseLocked(c *admConn) {
	switch c.state {
	case stateUnattested:
		cs := a.byAddr[c.addr]
		for i, x := range cs {
			if x == c {
				cs = append(cs[:i], cs[i+1:]...)
				break
			}
		}
		if len(cs) == 0 {
			delete(a.byAddr, c.addr)
		} else {
			a.byAddr[c.addr] = cs
		}
		a.unattested--
	case stateAttested:
		delete(a.attested, c)
	case stateOverflow:
		a.overflow--
	}
	c.state = stateClosed
}

func (c *admConn) Close() error {
	c.a.mu.Lock()
	c.a.releaseLocked(c)
	c.a.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
	return c.Conn.Close()
}

func (c *admConn) stateNow() connState {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.state
}

// expire runs at the connection's deadline: an un-attested connection is
// closed once no request is in flight; one kept over a bound that sent no
// request is closed.
func (c *admConn) expire() {
	c.a.mu.Lock()
	st := c.state
	if st == stateUnattested {
		c.expired.Store(true)
		if c.inflight.Load() > 0 {
			c.a.mu.Unlock()
			c.timer.Reset(expiredRecheck)
			return
		}
	}
	if st == stateUnattested || st == stateOverflow {
		c.a.releaseLocked(c) // now, so that an attestation cannot slip in before the close
	}
	c.a.mu.Unlock()
	switch st {
	case stateUnattested:
		c.a.refused(reasonDeadline)
		c.a.strike(c.addr)
		c.Conn.Close()
	case stateOverflow:
		c.a.refused(reasonNoRequest)
		c.a.strike(c.addr)
		c.Conn.Close()
	}
}

// attested moves c from the un-attested to the attested connections.
func (c *admConn) attested() {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	if c.state != stateUnattested {
		return
	}
	c.a.releaseLocked(c)
	c.state = stateAttested
	c.a.attested[c] = struct{}{}
	c.lastActive.Store(time.Now().UnixNano())
	c.timer.Stop()
	if c.a.idle > 0 && !c.a.sweeping {
		c.a.sweeping = true
		go c.a.sweepIdle()
	}
}

// sweepIdle closes attested connections idle for AttestedIdleTimeout; it
// runs while there are attested connections.
func (a *admission) sweepIdle() {
	t := time.NewTicker(min(idleSweep, max(a.idle/4, time.Millisecond)))
	defer t.Stop()
	for range t.C {
		cut := time.Now().Add(-a.idle).UnixNano()
		var idle []*admConn
		a.mu.Lock()
		if len(a.attested) == 0 {
			a.sweeping = false
			a.mu.Unlock()
			return
		}
		for c := range a.attested {
			if c.inflight.Load() == 0 && c.lastActive.Load() <= cut {
				idle = append(idle, c)
			}
		}
		a.mu.Unlock()
		for _, c := range idle {
			a.refused(reasonIdle)
			c.Close()
		}
	}
}

// roomToAttest reports whether an attestation may start on c: always on an
// attested connection, else while the attested connections are under
// their bound (checked again by nothing: a few concurrent attestations may
// pass it together).
func (c *admConn) roomToAttest() bool {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.state == stateAttested || len(c.a.attested) < c.a.maxAttested
}

// admitAttestation refuses, 503 server.too_many_connections, an attestation
// that would take the attested connections over their bound.
func (s *Server) admitAttestation(w http.ResponseWriter, c *conn) bool {
	if c == nil || c.ac == nil || c.ac.roomToAttest() {
		return true
	}
	s.adm.refused(reasonAttestedCap)
	refuseAdmission(w, http.StatusServiceUnavailable, CodeTooManyConnections, "Too many connections", retryAfterConns,
		fmt.Sprintf("the server holds its limit of %d attested connections; retry on a new connection later", c.ac.a.maxAttested), true)
	return false
}

// reqState is one request's share of the admission budget.
type reqState struct {
	a     *admission
	ac    *admConn // its connection, if un-attested when the request began
	body  int64    // bytes reserved from a.body
	small bool     // one of a.small
}

// refusedOnce counts a refusal against an un-attested connection and
// reports whether it has used up maxRefusals (then it is closed, a strike
// against its address).
func (rs *reqState) refusedOnce() bool {
	if rs.ac == nil {
		return false
	}
	n := rs.ac.refusals.Add(1)
	if n == maxRefusals+1 {
		rs.a.strike(rs.ac.addr)
	}
	return n > maxRefusals
}

type reqKey struct{}

// handler applies the per-request rules to next (see above).
func (a *admission) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := connOf(r)
		if c == nil || c.ac == nil {
			next.ServeHTTP(w, r)
			return
		}
		ac := c.ac
		st := ac.stateNow()
		switch {
		case st == stateOverflow:
			a.refused(ac.reason)
			if ac.refusals.Add(1) == 1 {
				a.strike(ac.addr) // once per connection, however many streams it opens
			}
			code, detail := CodeTooManyConnections, fmt.Sprintf("the server holds its limit of %d connections not yet attested", a.maxUnattested)
			if ac.reason == reasonAddressCap {
				code, detail = CodeTooManyFromAddress, fmt.Sprintf("your address holds the server's limit of %d connections not yet attested", a.perAddr)
			}
			refuseAdmission(w, http.StatusServiceUnavailable, code, "Too many connections", retryAfterConns, detail+"; retry on a new connection later", true)
			return
		case st == stateUnattested && ac.expired.Load():
			a.refused(reasonLateRequest)
			refuseAdmission(w, http.StatusRequestTimeout, CodeAttestationDeadline, "Attestation deadline passed", 0,
				fmt.Sprintf("a connection must attest within %s of its start; attest on a new connection", a.timeout), true)
			return
		}
		n := ac.inflight.Add(1)
		ac.lastActive.Store(time.Now().UnixNano())
		defer func() {
			ac.lastActive.Store(time.Now().UnixNano())
			ac.inflight.Add(-1)
		}()
		rs := &reqState{a: a}
		if st == stateUnattested {
			rs.ac = ac
			// Its body, like its attestation, is due by the deadline.
			http.NewResponseController(w).SetReadDeadline(ac.deadline)
		}
		if st == stateUnattested && int(n) > a.maxStreams {
			a.refused(reasonStreams)
			closing := rs.refusedOnce()
			detail := fmt.Sprintf("a connection not yet attested may run %d requests at once", a.maxStreams)
			if closing {
				detail += fmt.Sprintf("; after %d refusals the connection is closed", maxRefusals)
			}
			refuseAdmission(w, http.StatusTooManyRequests, CodeTooManyStreams, "Too many concurrent requests", retryAfterBusy, detail, closing)
			return
		}
		defer func() {
			a.body.Add(-rs.body)
			if rs.small {
				a.small.Add(-1)
			}
		}()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqKey{}, rs)))
	})
}

// reserveBody reserves the bytes a body of at most limit needs before it is
// read (its declared length when known): false, with 503 server.busy
// answered, when the budget cannot spare them.
func reserveBody(w http.ResponseWriter, r *http.Request, limit int64) bool {
	rs, _ := r.Context().Value(reqKey{}).(*reqState)
	if rs == nil {
		return true
	}
	n := limit + 1
	if r.ContentLength >= 0 && r.ContentLength < limit {
		n = r.ContentLength + 1
	}
	if n <= smallBody+1 && !rs.small {
		if rs.a.small.Add(1) <= rs.a.smallBodies {
			rs.small = true
			return true
		}
		rs.a.small.Add(-1)
	}
	for {
		cur := rs.a.body.Load()
		if cur+n > rs.a.maxBody {
			rs.a.refused(reasonBodyBudget)
			closing := rs.refusedOnce()
			detail := fmt.Sprintf("request bodies in progress fill the server's %d-byte budget; retry later", rs.a.maxBody)
			if closing {
				detail += fmt.Sprintf(" on a new connection: after %d refusals this one is closed", maxRefusals)
			}
			refuseAdmission(w, http.StatusServiceUnavailable, CodeBusy, "Server busy", retryAfterBusy, detail, closing)
			return false
		}
		if rs.a.body.CompareAndSwap(cur, cur+n) {
			rs.body += n
			return true
		}
	}
}

// refuseAdmission answers an admission refusal; closing, it asks for the
// connection to be closed after the answer (HTTP/1.1 Connection: close,
// which Go's HTTP/2 server turns into GOAWAY).
func refuseAdmission(w http.ResponseWriter, status int, code Code, title string, retryAfter int, detail string, closing bool) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	if closing {
		w.Header().Set("Connection", "close")
	}
	reject(w, &Error{Status: status, Code: code, Title: title, Detail: detail})
}

// errorLogWriter is net/http's error log: a peer's failed TLS handshake or
// HTTP/2 preface (a scan, a flood, a connection closed by admission) is
// the peer's doing and logged at DEBUG; anything else at WARN.
type errorLogWriter struct{ log *slog.Logger }

// peerFaults are the net/http log messages (prefixes) of a peer's doing.
var peerFaults = []string{"http: TLS handshake error", "http2: server: error reading preface", "http2: timeout waiting for SETTINGS"}

func (e errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	for _, f := range peerFaults {
		if strings.HasPrefix(msg, f) {
			e.log.Debug(msg)
			return len(p), nil
		}
	}
	e.log.Warn(msg)
	return len(p), nil
}
