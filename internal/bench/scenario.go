package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatrx/seatrx/tlsbind"
)

// The hostile scenarios (Scenario implementations) of `seatrx bench
// --scenario`. Each runs Attackers connections, each in its own goroutine
// that keeps one connection open as long as it can: when the server closes
// it (or refuses it), the goroutine dials again after a pause of
// AttackRedial plus up to as much again at random, so the scenario holds
// as many connections as the server lets it, for the whole measurement.
// Attacker connections come from their own loopback addresses, 127.0.0.2
// and up, PerAddress connections per address (legitimate sessions use
// 127.0.0.1), so that a server's per-address rules are exercised.
const (
	ScenarioIdleH2        = "idle-h2"        // TLS, HTTP/2 preface and SETTINGS, then nothing (SETTINGS and PINGs acknowledged)
	ScenarioKeepalivePoll = "keepalive-poll" // TLS, HTTP/1.1 keep-alive, GET /healthz every 20-60 s on the same connection
	ScenarioSlowloris     = "slowloris"      // TLS, HTTP/1.1, a request header line every 2 s, never finished
	ScenarioH2Streams     = "h2-streams"     // TLS, HTTP/2, as many POST /v1/attest streams as allowed, each sending all but 1 byte of a 256 KiB body, then holding
	ScenarioConnFlood     = "conn-flood"     // TCP connect, nothing sent (not even a ClientHello)
)

// Bounds and defaults of the scenarios.
const (
	MaxAttackers      = 60_000
	DefaultPerAddress = 250
	// AttackRedial is the least pause before an attacker dials again.
	AttackRedial = time.Second
	// attackBody is the body an h2-streams stream declares (the server's
	// largest, POST /v1/attest's authenticator limit); all but one byte is
	// sent.
	attackBody = 256 << 10
	// maxAttackStreams bounds the streams of one h2-streams connection
	// (the server's SETTINGS_MAX_CONCURRENT_STREAMS, if lower, wins).
	maxAttackStreams = 250
)

// Scenarios lists the scenario names.
func Scenarios() []string {
	return []string{ScenarioIdleH2, ScenarioKeepalivePoll, ScenarioSlowloris, ScenarioH2Streams, ScenarioConnFlood}
}

// NewScenario returns the scenario name with n attacker connections,
// perAddr per loopback source address (0: DefaultPerAddress), ramping up
// over ramp (0: all at once).
func NewScenario(name string, n, perAddr int, ramp time.Duration) (Scenario, error) {
	ok := false
	for _, s := range Scenarios() {
		ok = ok || s == name
	}
	if !ok {
		return nil, &ConfigError{Field: "Scenarios", Reason: fmt.Sprintf("unknown scenario %q (known: %v)", name, Scenarios())}
	}
	if perAddr == 0 {
		perAddr = DefaultPerAddress
	}
	if n < 1 || n > MaxAttackers {
		return nil, &ConfigError{Field: "Attackers", Reason: fmt.Sprintf("%d: want 1 to %d", n, MaxAttackers)}
	}
	if perAddr < 1 || (n+perAddr-1)/perAddr > 253 {
		return nil, &ConfigError{Field: "PerAddress", Reason: fmt.Sprintf("%d: %d attackers need at most 253 source addresses (127.0.0.2-127.0.0.254)", perAddr, n)}
	}
	return &attack{kind: name, n: n, perAddr: perAddr, ramp: ramp, counts: map[string]*atomic.Int64{}}, nil
}

