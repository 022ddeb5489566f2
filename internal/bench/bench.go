// Package bench is the load tool behind `seatrx bench`: W concurrent
// workers repeat whole sessions on fresh connections for a bounded duration
// or count, and the run reports sessions per second, errors by problem
// code, latency percentiles per phase, the server's CPU time and heap
// allocation per session (read from the server's own /metrics before and
// after each measurement) and the driver's own CPU time (getrusage), so a
// reader can tell whether the driver was the bottleneck. Several modes run
// interleaved in rounds (the order alternating), and each is reported as a
// ratio to the first, measured in the same rounds.
//
// A run is bounded (Config.check refuses an unbounded one) and sends only
// to the server it is given and to its metrics URL, which must name the
// same host.
//
// Extending it:
//   - a mode (kind of session) is a *Mode registered for a transport with
//     Register, in the file of its transport (mode_tls.go);
//   - a transport (e.g. DTLS) is a new file registering its own modes under
//     its name; the CLI's --transport and --mode accept what is registered;
//   - a hostile scenario is a Scenario (mode.go) run beside the measured
//     sessions through Config.Scenarios, dialing from its own loopback
//     addresses with Target.DialFrom.
package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
)

// Bounds of a run: a bench always stops by itself.
const (
	MaxWorkers  = 1024
	MinDuration = 100 * time.Millisecond
	MaxDuration = time.Hour
	MaxCount    = 10_000_000
	MaxRounds   = 100
	MaxWarmup   = 100_000
	// DefaultRecovery is Config.Recovery's default.
	DefaultRecovery = time.Minute
	MaxRecovery     = 10 * time.Minute
)

// Config is one run.
type Config struct {
	Target
	// Transport selects the registered modes; "" means TransportTLS.
	Transport string
	// Modes run in every round; the first is the baseline of the ratios.
	Modes []string
	// Workers run sessions concurrently, each on its own fresh connections.
	Workers int
	// Duration and Count bound each mode's measurement in each round: the
	// workers stop starting sessions at Duration, or after Count sessions,
	// whichever comes first; at least one must be set.
	Duration time.Duration
	Count    int
	// Rounds is how many times every mode is measured; 0 means 1.
	Rounds int
	// Warmup sessions of each mode run, unmeasured, before the first round
	// (they fill the server's caches and the connection pools of both sides).
	Warmup int
	// Metrics is the server's Prometheus endpoint; nil: the server's CPU
	// and allocation are not measured. It must be on the server's host.
	Metrics *url.URL
	// Scenarios run beside the measured sessions (see Scenario).
	Scenarios []Scenario
	// ServerPID, if set, is the server's process (on this host): its RSS
	// is read from /proc/PID/status; otherwise, with Scenarios, from the
	// server's process_resident_memory_bytes at Metrics.
	ServerPID int
	// Recovery bounds the wait, after the scenarios stop, for the server's
	// RSS to come back within twice its idle size; 0: DefaultRecovery.
	Recovery time.Duration
	// Progress receives a progress line while the run goes on; nil: none.
	Progress io.Writer
}

// ConfigError is a Config that Run refuses before sending anything.
type ConfigError struct {
	Field  string // Config field, e.g. "Workers"
	Reason string
}

func (e *ConfigError) Error() string { return "bench: " + e.Field + ": " + e.Reason }

func (c *Config) check() error {
	bad := func(field, format string, a ...any) error {
		return &ConfigError{Field: field, Reason: fmt.Sprintf(format, a...)}
	}
	switch {
	case c.Server == nil || c.Server.Scheme != "https" || c.Server.Host == "":
		return bad("Server", "want https://host:port")
	case len(c.Modes) == 0:
		return bad("Modes", "name at least one mode")
	case c.Workers < 1 || c.Workers > MaxWorkers:
		return bad("Workers", "%d: want 1 to %d", c.Workers, MaxWorkers)
	case c.Duration == 0 && c.Count == 0:
		return bad("Duration", "a run needs a bound: a duration, a count, or both")
	case c.Duration != 0 && (c.Duration < MinDuration || c.Duration > MaxDuration):
		return bad("Duration", "%s: want %s to %s", c.Duration, MinDuration, MaxDuration)
	case c.Count < 0 || c.Count > MaxCount:
		return bad("Count", "%d: want 1 to %d", c.Count, MaxCount)
	case c.Rounds < 0 || c.Rounds > MaxRounds:
		return bad("Rounds", "%d: want 1 to %d", c.Rounds, MaxRounds)
	case c.Warmup < 0 || c.Warmup > MaxWarmup:
		return bad("Warmup", "%d: want 0 to %d", c.Warmup, MaxWarmup)
	case c.Recovery < 0 || c.Recovery > MaxRecovery:
		return bad("Recovery", "%s: want 0 to %s", c.Recovery, MaxRecovery)
	case c.ServerPID < 0:
		return bad("ServerPID", "%d: want a process id", c.ServerPID)
	}
	for i, m := range c.Modes {
		if slices.Contains(c.Modes[:i], m) {
			return bad("Modes", "%q is named twice", m)
		}
	}
	if m := c.Metrics; m != nil {
		if (m.Scheme != "https" && m.Scheme != "http") || m.Hostname() != c.Server.Hostname() {
			return bad("Metrics", "%s: want an http(s) URL on the server's host %s (a bench sends nothing elsewhere)", m, c.Server.Hostname())
		}
	}
	return nil
}

