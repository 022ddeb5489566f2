package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/clitest"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/pgtest"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt/store" // also the sqlite driver, to count what prefill wrote
)

// seatrxServer is the built server binary the CLI tests run.
var seatrxServer string

func TestMain(m *testing.M) {
	os.Exit(clitest.Main(m, func(bin map[string]string) { seatrxServer = bin["seatrx-server"] }, "seatrx-server"))
}

func srv(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, seatrxServer, args...)
}

func TestHelpAndVersion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "usage: seatrx-server (--dev | --tls-cert FILE --tls-key FILE --issuer URI --data DIR) [--config FILE] [flags]\n       seatrx-server <command> [arguments]\n"},
		{[]string{"--help"}, "  --max-unattested-conns N\n    \tmaximum concurrent connections not yet attested; when reached, a newcomer evicts the oldest of the busiest address, or gets 503 (docs/OPERATIONS.md) (default 1024)\n"},
		{[]string{"help"}, "  --config FILE\n"},
		{[]string{"help", "version"}, "usage: seatrx-server version [flags]"},
		{[]string{"version", "--help"}, "usage: seatrx-server version [flags]"},
	} {
		if r := srv(t, tc.args...); r.Code != 0 || !strings.Contains(r.Stdout, tc.want) {
			t.Errorf("%q: %s\nwant stdout with %q", tc.args, r, tc.want)
		}
	}
	a, b := srv(t, "--version"), srv(t, "version")
	if a.Code != 0 || a.Stdout != b.Stdout || !strings.HasPrefix(a.Stdout, "seatrx-server ") || !strings.Contains(a.Stdout, "built with "+runtime.Version()) {
		t.Fatalf("--version: %s\nversion: %s", a, b)
	}
}