// attack is one running scenario.
type attack struct {
	kind       string
	n, perAddr int
	ramp       time.Duration
	tlsCfg     *tls.Config

	held, peak atomic.Int64
	mu         sync.Mutex
	counts     map[string]*atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (a *attack) Name() string { return a.kind }

func (a *attack) count(name string) {
	a.mu.Lock()
	c := a.counts[name]
	if c == nil {
		c = new(atomic.Int64)
		a.counts[name] = c
	}
	a.mu.Unlock()
	c.Add(1)
}

// Start starts every attacker (spread over the ramp) and returns once the
// last one has started; the scenario then runs until Stop or ctx ends.
func (a *attack) Start(ctx context.Context, t *Target) error {
	a.tlsCfg = tlsbind.ClientConfig(t.Roots, t.Server.Hostname())
	// An attacker does not care whom it attacks (and its process, see
	// NewScenarioProcess, has no roots): the server's work is the same.
	a.tlsCfg.InsecureSkipVerify = true
	// The attacker's own CPU is not the server's: the cheapest key
	// exchange the server accepts keeps the driver out of the way.
	a.tlsCfg.CurvePreferences = []tls.CurveID{tls.X25519}
	ctx, a.cancel = context.WithCancel(ctx)
	step := time.Duration(0)
	if a.ramp > 0 {
		step = a.ramp / time.Duration(a.n)
	}
	for i := range a.n {
		src := net.IPv4(127, 0, 0, byte(2+i/a.perAddr))
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.loop(ctx, t, src)
		}()
		if step > 0 {
			select {
			case <-time.After(step):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}

// Stop ends every attacker and returns the counters: held_peak (most
// connections open at once), held_at_stop, and per event (dials,
// dial_errors, handshakes, handshake_errors, server_closes, status_NNN,
// goaways, stream_resets).
func (a *attack) Stop() map[string]int64 {
	if a.cancel == nil {
		return nil
	}
	atStop := a.held.Load()
	a.cancel()
	a.wg.Wait()
	out := map[string]int64{"attackers": int64(a.n), "held_peak": a.peak.Load(), "held_at_stop": atStop}
	a.mu.Lock()
	for k, v := range a.counts {
		out[k] = v.Load()
	}
	a.mu.Unlock()
	a.cancel = nil
	return out
}

// Held is how many attacker connections are open now.
func (a *attack) Held() int64 { return a.held.Load() }

func (a *attack) loop(ctx context.Context, t *Target, src net.IP) {
	for ctx.Err() == nil {
		a.count("dials")
		c, err := t.DialFrom(ctx, src)
		if err != nil {
			if ctx.Err() == nil {
				a.count("dial_errors")
			}
		} else {
			if h := a.held.Add(1); h > a.peak.Load() {
				for p := a.peak.Load(); h > p && !a.peak.CompareAndSwap(p, h); p = a.peak.Load() {
				}
			}
			stop := context.AfterFunc(ctx, func() { c.Close() })
			a.run(ctx, c)
			stop()
			c.Close()
			a.held.Add(-1)
		}
		pause := AttackRedial + rand.N(AttackRedial)
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		}
	}
}

// run keeps c open the scenario's way until the server or ctx ends it.
func (a *attack) run(ctx context.Context, c net.Conn) {
	if a.kind == ScenarioConnFlood {
		a.waitClosed(ctx, c)
		return
	}
	cfg := a.tlsCfg.Clone()
	if a.kind == ScenarioKeepalivePoll || a.kind == ScenarioSlowloris {
		cfg.NextProtos = []string{"http/1.1"}
	} else {
		cfg.NextProtos = []string{"h2"}
	}
	tc := tls.Client(c, cfg)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			a.count("handshake_errors")
		}
		return
	}
	a.count("handshakes")
	switch a.kind {
	case ScenarioIdleH2:
		a.h2(ctx, tc, false)
	case ScenarioH2Streams:
		a.h2(ctx, tc, true)
	case ScenarioKeepalivePoll:
		a.poll(ctx, tc)
	case ScenarioSlowloris:
		a.slowloris(ctx, tc)
	}
}

// waitClosed reads (and discards) until the connection ends.
func (a *attack) waitClosed(ctx context.Context, c net.Conn) {
	buf := make([]byte, 512)
	for {
		if _, err := c.Read(buf); err != nil {
			if ctx.Err() == nil {
				a.count("server_closes")
			}
			return
		}
	}
}

// poll sends GET /healthz on c, then again every 20-60 s, while the server
// keeps the connection.
func (a *attack) poll(ctx context.Context, c net.Conn) {
	br := bufio.NewReader(c)
	for {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: seatrx\r\n\r\n"); err != nil {
			a.closed(ctx)
			return
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			a.closed(ctx)
			return
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		a.count("status_" + strconv.Itoa(resp.StatusCode))
		if resp.Close {
			a.closed(ctx)
			return
		}
		// Wait 20-60 s, noticing a close by the server.
		c.SetReadDeadline(time.Now().Add(20*time.Second + rand.N(40*time.Second)))
		if _, err := br.Peek(1); !isTimeout(err) {
			a.closed(ctx)
			return
		}
	}
}

// slowloris starts a request and sends one more header line every 2 s,
// never ending the header, until the server answers or closes.
func (a *attack) slowloris(ctx context.Context, c net.Conn) {
	if _, err := io.WriteString(c, "POST /v1/attest HTTP/1.1\r\nHost: seatrx\r\n"); err != nil {
		a.closed(ctx)
		return
	}
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := br.Peek(1); !isTimeout(err) {
			if err == nil {
				if resp, err := http.ReadResponse(br, nil); err == nil {
					a.count("status_" + strconv.Itoa(resp.StatusCode))
				}
			}
			a.closed(ctx)
			return
		}
		if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", i); err != nil {
			a.closed(ctx)
			return
		}
	}
}

