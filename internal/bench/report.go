package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a run's outcome; its JSON form is `seatrx bench --json`.
// Durations are in milliseconds, sizes in bytes. A figure that could not be
// measured (no metrics, no getrusage) is absent.
type Report struct {
	Server          string       `json:"server"`
	Metrics         string       `json:"metrics_url,omitempty"`
	Transport       string       `json:"transport"`
	Workers         int          `json:"workers"`
	Rounds          int          `json:"rounds"`
	DurationSeconds float64      `json:"duration_s,omitempty"` // per mode per round
	Count           int          `json:"count,omitempty"`      // per mode per round
	Warmup          int          `json:"warmup"`
	DriverCPUs      int          `json:"driver_cpus"`
	LoadBefore      string       `json:"load_average_before,omitempty"`
	LoadAfter       string       `json:"load_average_after,omitempty"`
	Modes           []ModeReport `json:"modes"`
	// Ratios compare every mode but the first to the first (the baseline),
	// round by round.
	Ratios    []Ratio                     `json:"ratios,omitempty"`
	Scenarios map[string]map[string]int64 `json:"scenarios,omitempty"`
	// RSS is the server's resident memory around the scenarios.
	RSS *RSSReport `json:"server_rss,omitempty"`
}

// ModeReport is one mode over all rounds.
type ModeReport struct {
	Mode        string       `json:"mode"`
	Sessions    int64        `json:"sessions"` // completed without error
	Errors      int64        `json:"errors"`
	ErrorCodes  []ErrorCount `json:"error_codes,omitempty"`
	WallSeconds float64      `json:"wall_s"`
	PerSecond   float64      `json:"sessions_per_s"`
	// Per completed session, over all rounds.
	ServerCPUms   *float64  `json:"server_cpu_ms_per_session,omitempty"`
	ServerCores   *float64  `json:"server_cpu_cores,omitempty"` // server CPU time / wall time
	ServerAllocB  *float64  `json:"server_alloc_bytes_per_session,omitempty"`
	ServerMallocs *float64  `json:"server_mallocs_per_session,omitempty"`
	DriverCPUms   *float64  `json:"driver_cpu_ms_per_session,omitempty"`
	DriverCores   *float64  `json:"driver_cpu_cores,omitempty"`
	Latency       []Latency `json:"latency"`
	PerRound      []Round   `json:"rounds"`
}

