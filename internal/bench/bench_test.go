package bench

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
)

// devServer starts an in-process dev server and returns the target that
// reaches it.
func devServer(t *testing.T) Target {
	t.Helper()
	data := t.TempDir()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DTLSAddr: "127.0.0.1:0", DataDir: data, Dev: true, MetricsOnMain: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	cas, err := keyfile.LoadCertificates(filepath.Join(server.DevDir(data), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	pki, err := sim.Load(filepath.Join(server.DevDir(data), "sim-pki"))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("https://" + addr.String())
	return Target{Server: u, Roots: roots, SimPKI: pki, DTLSAddr: srv.DTLSAddr().String()}
}

// A short comparison of every TLS mode against an in-process server: every
// session counted, each phase reported, the server's counters read, the
// ratios built from the same rounds. Figures are never checked, only that
// they exist.
func TestRunCompare(t *testing.T) {
	tg := devServer(t)
	var progress bytes.Buffer
	cfg := Config{Target: tg, Modes: []string{"plain", "snp", "tdx-separate"}, Workers: 2, Count: 3, Rounds: 2, Warmup: 1,
		Metrics: tg.Server.JoinPath("/metrics"), Progress: &progress}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Modes) != 3 || rep.Transport != TransportTLS || rep.Workers != 2 || rep.Rounds != 2 || rep.Count != 3 {
		t.Fatalf("report header: %+v", rep)
	}
	for _, m := range rep.Modes {
		mode, _ := lookup(TransportTLS, m.Mode)
		if m.Sessions != 6 || m.Errors != 0 || len(m.ErrorCodes) != 0 {
			t.Errorf("%s: %d sessions, %d errors %v; want 6 and 0", m.Mode, m.Sessions, m.Errors, m.ErrorCodes)
		}
		var phases []string
		for _, l := range m.Latency {
			phases = append(phases, l.Phase)
			if l.P50 <= 0 || l.P50 > l.P99 || l.P99 > l.Max {
				t.Errorf("%s %s: percentiles out of order: %+v", m.Mode, l.Phase, l)
			}
		}
		if want := append(slices.Clone(mode.Phases), "total"); !slices.Equal(phases, want) {
			t.Errorf("%s: phases %v, want %v", m.Mode, phases, want)
		}
		if len(m.PerRound) != 2 || m.PerRound[0].Sessions+m.PerRound[1].Sessions != 6 {
			t.Errorf("%s: rounds %+v", m.Mode, m.PerRound)
		}
		if m.ServerCPUms == nil || m.ServerAllocB == nil || *m.ServerAllocB <= 0 {
			t.Errorf("%s: server counters not read: cpu %v alloc %v", m.Mode, m.ServerCPUms, m.ServerAllocB)
		}
	}
	if len(rep.Ratios) != 2 || rep.Ratios[0].Mode != "snp" || rep.Ratios[1].Mode != "tdx-separate" {
		t.Fatalf("ratios: %+v", rep.Ratios)
	}
	for _, r := range rep.Ratios {
		if r.Baseline != "plain" || r.P99 == nil || r.P99.Rounds != 2 || r.PerSecond == nil || r.ServerAlloc == nil ||
			r.P99.Min > r.P99.Median || r.P99.Median > r.P99.Max {
			t.Errorf("ratio %+v", r)
		}
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	for _, want := range []string{"seatrx bench: " + tg.Server.String() + " over tls, modes plain, snp, tdx-separate, 2 workers, 2 round(s) of 3 session(s) per mode (their order alternating by round), 1 warm-up",
		"server CPU/session", " attest+receipt ", " receipt ", "ratio to plain, same rounds", "\ntdx-separate  "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil || back.Modes[1].Sessions != 6 || back.Ratios[0].Baseline != "plain" {
		t.Fatalf("JSON round trip: %v %s", err, js)
	}
}

// testTransport registers modes whose sessions fail on purpose, and a
// scenario, so the engine's accounting is checked without a server's help.
const testTransport = "test"

var flaky atomic.Int64

func init() {
	Register(testTransport, &Mode{Name: "flaky", Phases: []string{"only"}, New: func(*Target) (Session, error) {
		return func(context.Context) (Sample, error) {
			switch flaky.Add(1) % 4 {
			case 1:
				return Sample{time.Millisecond}, nil // the probe session always passes
			case 2:
				return nil, &api.Problem{Status: 403, Code: "attest.binding_connection", Detail: "relayed"}
			case 3:
				return nil, &net.OpError{Op: "dial", Err: errors.New("connection refused")}
			}
			return Sample{2 * time.Millisecond}, nil
		}, nil
	}})
}

// Failed sessions are counted by problem code with one example each, and
// the session count covers both outcomes.
func TestRunCountsErrorsByCode(t *testing.T) {
	flaky.Store(0)
	u, _ := url.Parse("https://127.0.0.1:1")
	rep, err := Run(context.Background(), Config{Target: Target{Server: u}, Transport: testTransport, Modes: []string{"flaky"}, Workers: 1, Count: 8})
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Modes[0]
	if m.Sessions != 4 || m.Errors != 4 {
		t.Fatalf("%d ok, %d errors; want 4 and 4", m.Sessions, m.Errors)
	}
	want := []ErrorCount{
		{Code: "attest.binding_connection", Count: 2, Example: "server refused (403 attest.binding_connection): : relayed"},
		{Code: "client.network", Count: 2, Example: "dial: connection refused"},
	}
	if !slices.Equal(m.ErrorCodes, want) {
		t.Fatalf("error codes %+v, want %+v", m.ErrorCodes, want)
	}
	if m.ServerCPUms != nil || rep.Metrics != "" {
		t.Fatalf("server CPU reported without a metrics URL: %v %q", m.ServerCPUms, rep.Metrics)
	}
}

// holdScenario holds n connections from 127.0.0.2 for the whole run.
type holdScenario struct {
	n     int
	mu    sync.Mutex
	conns []net.Conn
}

func (h *holdScenario) Name() string { return "hold" }

func (h *holdScenario) Start(ctx context.Context, t *Target) error {
	for range h.n {
		c, err := t.DialFrom(ctx, net.IPv4(127, 0, 0, 2))
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.conns = append(h.conns, c)
		h.mu.Unlock()
	}
	return nil
}

func (h *holdScenario) Stop() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	held := int64(0)
	for _, c := range h.conns {
		if c.LocalAddr().(*net.TCPAddr).IP.Equal(net.IPv4(127, 0, 0, 2)) {
			held++
		}
		c.Close()
	}
	h.conns = nil
	return map[string]int64{"held_from_127.0.0.2": held}
}

// A scenario runs beside the measured sessions, from its own source
// address, and its counters are in the report.
func TestRunWithScenario(t *testing.T) {
	tg := devServer(t)
	h := &holdScenario{n: 3}
	rep, err := Run(context.Background(), Config{Target: tg, Modes: []string{"plain"}, Workers: 2, Count: 4, Scenarios: []Scenario{h}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Modes[0].Sessions != 4 || rep.Scenarios["hold"]["held_from_127.0.0.2"] != 3 {
		t.Fatalf("sessions %d, scenarios %v", rep.Modes[0].Sessions, rep.Scenarios)
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "\nscenarios\n  hold: held_from_127.0.0.2=3\n") {
		t.Fatalf("text report:\n%s", text.String())
	}
}

// The first session of each mode is a probe: a server that refuses it
// stops the run before any measurement, with the server's problem.
func TestRunStopsWhenTheFirstSessionFails(t *testing.T) {
	tg := devServer(t)
	other, err := sim.Generate(time.Now().Add(-time.Hour)) // a PKI the server does not trust
	if err != nil {
		t.Fatal(err)
	}
	tg.SimPKI = other
	_, err = Run(context.Background(), Config{Target: tg, Modes: []string{"plain", "snp"}, Workers: 1, Count: 1})
	var p *api.Problem
	if !errors.As(err, &p) || !strings.HasPrefix(p.Code, "snp.") || !strings.Contains(err.Error(), "mode snp: the first session failed") {
		t.Fatalf("got %v, want the server's snp.* problem", err)
	}
}

// Bad configurations are refused before anything is sent, naming the field.
func TestConfigErrors(t *testing.T) {
	u, _ := url.Parse("https://127.0.0.1:8443")
	elsewhere, _ := url.Parse("https://192.0.2.1/metrics")
	ok := Config{Target: Target{Server: u}, Modes: []string{"plain"}, Workers: 1, Duration: time.Second}
	for _, tc := range []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"unbounded", func(c *Config) { c.Duration = 0 }, "Duration"},
		{"too long", func(c *Config) { c.Duration = 2 * time.Hour }, "Duration"},
		{"too short", func(c *Config) { c.Duration = time.Millisecond }, "Duration"},
		{"negative count", func(c *Config) { c.Count = -1 }, "Count"},
		{"no workers", func(c *Config) { c.Workers = 0 }, "Workers"},
		{"too many workers", func(c *Config) { c.Workers = MaxWorkers + 1 }, "Workers"},
		{"too many rounds", func(c *Config) { c.Rounds = MaxRounds + 1 }, "Rounds"},
		{"no modes", func(c *Config) { c.Modes = nil }, "Modes"},
		{"mode twice", func(c *Config) { c.Modes = []string{"plain", "plain"} }, "Modes"},
		{"unknown mode", func(c *Config) { c.Modes = []string{"sgx"} }, "Modes"},
		{"unknown transport", func(c *Config) { c.Transport = "quic" }, "Transport"},
		{"metrics elsewhere", func(c *Config) { c.Metrics = elsewhere }, "Metrics"},
		{"http server", func(c *Config) { c.Server = &url.URL{Scheme: "http", Host: "127.0.0.1:80"} }, "Server"},
		{"snp without a simulated PKI", func(c *Config) { c.Modes = []string{"snp"} }, "SimPKI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			_, err := Run(context.Background(), c)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("got %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
}

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&api.Problem{Code: "store.closed"}, "store.closed"},
		{&net.OpError{Op: "read", Err: errors.New("reset")}, "client.network"},
		{io.ErrUnexpectedEOF, "client.network"},
		{context.DeadlineExceeded, "client.timeout"},
		{errors.New("what"), "client.error"},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestHistogram(t *testing.T) {
	h := newHistogram()
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.9, 900 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if d := float64(got-tc.want) / float64(tc.want); d < -0.011 || d > 0.011 {
			t.Errorf("q%.2f = %s, want %s within 1%%", tc.q, got, tc.want)
		}
	}
	if h.max != time.Second || h.quantile(1) != time.Second {
		t.Errorf("max %s, q1 %s", h.max, h.quantile(1))
	}
	o := newHistogram()
	o.add(time.Hour)
	h.merge(o)
	if h.n != 1001 || h.max != time.Hour {
		t.Errorf("merged: n %d max %s", h.n, h.max)
	}
}

func TestParseMetrics(t *testing.T) {
	body := []byte(`# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
go_memstats_alloc_bytes_total 1.68352e+06 1700000000000
seatrx_attestations_total{result="ok"} 3
process_cpu_seconds_total_extra 99
`)
	got := parseMetrics(body, metricCPU, metricAlloc, metricMallocs)
	if len(got) != 2 || got[metricCPU] != 12.5 || got[metricAlloc] != 1683520 {
		t.Fatalf("got %v", got)
	}
}

// The scraper reads a live server's counters, and refuses a page without them.
func TestScraper(t *testing.T) {
	tg := devServer(t)
	st, err := newScraper(tg.Server.JoinPath("/metrics"), tg.Roots).read(context.Background())
	if err != nil || st.cpu <= 0 || !st.hasAlloc {
		t.Fatalf("read: %+v %v", st, err)
	}
	_, err = newScraper(tg.Server.JoinPath("/healthz"), tg.Roots).read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "has no process_cpu_seconds_total") {
		t.Fatalf("healthz as metrics: %v", err)
	}
	_, err = newScraper(tg.Server.JoinPath("/nope"), tg.Roots).read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "answered HTTP 404") {
		t.Fatalf("404 as metrics: %v", err)
	}
}