func (a *attack) closed(ctx context.Context) {
	if ctx.Err() == nil {
		a.count("server_closes")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// HTTP/2 frames (RFC 9113 §6), as much as the attacks need.
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8

	flagAck        = 0x1
	flagEndHeaders = 0x4

	settingMaxConcurrentStreams = 0x3
	settingInitialWindowSize    = 0x4
)

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2 speaks HTTP/2 on c: the preface and SETTINGS, acknowledging the
// server's SETTINGS and PINGs; with streams, it opens as many POST
// /v1/attest streams as the server allows, sends all but the last byte of
// each body as flow control permits, and opens a new stream for each one
// the server ends.
func (a *attack) h2(ctx context.Context, c net.Conn, streams bool) {
	w := &h2Writer{c: c}
	if err := w.write(append([]byte(h2Preface), frame(frameSettings, 0, 0, nil)...)); err != nil {
		a.closed(ctx)
		return
	}
	br := bufio.NewReaderSize(c, 32<<10)
	var (
		maxStreams          = maxAttackStreams
		initWindow   int64  = 65535
		connWindow   int64  = 65535
		nextID       uint32 = 1
		open                = map[uint32]*h2Stream{}
		settingsSeen bool
	)
	openStreams := func() error {
		for len(open) < maxStreams {
			id := nextID
			nextID += 2
			open[id] = &h2Stream{window: initWindow, left: attackBody - 1}
			if err := w.write(frame(frameHeaders, flagEndHeaders, id, attackHeaders)); err != nil {
				return err
			}
			a.count("streams_opened")
		}
		return nil
	}
	// pump sends body bytes while both windows allow.
	pump := func() error {
		for id, s := range open {
			for s.left > 0 && s.window > 0 && connWindow > 0 {
				n := min(int64(16<<10), s.left, s.window, connWindow)
				if err := w.write(frame(frameData, 0, id, make([]byte, n))); err != nil {
					return err
				}
				s.left -= n
				s.window -= n
				connWindow -= n
			}
		}
		return nil
	}
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			a.closed(ctx)
			return
		}
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags, id := hdr[3], hdr[4], binary.BigEndian.Uint32(hdr[5:])&0x7fffffff
		if length > 1<<20 {
			a.closed(ctx)
			return
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(br, payload); err != nil {
			a.closed(ctx)
			return
		}
		var err error
		switch typ {
		case frameSettings:
			if flags&flagAck != 0 {
				break
			}
			for p := payload; len(p) >= 6; p = p[6:] {
				v := int64(binary.BigEndian.Uint32(p[2:]))
				switch binary.BigEndian.Uint16(p) {
				case settingMaxConcurrentStreams:
					maxStreams = int(min(v, maxAttackStreams))
				case settingInitialWindowSize:
					for _, s := range open {
						s.window += v - initWindow
					}
					initWindow = v
				}
			}
			err = w.write(frame(frameSettings, flagAck, 0, nil))
			if streams && !settingsSeen {
				settingsSeen = true
				if err == nil {
					err = openStreams()
				}
				if err == nil {
					err = pump()
				}
			}
		case framePing:
			if flags&flagAck == 0 {
				err = w.write(frame(framePing, flagAck, 0, payload))
			}
		case frameGoAway:
			a.count("goaways")
		case frameWindowUpdate:
			if len(payload) == 4 {
				inc := int64(binary.BigEndian.Uint32(payload) & 0x7fffffff)
				if id == 0 {
					connWindow += inc
				} else if s := open[id]; s != nil {
					s.window += inc
				}
				if streams {
					err = pump()
				}
			}
		case frameRSTStream, frameHeaders, frameData:
			if typ == frameHeaders {
				a.count("responses")
			}
			if typ == frameRSTStream {
				a.count("stream_resets")
			}
			if typ == frameData && length > 0 {
				// Give back what the server sent, as a client reading it would.
				inc := binary.BigEndian.AppendUint32(nil, uint32(length))
				err = w.write(append(frame(frameWindowUpdate, 0, 0, inc), frame(frameWindowUpdate, 0, id, inc)...))
			}
			// A stream the server ended (reset, or answered): open another.
			if streams && (typ == frameRSTStream || flags&0x1 != 0) && open[id] != nil {
				delete(open, id)
				if err == nil {
					err = openStreams()
				}
				if err == nil {
					err = pump()
				}
			}
		}
		if err != nil {
			a.closed(ctx)
			return
		}
	}
}

type h2Stream struct{ window, left int64 }

type h2Writer struct {
	mu sync.Mutex
	c  net.Conn
}

func (w *h2Writer) write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := w.c.Write(b)
	return err
}

// frame encodes one HTTP/2 frame.
func frame(typ, flags byte, id uint32, payload []byte) []byte {
	b := make([]byte, 9, 9+len(payload))
	b[0], b[1], b[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	b[3], b[4] = typ, flags
	binary.BigEndian.PutUint32(b[5:], id)
	return append(b, payload...)
}

// attackHeaders is the HPACK block of a POST /v1/attest with a 256 KiB
// body: literal fields without indexing (RFC 7541 §6.2.2), no Huffman.
var attackHeaders = func() []byte {
	var b []byte
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "https"}, {":authority", "seatrx"}, {":path", "/v1/attest"},
		{"content-type", "application/octet-stream"}, {"content-length", strconv.Itoa(attackBody)},
	} {
		b = append(b, 0x00, byte(len(f[0])))
		b = append(b, f[0]...)
		b = append(b, byte(len(f[1])))
		b = append(b, f[1]...)
	}
	return b
}()