// ErrorCount is how many sessions failed with one code, with one message.
type ErrorCount struct {
	Code    string `json:"code"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// Latency is one phase's percentiles (ms) over all rounds; the last phase
// of every mode is "total", the whole session as the worker timed it.
type Latency struct {
	Phase string  `json:"phase"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// Round is one mode's measurement in one round.
type Round struct {
	Sessions    int64    `json:"sessions"`
	Errors      int64    `json:"errors"`
	WallSeconds float64  `json:"wall_s"`
	PerSecond   float64  `json:"sessions_per_s"`
	P99ms       float64  `json:"p99_total_ms"`
	ServerCPUms *float64 `json:"server_cpu_ms_per_session,omitempty"`
	ServerAlloc *float64 `json:"server_alloc_bytes_per_session,omitempty"`
}

// Ratio is a mode against the baseline: per round, mode figure / baseline
// figure of the same round, summarised over the rounds.
type Ratio struct {
	Mode        string  `json:"mode"`
	Baseline    string  `json:"baseline"`
	ServerCPU   *Spread `json:"server_cpu_per_session,omitempty"`
	ServerAlloc *Spread `json:"server_alloc_per_session,omitempty"`
	P99         *Spread `json:"p99_total"`
	PerSecond   *Spread `json:"sessions_per_s"`
}

// Spread is the median and range of a ratio over the rounds in which both
// modes completed sessions.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Rounds int     `json:"rounds"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr(f float64) *float64 { return &f }

func (rep *Report) build(runs []*modeRun) {
	for _, r := range runs {
		rep.Modes = append(rep.Modes, r.report())
	}
	base := runs[0]
	for _, r := range runs[1:] {
		ra := Ratio{Mode: r.mode.Name, Baseline: base.mode.Name}
		var cpu, alloc, p99, rate []float64
		for i, x := range r.rounds {
			b := base.rounds[i]
			if x.ok == 0 || b.ok == 0 {
				continue
			}
			if x.serverCPU >= 0 && b.serverCPU > 0 {
				cpu = append(cpu, (float64(x.serverCPU)/float64(x.ok))/(float64(b.serverCPU)/float64(b.ok)))
			}
			if x.alloc >= 0 && b.alloc > 0 {
				alloc = append(alloc, (x.alloc/float64(x.ok))/(b.alloc/float64(b.ok)))
			}
			if bp := b.total().quantile(0.99); bp > 0 {
				p99 = append(p99, float64(x.total().quantile(0.99))/float64(bp))
			}
			rate = append(rate, (float64(x.ok)/x.wall.Seconds())/(float64(b.ok)/b.wall.Seconds()))
		}
		ra.ServerCPU, ra.ServerAlloc, ra.P99, ra.PerSecond = spread(cpu), spread(alloc), spread(p99), spread(rate)
		rep.Ratios = append(rep.Ratios, ra)
	}
}

func (r *roundResult) total() *histogram { return r.hists[len(r.hists)-1] }

func (r *modeRun) report() ModeReport {
	m := ModeReport{Mode: r.mode.Name}
	phases := append(slices.Clone(r.mode.Phases), "total")
	hists := make([]*histogram, len(phases))
	for i := range hists {
		hists[i] = newHistogram()
	}
	errs := map[string]*errorCount{}
	var wall, serverCPU, driverCPU time.Duration
	var alloc, mallocs float64
	haveCPU, haveAlloc, haveDriver := true, true, true
	for _, x := range r.rounds {
		m.Sessions += x.ok
		m.Errors += x.failed
		wall += x.wall
		for i, h := range x.hists {
			hists[i].merge(h)
		}
		for code, ec := range x.errs {
			if o := errs[code]; o != nil {
				o.n += ec.n
			} else {
				errs[code] = &errorCount{n: ec.n, example: ec.example}
			}
		}
		haveCPU = haveCPU && x.serverCPU >= 0
		haveAlloc = haveAlloc && x.alloc >= 0
		haveDriver = haveDriver && x.driverCPU >= 0
		serverCPU += x.serverCPU
		alloc += x.alloc
		mallocs += x.mallocs
		driverCPU += x.driverCPU
		rd := Round{Sessions: x.ok, Errors: x.failed, WallSeconds: x.wall.Seconds(), PerSecond: float64(x.ok) / x.wall.Seconds(),
			P99ms: ms(x.total().quantile(0.99))}
		if x.ok > 0 && x.serverCPU >= 0 {
			rd.ServerCPUms = ptr(ms(x.serverCPU) / float64(x.ok))
		}
		if x.ok > 0 && x.alloc >= 0 {
			rd.ServerAlloc = ptr(x.alloc / float64(x.ok))
		}
		m.PerRound = append(m.PerRound, rd)
	}
	m.WallSeconds = wall.Seconds()
	if wall > 0 {
		m.PerSecond = float64(m.Sessions) / wall.Seconds()
	}
	n := float64(m.Sessions)
	if n > 0 && haveCPU {
		m.ServerCPUms, m.ServerCores = ptr(ms(serverCPU)/n), ptr(serverCPU.Seconds()/wall.Seconds())
	}
	if n > 0 && haveAlloc {
		m.ServerAllocB, m.ServerMallocs = ptr(alloc/n), ptr(mallocs/n)
	}
	if n > 0 && haveDriver {
		m.DriverCPUms, m.DriverCores = ptr(ms(driverCPU)/n), ptr(driverCPU.Seconds()/wall.Seconds())
	}
	for i, p := range phases {
		h := hists[i]
		m.Latency = append(m.Latency, Latency{Phase: p, P50: ms(h.quantile(0.5)), P90: ms(h.quantile(0.9)), P99: ms(h.quantile(0.99)), Max: ms(h.max)})
	}
	for code, ec := range errs {
		m.ErrorCodes = append(m.ErrorCodes, ErrorCount{Code: code, Count: ec.n, Example: ec.example})
	}
	sort.Slice(m.ErrorCodes, func(i, j int) bool {
		a, b := m.ErrorCodes[i], m.ErrorCodes[j]
		return a.Count > b.Count || (a.Count == b.Count && a.Code < b.Code)
	})
	return m
}

func spread(xs []float64) *Spread {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return &Spread{Median: med, Min: s[0], Max: s[len(s)-1], Rounds: len(s)}
}

// WriteText prints the report for people.
func (rep *Report) WriteText(w io.Writer) {
	bound := []string{}
	if rep.DurationSeconds > 0 {
		bound = append(bound, fmt.Sprintf("%gs", rep.DurationSeconds))
	}
	if rep.Count > 0 {
		bound = append(bound, fmt.Sprintf("%d session(s)", rep.Count))
	}
	var names []string
	for _, m := range rep.Modes {
		names = append(names, m.Mode)
	}
	order := ""
	if len(names) > 1 {
		order = " (their order alternating by round)"
	}
	fmt.Fprintf(w, "seatrx bench: %s over %s, modes %s, %d workers, %d round(s) of %s per mode%s, %d warm-up sessions per mode\n",
		rep.Server, rep.Transport, strings.Join(names, ", "), rep.Workers, rep.Rounds, strings.Join(bound, " or "), order, rep.Warmup)
	load := ""
	if rep.LoadBefore != "" {
		load = fmt.Sprintf(", load average %s before and %s after", rep.LoadBefore, rep.LoadAfter)
	}
	src := "server CPU and allocation from " + rep.Metrics
	if rep.Metrics == "" {
		src = "server CPU not measured (no metrics URL)"
	}
	fmt.Fprintf(w, "driver: %d CPUs%s; %s\n\n", rep.DriverCPUs, load, src)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tsessions\terrors\tsessions/s\tserver CPU/session\tserver cores\tserver alloc/session\tdriver CPU/session\tdriver cores\t")
	for _, m := range rep.Modes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", m.Mode, m.Sessions, m.Errors, m.PerSecond,
			opt(m.ServerCPUms, "%.3f ms"), opt(m.ServerCores, "%.2f"), allocText(m.ServerAllocB, m.ServerMallocs),
			opt(m.DriverCPUms, "%.3f ms"), opt(m.DriverCores, "%.2f"))
	}
	tw.Flush()

	fmt.Fprintln(w, "\nlatency (ms, all rounds)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tphase\tp50\tp90\tp99\tmax\t")
	for _, m := range rep.Modes {
		for _, l := range m.Latency {
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t\n", m.Mode, l.Phase, l.P50, l.P90, l.P99, l.Max)
		}
	}
	tw.Flush()

	var anyErr bool
	for _, m := range rep.Modes {
		for _, e := range m.ErrorCodes {
			if !anyErr {
				fmt.Fprintln(w, "\nerrors by code")
				anyErr = true
			}
			fmt.Fprintf(w, "  %s  %s  %d  e.g. %s\n", m.Mode, e.Code, e.Count, e.Example)
		}
	}

	if len(rep.Ratios) > 0 {
		fmt.Fprintf(w, "\nratio to %s, same rounds (median [min-max] over rounds)\n", rep.Ratios[0].Baseline)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "mode\tserver CPU/session\tserver alloc/session\tp99 total\tsessions/s\trounds")
		for _, r := range rep.Ratios {
			rounds := 0
			for _, s := range []*Spread{r.ServerCPU, r.ServerAlloc, r.P99, r.PerSecond} {
				if s != nil {
					rounds = max(rounds, s.Rounds)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.Mode, r.ServerCPU, r.ServerAlloc, r.P99, r.PerSecond, rounds)
		}
		tw.Flush()
	}
	if len(rep.Scenarios) > 0 {
		fmt.Fprintln(w, "\nscenarios")
		var names []string
		for n := range rep.Scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			var kv []string
			for k, v := range rep.Scenarios[n] {
				kv = append(kv, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(kv)
			fmt.Fprintf(w, "  %s: %s\n", n, strings.Join(kv, " "))
		}
	}
	if r := rep.RSS; r != nil {
		rec := fmt.Sprintf("not within 2x idle after %.0f s", r.WaitedSeconds)
		if r.RecoveredSeconds != nil {
			rec = fmt.Sprintf("within 2x idle after %.1f s", *r.RecoveredSeconds)
		}
		fmt.Fprintf(w, "\nserver RSS (%s): idle %s, peak %s, at stop %s, then %s (%s)\n", r.Source,
			mib(r.IdleBytes), mib(r.PeakBytes), mib(r.AtStopBytes), mib(r.AfterBytes), rec)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func (s *Spread) String() string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fx [%.2f-%.2f]", s.Median, s.Min, s.Max)
}

func opt(f *float64, format string) string {
	if f == nil || math.IsNaN(*f) {
		return "-"
	}
	return fmt.Sprintf(format, *f)
}

func allocText(b, n *float64) string {
	if b == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f KB, %.0f allocs", *b/1024, *n)
}