// Run runs cfg and returns its report. A mode whose first session fails
// stops the run before any measurement, with that session's error; later
// failures are counted by problem code.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Transport == "" {
		cfg.Transport = TransportTLS
	}
	if cfg.Rounds == 0 {
		cfg.Rounds = 1
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.Addr = cfg.Server.Host
	if cfg.Server.Port() == "" {
		cfg.Addr = net.JoinHostPort(cfg.Server.Hostname(), "443")
	}
	runs := make([]*modeRun, len(cfg.Modes))
	for i, name := range cfg.Modes {
		m, err := lookup(cfg.Transport, name)
		if err != nil {
			return nil, err
		}
		s, err := m.New(&cfg.Target)
		if err != nil {
			return nil, err
		}
		runs[i] = &modeRun{mode: m, session: s}
	}
	e := &engine{cfg: &cfg}
	if cfg.Metrics != nil {
		e.scraper = newScraper(cfg.Metrics, cfg.Roots)
		if _, err := e.scraper.read(ctx); err != nil {
			return nil, err
		}
	}
	for _, r := range runs {
		if _, err := r.session(ctx); err != nil {
			return nil, fmt.Errorf("bench: mode %s: the first session failed: %w", r.mode.Name, err)
		}
		if cfg.Warmup > 0 {
			e.workers(ctx, r, "warm-up "+r.mode.Name, cfg.Warmup, 0)
		}
	}
	rep := &Report{Server: cfg.Server.String(), Transport: cfg.Transport, Workers: cfg.Workers, Rounds: cfg.Rounds,
		DurationSeconds: cfg.Duration.Seconds(), Count: cfg.Count, Warmup: cfg.Warmup,
		DriverCPUs: runtime.NumCPU(), LoadBefore: loadAverage()}
	if cfg.Metrics != nil {
		rep.Metrics = cfg.Metrics.String()
	}
	var started []Scenario
	defer func() {
		for _, s := range started {
			s.Stop()
		}
	}()
	var rss *rssReader
	var stopRSS func() int64
	if len(cfg.Scenarios) > 0 && (cfg.ServerPID > 0 || e.scraper != nil) {
		rss = &rssReader{pid: cfg.ServerPID, scraper: e.scraper}
		idle, err := rss.read(ctx)
		if err != nil {
			return nil, err
		}
		rep.RSS = &RSSReport{Source: rss.source(), IdleBytes: idle}
		stopRSS = rssPeak(ctx, rss)
		defer func() {
			if stopRSS != nil {
				stopRSS()
			}
		}()
	}
	for _, s := range cfg.Scenarios {
		if err := s.Start(ctx, &cfg.Target); err != nil {
			return nil, fmt.Errorf("bench: scenario %s: %w", s.Name(), err)
		}
		started = append(started, s)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "scenario %s started\n", s.Name())
		}
	}
	for round := range cfg.Rounds {
		for k := range runs {
			r := runs[(k+round)%len(runs)] // alternate which mode goes first
			label := fmt.Sprintf("round %d/%d %s", round+1, cfg.Rounds, r.mode.Name)
			if err := e.measure(ctx, r, label); err != nil {
				return nil, err
			}
		}
	}
	if rss != nil {
		rep.RSS.AtStopBytes, _ = rss.read(ctx)
	}
	if len(started) > 0 {
		rep.Scenarios = map[string]map[string]int64{}
		for _, s := range started {
			rep.Scenarios[s.Name()] = s.Stop()
		}
		started = nil
	}
	if rss != nil {
		rep.RSS.PeakBytes = stopRSS()
		stopRSS = nil
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "scenarios stopped; waiting up to %s for the server's RSS to come back within 2x idle\n", cmp.Or(cfg.Recovery, DefaultRecovery))
		}
		rep.RSS.recover(ctx, rss, cmp.Or(cfg.Recovery, DefaultRecovery))
	}
	rep.LoadAfter = loadAverage()
	rep.build(runs)
	return rep, nil
}

// modeRun accumulates one mode's measurements over the rounds.
type modeRun struct {
	mode    *Mode
	session Session
	rounds  []*roundResult
}

// roundResult is one measurement of one mode.
type roundResult struct {
	ok, failed int64
	wall       time.Duration
	hists      []*histogram // per phase, then the session total
	errs       map[string]*errorCount
	serverCPU  time.Duration // -1: not measured
	alloc      float64       // bytes; -1: not measured
	mallocs    float64
	driverCPU  time.Duration // -1: not measured
}