// Bad command lines and configuration exit 2 naming the flag or key and
// what it allows, and never a Go type.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key := testCert(t, dir)
	prod := []string{"--tls-cert", cert, "--tls-key", key, "--issuer", "urn:seatrx:issuer:test", "--data", filepath.Join(dir, "data")}
	cfg := func(body string) string {
		p := filepath.Join(t.TempDir(), "server.yaml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "seatrx-server: flag provided but not defined: -nope"},
		{"unknown command", []string{"serve"}, `seatrx-server: unknown command "serve" (want keys, prefill, version or help)`},
		{"log format typo", []string{"--dev", "--log-format", "jsn"}, `invalid value "jsn" for flag -log-format: want text or json`},
		{"zero conns", []string{"--dev", "--max-unattested-conns", "0"}, `invalid value "0" for flag -max-unattested-conns: want a whole number from 1 to 1048576`},
		{"negative conns", []string{"--dev", "--max-unattested-conns", "-5"}, `invalid value "-5" for flag -max-unattested-conns`},
		{"zero per address", []string{"--dev", "--max-unattested-per-address", "0"}, `invalid value "0" for flag -max-unattested-per-address: want a whole number from 1 to 1048576`},
		{"zero deadline", []string{"--dev", "--unattested-timeout", "0s"}, `invalid value "0s" for flag -unattested-timeout: want a duration of at least 100ms`},
		{"streams over", []string{"--dev", "--max-unattested-streams", "101"}, `invalid value "101" for flag -max-unattested-streams: want a whole number from 1 to 100`},
		{"negative attested", []string{"--dev", "--max-attested-conns", "-1"}, `invalid value "-1" for flag -max-attested-conns: want a whole number from 1 to 1048576`},
		{"zero idle", []string{"--dev", "--attested-idle-timeout", "0s"}, `invalid value "0s" for flag -attested-idle-timeout: want a duration of at least 1s`},
		{"tiny body buffer", []string{"--dev", "--max-body-buffer", "1KiB"}, `invalid value "1KiB" for flag -max-body-buffer: want a size from 1MiB to 1024GiB`},
		{"config zero streams", []string{"--config", cfg("max_unattested_streams: 0\n")}, `server.yaml:1: max_unattested_streams: invalid value "0": want a whole number from 1 to 100`},
		{"config negative deadline", []string{"--config", cfg("unattested_timeout: -10s\n")}, `server.yaml:1: unattested_timeout: invalid value "-10s": want a duration of at least 100ms`},
		{"negative duration", []string{"--dev", "--shutdown-timeout", "-1s"}, `invalid value "-1s" for flag -shutdown-timeout: want a duration of 0 or more`},
		{"zero max age", []string{"--dev", "--attestation-max-age", "0s"}, `for flag -attestation-max-age: want a duration of at least 1s`},
		{"addr without port", []string{"--dev", "--addr", "8443"}, `invalid value "8443" for flag -addr: want HOST:PORT`},
		{"addr bad port", []string{"--dev", "--addr", "localhost:https"}, `port "https": want a number from 0 to 65535`},
		{"pprof on the network", []string{"--dev", "--pprof", "0.0.0.0:6060"}, `invalid value "0.0.0.0:6060" for flag -pprof: host "0.0.0.0": this listener is for loopback only`},
		{"memory limit unit", []string{"--dev", "--memory-limit", "1.5GiB"}, `invalid value "1.5GiB" for flag -memory-limit: want a size from 0 to 1024GiB`},
		{"prefill without a count", []string{"prefill", "--data", dir}, "seatrx-server prefill: missing required flag --receipts"},
		{"prefill count", []string{"prefill", "--data", dir, "--receipts", "0"}, `invalid value "0" for flag -receipts: want a whole number from 1 to 10000000`},
		{"pprof without port", []string{"--dev", "--pprof", "6060"}, `invalid value "6060" for flag -pprof: want a loopback HOST:PORT`},
		{"metrics on the network", []string{"--dev", "--metrics-addr", "0.0.0.0:9464"}, `invalid value "0.0.0.0:9464" for flag -metrics-addr: host "0.0.0.0": this listener is for loopback only`},
		{"auditor without algorithm", []string{"--dev", "--auditor", strings.Repeat("ab", 32)}, `for flag -auditor: "` + strings.Repeat("ab", 32) + `": want sha256: and 64 hex digits`},
		{"auditor short", []string{"--dev", "--auditor", "sha256:abcd"}, `for flag -auditor: "sha256:abcd": want sha256: and 64 hex digits`},
		{"auditor second bad", []string{"--dev", "--auditor", "sha256:" + strings.Repeat("ab", 32) + ",sha256:zz"}, `"sha256:zz": want sha256: and 64 hex digits`},
		{"negative retention", []string{"--dev", "--receipt-retention", "-1h"}, `invalid value "-1h" for flag -receipt-retention: want a duration of 0 or more`},
		{"prune interval zero", []string{"--dev", "--prune-interval", "0s"}, `for flag -prune-interval: want a duration of at least 1s`},
		{"attester", []string{"--dev", "--attester", "sgx"}, `invalid value "sgx" for flag -attester: want snp, tdx, sim-snp or sim-tdx, or empty`},
		{"profiles typo", []string{"--dev", "--profiles", "expat-04,cocs"}, `invalid value "expat-04,cocs" for flag -profiles: unknown profile "cocs" (known: expat-04, expat-03, cocos, rust-ref)`},
		{"profiles repeated", []string{"--dev", "--profiles", "cocos,cocos"}, `profile "cocos" listed twice`},
		{"config profiles", []string{"--config", cfg("profiles: expat-05\n")}, `server.yaml:1: profiles: invalid value "expat-05": unknown profile "expat-05"`},
		{"nothing", nil, "seatrx-server: --data is required outside --dev"},
		{"no TLS", []string{"--data", dir}, "seatrx-server: --tls-cert, --tls-key and --issuer are required outside --dev"},
		{"no issuer", []string{"--tls-cert", cert, "--tls-key", key, "--data", dir}, "seatrx-server: --issuer is required outside --dev"},
		{"dev and cert", []string{"--dev", "--tls-cert", cert}, "--tls-cert and --tls-key cannot be used with --dev"},
		{"extra argument", append(prod, "now"), `seatrx-server: unknown command "now" (want keys, prefill, version or help)`},
		{"config unknown key", []string{"--config", cfg("addr: 127.0.0.1:9443\nadr: typo\n")}, `server.yaml:2: unknown key "adr"; known keys: addr, allow_simulated,`},
		{"config dashed key", []string{"--config", cfg("tls-cert: x\n")}, `server.yaml:1: unknown key "tls-cert" (keys use underscores: tls_cert)`},
		{"config bad value", []string{"--config", cfg("# limits\n\nmax_unattested_conns: 0\n")}, `server.yaml:3: max_unattested_conns: invalid value "0": want a whole number from 1 to 1048576`},
		{"config bad duration", []string{"--config", cfg("shutdown_timeout: 20\n")}, `server.yaml:1: shutdown_timeout: invalid value "20": want a duration of 0 or more, such as 0s, 30s or 5m`},
		{"config bad bool", []string{"--config", cfg("dev: yes please\n")}, `server.yaml:1: dev: invalid value "yes please": want true or false`},
		{"config log format", []string{"--config", cfg("log_format: jsn\n")}, `server.yaml:1: log_format: invalid value "jsn": want text or json`},
		{"config list", []string{"--config", cfg("addr:\n  - a\n")}, "server.yaml:1: addr: want a single value, not a list or mapping"},
		{"config null", []string{"--config", cfg("issuer:\n")}, "server.yaml:1: issuer: no value (remove the line to keep the default)"},
		{"config repeated", []string{"--config", cfg("addr: a:1\naddr: b:2\n")}, "server.yaml:2: addr: repeated (first on line 1)"},
		{"config not a mapping", []string{"--config", cfg("- addr\n")}, "server.yaml:1: want a mapping of settings"},
		{"config two documents", []string{"--config", cfg("addr: a:1\n---\ndev: true\n")}, "server.yaml:2: a second YAML document"},
		{"config not YAML", []string{"--config", cfg("addr: [\n")}, "server.yaml: not YAML"},
		{"config missing", []string{"--config", filepath.Join(dir, "none.yaml")}, "--config: open "},
		{"config key config", []string{"--config", cfg("config: other.yaml\n")}, `unknown key "config"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := srv(t, tc.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "usage: seatrx-server") || r.Stdout != "" {
				t.Fatalf("%s\nwant exit 2 and stderr with %q", r, tc.want)
			}
			for _, goName := range []string{"main.", "fileConfig", "time.Duration", "strconv.", "yaml: unmarshal"} {
				if strings.Contains(r.Stderr, goName) {
					t.Fatalf("the message names Go internals (%q): %s", goName, r.Stderr)
				}
			}
		})
	}
}

// A refused start leaves the data directory as it was: absent stays absent.
func TestRefusedStartWritesNothing(t *testing.T) {
	dir := t.TempDir()
	cert, key := testCert(t, dir)
	badPolicy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(badPolicy, []byte("id: x\nsnp: {allow_debug: maybe}\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad policy", []string{"--policy", badPolicy}, "policy.yaml:2"},
		{"bad certificate", []string{"--tls-cert", badPolicy}, "TLS certificate"},
		{"no TEE device", []string{"--attester", "tdx"}, "--attester tdx"},
		{"missing collateral", []string{"--tdx-collateral", filepath.Join(dir, "none")}, "TDX collateral"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := filepath.Join(t.TempDir(), "state")
			args := append([]string{"--tls-cert", cert, "--tls-key", key, "--issuer", "urn:seatrx:issuer:test", "--data", data}, tc.args...)
			if r := srv(t, args...); r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("%s\nwant exit 2 and %q", r, tc.want)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Fatalf("a refused start created %s (%v)", data, err)
			}
		})
	}
}

// examples/server.yaml is accepted, sets every setting to its default and
// documents every key.
func TestExampleServerConfig(t *testing.T) {
	path := filepath.Join(clitest.ModuleRoot(t), "examples", "server.yaml")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	defineFlags(fs, &options{})
	if err := loadConfig(path, fs); err != nil {
		t.Fatal(err)
	}
	fs.VisitAll(func(f *flag.Flag) {
		if notInFile[f.Name] {
			return
		}
		if f.Value.String() != f.DefValue {
			t.Errorf("%s sets %s = %q, the default is %q", path, f.Name, f.Value.String(), f.DefValue)
		}
		key := strings.ReplaceAll(f.Name, "-", "_")
		if !regexp.MustCompile(`(?m)^(# )?` + key + `:`).Match(text) {
			t.Errorf("%s does not document %s", path, key)
		}
	})
	// The file is the Debian package's reference, as its shipped config says.
	pkg, err := os.ReadFile(filepath.Join(clitest.ModuleRoot(t), "packaging", "deb", "server.yaml"))
	if err != nil || !strings.Contains(string(pkg), "/usr/share/doc/seatrx/examples/server.yaml") {
		t.Fatalf("packaging/deb/server.yaml does not point to the documented example (%v)", err)
	}
}

