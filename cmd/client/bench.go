package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/seatrx/seatrx/internal/bench"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/fdlimit"
	"github.com/seatrx/seatrx/internal/keyfile"
)

// Defaults of seatrx bench.
const (
	benchWorkers        = 8
	benchWarmup         = 16
	benchCompareRounds  = 9
	benchMetricsOff     = "off"
	benchMetricsDefault = "SERVER/metrics"
)

func benchCommand() *cli.Command {
	modeHelp := func() string {
		var b strings.Builder
		for _, t := range bench.Transports() {
			for _, m := range bench.Modes(t) {
				fmt.Fprintf(&b, "\n  %-6s (%s) %s", m, t, bench.Describe(t, m))
			}
		}
		return b.String()
	}
	return &cli.Command{
		Name:    "bench",
		Summary: "measure a server under load: sessions/s, latency, and the server's CPU per session",
		Usage:   "--server URL [--dev DIR | --ca FILE] (--mode MODE | --compare A,B,...) (--duration D | --count N) [flags]",
		Doc: `Bench runs --workers concurrent workers, each repeating whole sessions on
fresh connections, and reports sessions/s, errors by problem code, latency
percentiles per phase, the server's CPU time and heap allocation per session
(its own process_cpu_seconds_total and go_memstats_alloc_bytes_total, read
from --metrics before and after each measurement) and this process's CPU
time (getrusage), which shows whether the driver was the bottleneck.
--compare runs the modes interleaved in --rounds rounds (the order
alternating) and prints each one's ratio to the first, measured in the same
rounds: median and range over the rounds. Run the server as a separate
process for CPU figures that are the server's alone.

A run is bounded: --duration or --count (or both: whichever comes first)
applies to each mode in each round. It sends only to --server and to
--metrics, which must be on the same host. The server serves its metrics
with --metrics-on-main (at SERVER/metrics, the default here) or on its own
loopback listener (--metrics-addr; pass that URL). Modes:` + modeHelp() + `

--scenario runs hostile load beside the measured sessions: --attackers
connections, each from a loopback source address of its own group
(127.0.0.2 and up, --per-address per address; measured sessions come from
127.0.0.1), started over --ramp before the measurement and redialled 1-2 s
after the server closes one, so the scenario holds as many as the server
lets it:
  idle-h2         TLS, HTTP/2 preface and SETTINGS, then nothing
  keepalive-poll  TLS, HTTP/1.1 GET /healthz every 20-60 s on one connection
  slowloris       TLS, HTTP/1.1 request header sent a line every 2 s, never ended
  h2-streams      TLS, HTTP/2, as many POST /v1/attest streams as allowed,
                  each sending all but 1 byte of a 256 KiB body
  conn-flood      TCP connect, nothing sent
The attackers run in a process of their own (this program, re-executed),
as they are not the measured client; --attacker-nice N lowers that
process's priority, so that on one machine the attackers' own CPU does not
come out of the server's and the measured client's share, as with
attackers elsewhere; --attackers-in-process keeps them in this process.
The report adds the scenario's counters and the server's RSS: idle before,
peak during, and how long after the attack it took to come back within 2x
idle (waiting up to --recovery), from /proc/PID/status with --server-pid,
else from the server's process_resident_memory_bytes. The open-file limit
is raised to its hard limit (ulimit -Hn); --attackers beyond it is refused.

Example, against seatrx-server --dev --data /tmp/d --metrics-on-main:
  seatrx bench --server https://127.0.0.1:8443 --dev /tmp/d/dev \
      --compare plain,snp --duration 5s --workers 8
  seatrx bench --server https://127.0.0.1:8443 --dev /tmp/d/dev --mode snp \
      --count 100 --duration 60s --workers 2 --metrics off \
      --scenario idle-h2 --attackers 10000 --server-pid $(pidof seatrx-server)`,
		Required: []string{"server"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			srv := fs.String("server", "", "server base `URL`, e.g. https://127.0.0.1:8443")
			dev := fs.String("dev", "", "a dev server's client files (`DIR`, the server's DATA/dev): its CA and the simulated TEE PKI the snp and tdx modes attest with")
			caFile := fs.String("ca", "", "CA certificates (PEM `FILE`) to verify the server; default system roots")
			var transport string
			cli.EnumVar(fs, &transport, "transport", bench.TransportTLS, bench.Transports(), "how sessions reach the server")
			dtlsAddr := fs.String("dtls-addr", "", "with --transport dtls: the server's DTLS listener `HOST:PORT` (its --dtls); default the --server host and port")
			mode := fs.String("mode", "", "the one `MODE` to run (see above)")
			compare := fs.String("compare", "", "`MODES` to run interleaved, comma-separated; ratios are to the first, e.g. plain,snp")
			var o bench.Config
			cli.IntVar(fs, &o.Workers, "workers", benchWorkers, 1, bench.MaxWorkers, "concurrent workers, each on its own connections")
			cli.DurationVar(fs, &o.Duration, "duration", 0, bench.MinDuration, "bound of each mode's measurement in each round (at most 1h)")
			cli.IntVar(fs, &o.Count, "count", 0, 0, bench.MaxCount, "sessions of each mode in each round (0: bounded by --duration only)")
			cli.IntVar(fs, &o.Rounds, "rounds", 0, 0, bench.MaxRounds, fmt.Sprintf("rounds (0: 1, or %d with --compare)", benchCompareRounds))
			cli.IntVar(fs, &o.Warmup, "warmup", benchWarmup, 0, bench.MaxWarmup, "unmeasured sessions of each mode before the first round")
			metrics := fs.String("metrics", benchMetricsDefault, "the server's Prometheus `URL` (on the server's host), or "+benchMetricsOff+" not to measure the server")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			quiet := fs.Bool("quiet", false, "no progress line on stderr")
			cli.DurationVar(fs, &o.ConnectTimeout, "connect-timeout", client.DefaultConnectTimeout, time.Millisecond, "bound on each TCP connect")
			cli.DurationVar(fs, &o.HandshakeTimeout, "tls-timeout", client.DefaultHandshakeTimeout, time.Millisecond, "bound on each TLS handshake")
			cli.DurationVar(fs, &o.RequestTimeout, "request-timeout", client.DefaultRequestTimeout, time.Millisecond, "bound on each request, the server's work included")
			var scenario string
			cli.EnumVar(fs, &scenario, "scenario", "", append([]string{""}, bench.Scenarios()...), "hostile `SCENARIO` run beside the measured sessions: "+strings.Join(bench.Scenarios(), ", ")+" (see above)")
			var attackers, perAddr int
			var ramp time.Duration
			cli.IntVar(fs, &attackers, "attackers", 1000, 1, bench.MaxAttackers, "attacker connections of --scenario")
			cli.IntVar(fs, &perAddr, "per-address", bench.DefaultPerAddress, 1, 60_000, "attacker connections per loopback source address (127.0.0.2 and up)")
			cli.DurationVar(fs, &ramp, "ramp", 20*time.Second, 0, "time over which the attackers start, before the measurement")
			cli.IntVar(fs, &o.ServerPID, "server-pid", 0, 0, 1<<22, "the server's process id on this host, to read its RSS from /proc (default: its "+"process_resident_memory_bytes metric)")
			inProcess := fs.Bool("attackers-in-process", false, "run --scenario's attackers in this process (default: a process of their own, as attackers are not the measured client)")
			var nice int
			cli.IntVar(fs, &nice, "attacker-nice", 0, 0, 19, "niceness of the attacker process (Linux): above 0, the attackers yield the machine's CPU to the server and the measured sessions, as attackers on other machines would")
			cli.DurationVar(fs, &o.Recovery, "recovery", bench.DefaultRecovery, 0, "with --scenario, how long to wait after the attack for the server's RSS to return within 2x idle")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if err := cli.Conflict(fs, "ca", "dev", "--dev already names the dev server's CA"); err != nil {
					return err
				}
				if err := cli.Conflict(fs, "mode", "compare", "--compare names every mode to run"); err != nil {
					return err
				}
				switch {
				case *mode != "":
					o.Modes = []string{*mode}
				case *compare != "":
					o.Modes = strings.Split(*compare, ",")
					if len(o.Modes) < 2 {
						return cli.Usagef("--compare %q: want at least two modes, e.g. plain,snp", *compare)
					}
					if o.Rounds == 0 {
						o.Rounds = benchCompareRounds
					}
				default:
					return cli.Usagef("missing --mode or --compare (modes: %s)", cli.OneOf(bench.Modes(transport)))
				}
				for _, m := range o.Modes {
					if !slices.Contains(bench.Modes(transport), m) {
						return cli.Usagef("unknown mode %q for --transport %s (want %s)", m, transport, cli.OneOf(bench.Modes(transport)))
					}
				}
				if o.Duration == 0 && o.Count == 0 {
					return cli.Usagef("a bench needs a bound: --duration D or --count N (per mode, per round)")
				}
				u, err := url.Parse(*srv)
				if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
					return cli.Usagef("--server %q: want https://host:port", *srv)
				}
				u.Path = ""
				o.Server, o.Transport = u, transport
				switch {
				case transport == bench.TransportDTLS && *dtlsAddr == "":
					o.DTLSAddr = u.Host
				case transport == bench.TransportDTLS:
					o.DTLSAddr = *dtlsAddr
				case *dtlsAddr != "":
					return cli.Usagef("--dtls-addr needs --transport %s", bench.TransportDTLS)
				}
				switch *metrics {
				case benchMetricsOff:
				case benchMetricsDefault:
					o.Metrics = u.JoinPath("/metrics")
				default:
					m, err := url.Parse(*metrics)
					if err != nil || (m.Scheme != "https" && m.Scheme != "http") || m.Hostname() != u.Hostname() {
						return cli.Usagef("--metrics %q: want an http(s) URL on the server's host %s, or %s", *metrics, u.Hostname(), benchMetricsOff)
					}
					o.Metrics = m
				}
				if *dev != "" {
					if o.Roots, o.SimPKI, err = devFiles(*dev); err != nil {
						return err
					}
				}
				if *caFile != "" {
					cas, err := keyfile.LoadCertificates(*caFile)
					if err != nil {
						return fmt.Errorf("--ca: %w", err)
					}
					o.Roots = x509.NewCertPool()
					for _, c := range cas {
						o.Roots.AddCert(c)
					}
				}
				if !*quiet {
					o.Progress = env.Stderr
				}
				if scenario == "" {
					for _, f := range []string{"attackers", "per-address", "ramp", "recovery", "attackers-in-process", "attacker-nice"} {
						if isFlagSet(fs, f) {
							return cli.Usagef("--%s needs --scenario", f)
						}
					}
				} else {
					if *inProcess && nice != 0 {
						return cli.Usagef("--attacker-nice needs the attackers in a process of their own (not --attackers-in-process)")
					}
					var sc bench.Scenario
					var err error
					if *inProcess {
						sc, err = bench.NewScenario(scenario, attackers, perAddr, ramp)
					} else {
						sc, err = bench.NewScenarioProcess(scenario, attackers, perAddr, ramp, nice)
					}
					var ce *bench.ConfigError
					if errors.As(err, &ce) {
						return cli.Usagef("--%s: %s", benchFlags[ce.Field], ce.Reason)
					} else if err != nil {
						return err
					}
					o.Scenarios = []bench.Scenario{sc}
					// Every attacker connection is a file descriptor.
					soft, _, err := fdlimit.Raise()
					if err == nil && soft > 0 && uint64(attackers)+256 > soft {
						return cli.Usagef("--attackers %d: the open-file limit is %d (ulimit -n; raise the hard limit)", attackers, soft)
					}
				}
				return runBench(env, o, *asJSON)
			}
		},
	}
}

// benchFlags names the flag that sets each bench.Config field.
var benchFlags = map[string]string{
	"Server": "server", "Transport": "transport", "Modes": "mode", "Workers": "workers", "Duration": "duration",
	"Count": "count", "Rounds": "rounds", "Warmup": "warmup", "Metrics": "metrics", "SimPKI": "dev", "DTLSAddr": "dtls-addr",
	"Scenarios": "scenario", "Attackers": "attackers", "PerAddress": "per-address", "ServerPID": "server-pid", "Recovery": "recovery",
	"AttackerNice": "attacker-nice",
}

// isFlagSet reports whether name was given on the command line.
func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func runBench(env *cli.Env, o bench.Config, asJSON bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted: no report")
	}
	var ce *bench.ConfigError
	if errors.As(err, &ce) {
		return cli.Usagef("--%s: %s", benchFlags[ce.Field], ce.Reason)
	}
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(env.Stdout)
	return nil
}