type errorCount struct {
	n       int64
	example string
}

type engine struct {
	cfg     *Config
	scraper *scraper
}

// measure runs one measurement of r between two readings of the server's
// and the driver's counters.
func (e *engine) measure(ctx context.Context, r *modeRun, label string) error {
	var before, after serverStats
	var err error
	scraper := e.scraper
	if scraper != nil {
		if before, err = scraper.read(ctx); err != nil {
			if len(e.cfg.Scenarios) == 0 {
				return err
			}
			// A server under attack may refuse the reading too: the
			// measurement goes on without the server's figures.
			scraper = nil
		}
	}
	cpu0, cpuOK := processCPU()
	res := e.workers(ctx, r, label, e.cfg.Count, e.cfg.Duration)
	cpu1, _ := processCPU()
	if err := ctx.Err(); err != nil {
		return err
	}
	res.serverCPU, res.alloc, res.mallocs, res.driverCPU = -1, -1, -1, -1
	if scraper != nil {
		if after, err = scraper.read(ctx); err != nil && len(e.cfg.Scenarios) == 0 {
			return err
		}
	}
	if scraper != nil && err == nil {
		res.serverCPU = time.Duration((after.cpu - before.cpu) * float64(time.Second))
		if before.hasAlloc && after.hasAlloc {
			res.alloc, res.mallocs = after.alloc-before.alloc, after.mallocs-before.mallocs
		}
	}
	if cpuOK {
		res.driverCPU = cpu1 - cpu0
	}
	r.rounds = append(r.rounds, res)
	return nil
}

// workers runs r's session from cfg.Workers goroutines until count sessions
// were started (count > 0) or d has passed (d > 0), then waits for the
// sessions in flight.
func (e *engine) workers(ctx context.Context, r *modeRun, label string, count int, d time.Duration) *roundResult {
	nph := len(r.mode.Phases)
	var tickets, ok, failed atomic.Int64
	start := time.Now()
	var deadline time.Time
	if d > 0 {
		deadline = start.Add(d)
	}
	stop := e.progress(label, start, &ok, &failed)
	per := make([]*roundResult, e.cfg.Workers)
	var wg sync.WaitGroup
	for w := range per {
		res := &roundResult{errs: map[string]*errorCount{}}
		for range nph + 1 {
			res.hists = append(res.hists, newHistogram())
		}
		per[w] = res
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if count > 0 && tickets.Add(1) > int64(count) {
					return
				}
				if d > 0 && !time.Now().Before(deadline) {
					return
				}
				t0 := time.Now()
				s, err := r.session(ctx)
				total := time.Since(t0)
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted, not a failure of the server
					}
					res.failed++
					failed.Add(1)
					code := ErrorCode(err)
					ec := res.errs[code]
					if ec == nil {
						ec = &errorCount{example: truncate(err.Error(), 300)}
						res.errs[code] = ec
					}
					ec.n++
					continue
				}
				for i := range min(len(s), nph) {
					res.hists[i].add(s[i])
				}
				res.hists[nph].add(total)
				res.ok++
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	stop()
	out := per[0]
	for _, p := range per[1:] {
		out.ok += p.ok
		out.failed += p.failed
		for i, h := range p.hists {
			out.hists[i].merge(h)
		}
		for code, ec := range p.errs {
			if o := out.errs[code]; o != nil {
				o.n += ec.n
			} else {
				out.errs[code] = ec
			}
		}
	}
	out.wall = time.Since(start)
	return out
}

// progress prints label's progress every second on a terminal (rewriting
// one line), every 5 seconds elsewhere, until the returned func is called.
func (e *engine) progress(label string, start time.Time, ok, failed *atomic.Int64) func() {
	w := e.cfg.Progress
	if w == nil {
		return func() {}
	}
	tty := isTerminal(w)
	every := 5 * time.Second
	if tty {
		every = time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return
			case <-t.C:
				el := time.Since(start)
				line := fmt.Sprintf("%s: %d sessions, %d errors, %.1f/s, %s", label, ok.Load(), failed.Load(),
					float64(ok.Load())/el.Seconds(), el.Round(time.Second))
				if tty {
					fmt.Fprint(w, "\r"+line+"\x1b[K")
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ErrorCode names a failed session's error for the report: the server's
// problem code (e.g. attest.binding_connection), a local typed error's
// code, or client.timeout, client.network or client.error.
func ErrorCode(err error) string {
	var p *api.Problem
	if errors.As(err, &p) && p.Code != "" {
		return p.Code
	}
	var te *client.TimeoutError
	if errors.As(err, &te) {
		return "client.timeout"
	}
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) && pc.ProblemCode() != "" {
		return pc.ProblemCode()
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return "client.timeout"
		}
		return "client.network"
	}
	var oe *net.OpError
	if errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "client.network"
	}
	return "client.error"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// loadAverage is the 1-minute load average of the driver's machine (Linux;
// "" elsewhere): a bench on a shared machine says how busy it was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