// started is a running server binary and its decoded JSON log lines.
type started struct {
	cmd     *exec.Cmd
	before  []map[string]any // log lines before the summary
	summary map[string]any
	lines   chan map[string]any
}

// start runs the server with args (and --log-format json) and waits for
// its startup summary.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	cmd := exec.Command(seatrxServer, append(args, "--log-format", "json", "--addr", "127.0.0.1:0")...)
	cmd.Env = clitest.Env()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &started{cmd: cmd, lines: make(chan map[string]any, 16)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				s.lines <- m
			}
		}
	}()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-s.lines:
			if !ok {
				t.Fatal("the server exited before its startup summary")
			}
			if m["msg"] == "seatrx-server started" {
				s.summary = m
				return s
			}
			s.before = append(s.before, m)
		case <-timeout:
			t.Fatal("no startup summary within 30s")
		}
	}
}

// stop sends SIGTERM and returns the log lines up to the exit.
func (s *started) stop(t *testing.T) []map[string]any {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	var rest []map[string]any
	for m := range s.lines {
		rest = append(rest, m)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	return rest
}

// The startup summary names what an operator checks; the metrics carry the
// build; durations are logged in milliseconds.
func TestStartupSummary(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := filepath.Join(t.TempDir(), "server.yaml")
	os.WriteFile(cfg, []byte("log_format: text\nshutdown_timeout: 7s\n"), 0o600) // --log-format json on the command line wins
	s := start(t, "--dev", "--data", data, "--config", cfg, "--profiles", "expat-04,cocos", "--metrics-on-main")
	m := s.summary
	if p, _ := m["profiles"].([]any); len(p) != 2 || p[0] != "expat-04" || p[1] != "cocos" {
		t.Errorf("profiles = %v", m["profiles"])
	}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, k := range []string{"issuer_kid", "appraiser_kid", "ear_verifier_kid"} {
		if v, _ := m[k].(string); !hex64.MatchString(v) {
			t.Errorf("%s = %v", k, m[k])
		}
	}
	roots, _ := m["production_roots"].([]any)
	simRoots, _ := m["simulated_roots"].([]any)
	if m["issuer"] != "urn:seatrx:issuer:dev" || m["policy_id"] != "seatrx-default" || !strings.HasPrefix(m["policy_digest"].(string), "sha256:") ||
		len(roots) != 4 || len(simRoots) != 2 || m["tls_subject"] != "CN=localhost" || m["tls_not_after"] == nil ||
		m["store"] != filepath.Join(data, "seatrx.db") || m["go"] != runtime.Version() || m["version"] == nil || m["revision"] == nil || m["dev"] != true {
		t.Fatalf("summary %v", m)
	}
	if m["memory_limit"] != float64(defaultMemoryLimit) || (os.Getenv("GOGC") == "" && m["gc_percent"] != 400.0) {
		t.Errorf("memory settings %v, %v: want the default limit and GOGC=400", m["memory_limit"], m["gc_percent"])
	}
	addr, _ := m["addr"].(string)
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
		t.Fatalf("addr %q is not the bound address", addr)
	}
	cas, err := keyfile.LoadCertificates(filepath.Join(data, "dev", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cas[0])
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err := hc.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := regexp.MustCompile(`(?m)^seatrx_build_info\{goversion="` + regexp.QuoteMeta(runtime.Version()) + `",revision="[^"]+",version="[^"]+"\} 1$`)
	if !want.Match(body) {
		t.Fatalf("no build info metric in:\n%s", body)
	}
	var shutdown map[string]any
	for _, l := range s.stop(t) {
		if l["msg"] == "shutting down: finishing in-flight requests" {
			shutdown = l
		}
	}
	if shutdown == nil || shutdown["timeout_ms"] != 7000.0 {
		t.Fatalf("shutdown line %v: want timeout_ms 7000 (from the config file)", shutdown)
	}
}

// prefill adds synthetic receipts to a store a dev server then starts with.
func TestPrefill(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	r := srv(t, "prefill", "--data", data, "--receipts", "300", "--bundle-size", "2KiB")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "added 300 receipts to "+filepath.Join(data, "seatrx.db")) {
		t.Fatalf("%s", r)
	}
	db, err := sql.Open("sqlite", filepath.Join(data, "seatrx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"receipts", "execution_tokens", "used_contexts"} {
		var n, size int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil || n != 300 {
			t.Fatalf("%s: %d rows, %v", table, n, err)
		}
		if table == "receipts" {
			if err := db.QueryRow(`SELECT MIN(length(bundle)) FROM receipts`).Scan(&size); err != nil || size != 2048 {
				t.Fatalf("bundle size %d, %v", size, err)
			}
		}
	}
	start(t, "--dev", "--data", data).stop(t)
}

// prefill --store fills a PostgreSQL store, which a server on it then opens.
func TestPrefillPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	r := srv(t, "prefill", "--store", dsn, "--receipts", "200", "--bundle-size", "1KiB")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "added 200 receipts to "+store.Redact(dsn)) {
		t.Fatalf("%s", r)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM receipts r JOIN execution_tokens t ON t.receipt_id = r.id`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("%d receipts with tokens, %v", n, err)
	}
	if r := srv(t, "prefill", "--data", t.TempDir(), "--store", dsn, "--receipts", "1"); r.Code != 2 || !strings.Contains(r.Stderr, "exactly one of --data and --store") {
		t.Fatalf("both --data and --store: %s", r)
	}
}

// --memory-limit 0 lifts the limit and keeps Go's default GC percentage.
func TestNoMemoryLimit(t *testing.T) {
	if os.Getenv("GOGC") != "" {
		t.Skip("GOGC is set in the environment: the server keeps it")
	}
	s := start(t, "--dev", "--data", filepath.Join(t.TempDir(), "data"), "--memory-limit", "0")
	if s.summary["memory_limit"] != float64(1<<63-1) || s.summary["gc_percent"] != 100.0 {
		t.Fatalf("memory settings %v, %v: want no limit and GOGC=100", s.summary["memory_limit"], s.summary["gc_percent"])
	}
	s.stop(t)
}

// --pprof serves Go profiles on its own loopback listener, and says where.
func TestPprofListener(t *testing.T) {
	s := start(t, "--dev", "--data", filepath.Join(t.TempDir(), "data"), "--pprof", "127.0.0.1:0")
	var at string
	for _, l := range s.before {
		if l["msg"] == "profiling listener on (loopback only; for measurements, not production)" {
			at, _ = l["pprof"].(string)
		}
	}
	if !strings.HasPrefix(at, "http://127.0.0.1:") {
		t.Fatalf("no profiling listener logged (%q)", at)
	}
	resp, err := http.Get(at + "cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "--pprof") {
		t.Fatalf("cmdline: %d %q", resp.StatusCode, body)
	}
	s.stop(t)
}

// examples/policy-production.yaml starts as written on a production server,
// and its trust anchors are exactly the vendors' production roots.
func TestProductionPolicyExampleStarts(t *testing.T) {
	dir := t.TempDir()
	cert, key := testCert(t, dir)
	path := filepath.Join(clitest.ModuleRoot(t), "examples", "policy-production.yaml")
	pol, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, "--policy", path,
		"--tls-cert", cert, "--tls-key", key, "--issuer", "urn:seatrx:issuer:example.org", "--data", filepath.Join(dir, "data"))
	if m := s.summary; m["policy_id"] != "example-production-2026-01" || m["dev"] != false || m["simulated_roots"] != nil ||
		m["issuer"] != "urn:seatrx:issuer:example.org" || m["tls_subject"] != "CN=seatrx test" {
		t.Fatalf("summary %v", m)
	}
	var roots []string
	for _, r := range s.summary["production_roots"].([]any) {
		roots = append(roots, r.(string))
	}
	if !slices.Equal(slices.Sorted(slices.Values(roots)), slices.Sorted(slices.Values(pol.TrustAnchors))) {
		t.Fatalf("trust_anchors %v, production roots %v", pol.TrustAnchors, roots)
	}
	s.stop(t)
}

// testCert writes a self-signed server certificate for 127.0.0.1.
func testCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "seatrx test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := keyfile.WriteCertificate(certFile, der); err != nil {
		t.Fatal(err)
	}
	if err := keyfile.WriteKey(keyFile, k); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// The README's command table lists every server command.
func TestReadmeListsEveryCommand(t *testing.T) {
	if got := clitest.CommandPaths(tree()); !slices.Equal(got, []string{"seatrx-server", "seatrx-server keys show", "seatrx-server keys export", "seatrx-server keys rotate", "seatrx-server prefill", "seatrx-server version"}) {
		t.Fatalf("commands %v", got)
	}
	clitest.CheckReadmeTable(t, tree())
}

// --metrics-addr serves the metrics on their own loopback listener, and
// says where; the main listener then answers /metrics 404.
func TestMetricsListener(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := start(t, "--dev", "--data", data, "--metrics-addr", "127.0.0.1:0")
	var at string
	for _, l := range s.before {
		if l["msg"] == "metrics listener on (loopback only)" {
			at, _ = l["metrics"].(string)
		}
	}
	if !strings.HasPrefix(at, "http://127.0.0.1:") {
		t.Fatalf("no metrics listener logged (%q)", at)
	}
	resp, err := http.Get(at)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "seatrx_build_info") {
		t.Fatalf("metrics: %d %q", resp.StatusCode, body)
	}
	cas, err := keyfile.LoadCertificates(filepath.Join(data, "dev", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cas[0])
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err = hc.Get("https://" + s.summary["addr"].(string) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics on the main listener: %d, want 404", resp.StatusCode)
	}
	s.stop(t)
}

// --auditor accepts exactly sha256:HEX lists of 32-byte hashes, and what it
// accepts prints back as it was given (normalized).
func FuzzAuditors(f *testing.F) {
	f.Add("sha256:" + strings.Repeat("ab", 32))
	f.Add("sha256:" + strings.Repeat("ab", 32) + ", sha256:" + strings.Repeat("CD", 32))
	f.Add("sha256:zz")
	f.Add(",")
	f.Fuzz(func(t *testing.T, s string) {
		var hs [][]byte
		v := &auditorsValue{&hs}
		if err := v.Set(s); err != nil {
			if len(hs) != 0 {
				t.Fatalf("%q refused (%v) but set %d hashes", s, err, len(hs))
			}
			return
		}
		for _, h := range hs {
			if len(h) != 32 {
				t.Fatalf("%q: a %d-byte hash", s, len(h))
			}
		}
		var again [][]byte
		if err := (&auditorsValue{&again}).Set(v.String()); err != nil || len(again) != len(hs) {
			t.Fatalf("%q printed as %q, which does not parse back: %v", s, v.String(), err)
		}
	})
}

// A shutdown that has to cut a request in flight says so and exits 1,
// whether its timeout ran out or a second signal came.
func TestShutdownCuts(t *testing.T) {
	for _, tc := range []struct {
		name, timeout string
		second        bool
	}{{"timeout", "200ms", false}, {"second signal", "10m", true}} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			// The stalled request is on an un-attested connection: its body must
			// not fall due (at the attestation deadline) before the shutdown.
			s := start(t, "--dev", "--data", data, "--shutdown-timeout", tc.timeout, "--metrics-on-main", "--unattested-timeout", "10m")
			addr, _ := s.summary["addr"].(string)
			cas, err := keyfile.LoadCertificates(filepath.Join(data, "dev", "ca.pem"))
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AddCert(cas[0])
			tc0 := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, NextProtos: []string{"http/1.1"}}
			// A request whose body never comes: in flight until cut.
			c, err := tls.Dial("tcp", addr, tc0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "POST /v1/attest HTTP/1.1\r\nHost: seatrx\r\nContent-Length: 100000\r\n\r\nab") // over the small-body allowance: reserved from the budget
			// Poll until the server holds the body's budget.
			cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc0}, Timeout: 10 * time.Second}
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := cl.Get("https://" + addr + "/metrics")
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if regexp.MustCompile(`(?m)^seatrx_request_body_reserved_bytes [1-9]`).Match(b) {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatal("the stalled request never reached its handler")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cl.CloseIdleConnections()
			s.cmd.Process.Signal(syscall.SIGTERM)
			var msgs []string
			for m := range s.lines {
				msg, _ := m["msg"].(string)
				msgs = append(msgs, msg)
				if tc.second && strings.HasPrefix(msg, "shutting down") {
					s.cmd.Process.Signal(syscall.SIGINT)
				}
				if msg == "stopped after cutting connections" && m["cut"] != 1.0 {
					t.Errorf("cut %v, want 1", m["cut"])
				}
			}
			err = s.cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1; log %q", err, msgs)
			}
			want := []string{"shutdown: no longer accepting; draining connections", "stopped after cutting connections"}
			if tc.second {
				want = append(want, "second signal: stopping now, cutting the connections still open")
			}
			for _, w := range want {
				if !slices.Contains(msgs, w) {
					t.Errorf("log lacks %q: %q", w, msgs)
				}
			}
		})
	}
}
