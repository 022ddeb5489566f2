package bench

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
)

// Target is what a mode or scenario needs to reach the server under test.
// Everything a run sends goes to Addr (the server) or to the metrics URL.
type Target struct {
	// Server is the base URL given by the user (https://host:port).
	Server *url.URL
	// Addr is Server's host:port.
	Addr string
	// DTLSAddr is the server's DTLS listener, host:port (UDP), for the
	// dtls transport's modes.
	DTLSAddr string
	// Roots verify the server's certificate.
	Roots *x509.CertPool
	// SimPKI is the dev server's simulated TEE PKI (for the snp and tdx
	// modes' simulated attesters); nil without --dev.
	SimPKI *sim.PKI
	// Timeouts bound each session's steps (zero: the client's defaults).
	ConnectTimeout, HandshakeTimeout, RequestTimeout time.Duration
}

// DialFrom opens a TCP connection to the server from the local address src
// (nil: the system's choice). Legitimate sessions use the system's choice
// (127.0.0.1 toward a loopback server); a hostile scenario gives its
// connections their own loopback addresses (127.0.0.2 and up), so that the
// server's per-address rules can be exercised.
func (t *Target) DialFrom(ctx context.Context, src net.IP) (net.Conn, error) {
	d := net.Dialer{Timeout: t.ConnectTimeout}
	if d.Timeout == 0 {
		d.Timeout = 10 * time.Second
	}
	if src != nil {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return d.DialContext(ctx, "tcp", t.Addr)
}

// Sample is one session's phase durations, in the order of its Mode's
// Phases. The session's total is measured by the engine.
type Sample []time.Duration

// Session runs one whole session on a fresh connection and returns its
// phase durations. It is called concurrently by the workers.
type Session func(ctx context.Context) (Sample, error)

// Mode is one kind of session that workers repeat, over one transport.
type Mode struct {
	Name string
	// Summary says in a few words what one session is, for help.
	Summary string
	// Phases name the steps a Sample measures, in order.
	Phases []string
	// New prepares the mode for t (loads attesters, builds configurations)
	// once per run and returns its Session.
	New func(t *Target) (Session, error)
}

// modes holds the registered modes by transport, then by name. A transport
// (e.g. DTLS) registers its own modes in its own file with Register; a mode
// name means the same kind of session on every transport.
var modes = map[string]map[string]*Mode{}

// Register adds m under transport. It panics on a duplicate (a programming
// error, found at init).
func Register(transport string, m *Mode) {
	if modes[transport] == nil {
		modes[transport] = map[string]*Mode{}
	}
	if _, dup := modes[transport][m.Name]; dup {
		panic(fmt.Sprintf("bench: mode %q registered twice for transport %q", m.Name, transport))
	}
	modes[transport][m.Name] = m
}

// Transports lists the registered transports, sorted.
func Transports() []string {
	var ts []string
	for t := range modes {
		ts = append(ts, t)
	}
	sort.Strings(ts)
	return ts
}

// Modes lists the mode names registered for transport, in a fixed order
// (plain first, then by name).
func Modes(transport string) []string {
	var ns []string
	for n := range modes[transport] {
		ns = append(ns, n)
	}
	slices.SortFunc(ns, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "plain":
			return -1
		case b == "plain":
			return 1
		case a < b:
			return -1
		}
		return 1
	})
	return ns
}

// lookup returns the mode name on transport.
func lookup(transport, name string) (*Mode, error) {
	ms, ok := modes[transport]
	if !ok {
		return nil, &ConfigError{Field: "Transport", Reason: fmt.Sprintf("unknown transport %q (known: %v)", transport, Transports())}
	}
	m, ok := ms[name]
	if !ok {
		return nil, &ConfigError{Field: "Modes", Reason: fmt.Sprintf("unknown mode %q for transport %s (known: %v)", name, transport, Modes(transport))}
	}
	return m, nil
}

// Scenario is load run beside the measured sessions for the whole of each
// mode's measurement, such as the connections of an attacker; it is started
// before the first round and stopped after the last, and reports its own
// counters (e.g. connections held, refused). Scenarios reach the server
// only through Target (DialFrom, for their own source addresses).
type Scenario interface {
	Name() string
	// Start begins the load and returns once it runs; it must stop by
	// itself when ctx ends.
	Start(ctx context.Context, t *Target) error
	// Stop ends the load, waits for it to end and returns its counters.
	Stop() map[string]int64
}

// Describe returns the summary of mode name on transport ("" if unknown).
func Describe(transport, name string) string {
	if m := modes[transport][name]; m != nil {
		return m.Summary
	}
	return ""
}
