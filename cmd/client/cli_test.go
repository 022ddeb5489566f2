package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/bench"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/clitest"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

func sx(t *testing.T, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(t, seatrx, args...)
}

// Help works at every level, on stdout with exit 0, and never takes --help
// for a file name.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: seatrx <command> [arguments]"},
		{[]string{"-h"}, "usage: seatrx <command> [arguments]"},
		{[]string{"help"}, "  receipt        obtain, verify and show receipts\n"},
		{[]string{"help", "authorization"}, "  keygen  make an approver key and print its entry for the policy\n"},
		{[]string{"approve", "--help"}, "usage: seatrx approve --key FILE --server URL [--dev DIR | --ca FILE] [--deny] [--yes] ID"},
		{[]string{"help", "receipt", "verify"}, "usage: seatrx receipt verify --bundle FILE --keys FILE"},
		{[]string{"receipt", "--help"}, "usage: seatrx receipt <command> [arguments]"},
		{[]string{"receipt", "help"}, "  request  attest to a server"},
		{[]string{"receipt", "help", "show"}, "usage: seatrx receipt show FILE"},
		{[]string{"receipt", "show", "--help"}, "usage: seatrx receipt show FILE"},
		{[]string{"receipt", "request", "-h"}, "  --tls-timeout DURATION\n    \tbound on the TLS handshake (default 10s)\n"},
		{[]string{"conformance", "vectors", "--help"}, "usage: seatrx conformance vectors FILE..."},
		{[]string{"evidence", "verify", "-h"}, "  --in FILE\n    \tevidence FILE (required)\n"},
		{[]string{"demo", "--help"}, "  --keep DIR\n"},
		{[]string{"help", "version"}, "usage: seatrx version [flags]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := sx(t, tc.args...)
			if r.Code != 0 || !strings.Contains(r.Stdout, tc.want) || r.Stderr != "" {
				t.Fatalf("%s\nwant exit 0 and stdout with %q", r, tc.want)
			}
		})
	}
}

// A bad command line exits 2, names the flag or argument and what was
// expected, and repeats the usage line; stdout stays empty.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o700)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o600)
	req := []string{"receipt", "request", "--server", "https://127.0.0.1:1", "--tee", "sim-snp", "--action", "a.json", "--out", "o.cbor"}
	bench := []string{"bench", "--server", "https://127.0.0.1:1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "seatrx: missing command (want demo, receipt, credential, approve, authorization, evidence, bench, conformance, version or help)\nusage: seatrx <command> [arguments]\nRun 'seatrx help' for details.\n"},
		{[]string{"nope"}, `seatrx: unknown command "nope"`},
		{[]string{"--nope"}, "seatrx: flag provided but not defined: -nope"},
		{[]string{"help", "nope"}, `seatrx help: unknown command "nope"`},
		{[]string{"receipt"}, "seatrx receipt: missing command (want request, verify, show or help)"},
		{[]string{"receipt", "nope"}, `seatrx receipt: unknown command "nope"`},
		{[]string{"receipt", "show"}, "seatrx receipt show: want one FILE (a bundle or a bare COSE_Sign1 receipt), got 0 arguments\nusage: seatrx receipt show FILE\n"},
		{[]string{"receipt", "verify", "--bundle", "b.cbor"}, "seatrx receipt verify: missing required flag --keys (the issuing server's keys document"},
		{[]string{"receipt", "verify", "--bundle", "b", "--keys", "k", "--mode", "later"}, `invalid value "later" for flag -mode: want online or audit`},
		{[]string{"receipt", "verify", "--bundle", "b", "--keys", "k", "--trust-simulated", dir}, "--trust-simulated needs --allow-simulated"},
		{[]string{"receipt", "request", "--server", "https://x"}, "missing required flag --tee"},
		{append(req, "--ca", "ca.pem", "--dev", dir), "seatrx receipt request: --ca and --dev cannot be used together"},
		{req, "--tee sim-snp needs --dev DIR"},
		{append(req, "--tee", "sgx"), `invalid value "sgx" for flag -tee: want sim-snp, sim-tdx, snp or tdx`},
		{append(req, "--profile", "expat-05"), `invalid value "expat-05" for flag -profile: want expat-04, expat-03, cocos or rust-ref`},
		{append(req, "--request-timeout", "-1s"), `invalid value "-1s" for flag -request-timeout: want a duration of at least 1ms`},
		{append(req, "extra"), `unexpected argument "extra"`},
		{[]string{"conformance", "vectors"}, "seatrx conformance vectors: missing FILE"},
		{[]string{"conformance"}, "seatrx conformance: missing command (want vectors, serve, run or help)"},
		{[]string{"conformance", "run", "--target", "127.0.0.1:1"}, "seatrx conformance run: missing required flag --tee"},
		{[]string{"conformance", "run", "--tee", "sim-snp", "--target", "127.0.0.1:1"}, "--tee sim-snp needs --dev DIR"},
		{[]string{"conformance", "run", "--tee", "snp", "--target", "127.0.0.1:1", "--listen", "127.0.0.1:2"}, "--target and --listen cannot be used together"},
		{[]string{"conformance", "run", "--tee", "snp", "--listen", "127.0.0.1:0"}, "the HTTP transport's attester dials: give --target"},
		{[]string{"conformance", "run", "--tee", "snp", "--target", "x:1", "--cases", "good,nope"}, `--cases: unknown case "nope"`},
		{[]string{"conformance", "serve", "--target", "127.0.0.1:1"}, "the HTTP transport's relying party listens: give --listen"},
		{[]string{"conformance", "serve", "--scenarios", "nope"}, `--scenarios: unknown scenario "nope"`},
		{[]string{"conformance", "serve", "--transport", "quic"}, `invalid value "quic" for flag -transport: want http, seatrx-raw or cocos`},
		{[]string{"evidence", "verify"}, "seatrx evidence verify: missing required flag --in"},
		{[]string{"demo", "--keep", full}, "seatrx demo: --keep " + full + ": not empty"},
		{[]string{"version", "extra"}, `seatrx version: unexpected argument "extra"`},
		{[]string{"approve", "--server", "https://x", "--key", "k.pem"}, "seatrx approve: want one authorization ID, got 0 arguments"},
		{[]string{"approve", "--server", "https://x", "ID"}, "seatrx approve: missing required flag --key"},
		{[]string{"approve", "--server", "https://x", "--key", "k.pem", "--ca", "c.pem", "--dev", dir, "ID"}, "--ca and --dev cannot be used together"},
		{[]string{"authorization", "show", "--server", "https://x", "--wait", "26", "ID"}, "--wait 26: want 0 to 25 seconds"},
		{[]string{"authorization", "list", "--server", "https://x"}, "seatrx authorization list: missing required flag --key"},
		{[]string{"authorization", "keygen", "--id", "a", "--out", "a.pem", "--alg", "rsa"}, `invalid value "rsa" for flag -alg: want ed25519, es256 or es384`},
		{[]string{"receipt", "request", "--server", "https://x", "--wait", "-1s"}, `invalid value "-1s" for flag -wait`},
		{append(bench, "--mode", "plain"), "a bench needs a bound: --duration D or --count N"},
		{append(bench, "--mode", "plain", "--compare", "plain,snp", "--count", "1"), "--mode and --compare cannot be used together"},
		{append(bench, "--compare", "snp", "--count", "1"), `--compare "snp": want at least two modes`},
		{append(bench, "--mode", "sgx", "--count", "1"), `unknown mode "sgx" for --transport tls (want plain, snp, snp-separate, tdx or tdx-separate)`},
		{append(bench, "--mode", "plain", "--duration", "2h"), "--duration: 2h0m0s: want 100ms to 1h0m0s"},
		{append(bench, "--mode", "plain", "--count", "1", "--metrics", "https://192.0.2.1/metrics"), `--metrics "https://192.0.2.1/metrics": want an http(s) URL on the server's host 127.0.0.1`},
		{append(bench, "--mode", "plain", "--count", "1", "--workers", "0"), `invalid value "0" for flag -workers: want a whole number from 1 to 1024`},
		{[]string{"bench", "--server", "http://127.0.0.1:1", "--mode", "plain", "--count", "1"}, `--server "http://127.0.0.1:1": want https://host:port`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			r := sx(t, tc.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "usage: seatrx") || r.Stdout != "" {
				t.Fatalf("%s\nwant exit 2 and stderr with %q", r, tc.want)
			}
		})
	}
}

// --version and version print the module's build information: the Go
// version, and the checkout's revision when the build could stamp it.
func TestVersion(t *testing.T) {
	a, b := sx(t, "--version"), sx(t, "version")
	if a.Code != 0 || b.Code != 0 || a.Stdout != b.Stdout || !strings.HasPrefix(a.Stdout, "seatrx ") ||
		!strings.Contains(a.Stdout, "built with go1.") || !strings.Contains(a.Stdout, "github.com/seatrx/seatrx/cmd/client") {
		t.Fatalf("--version:\n%s\nversion:\n%s", a, b)
	}
	// The go command stamps the revision only in a checkout whose .git is a
	// directory (not in a git worktree, where it is a file).
	root := clitest.ModuleRoot(t)
	if st, err := os.Stat(filepath.Join(root, ".git")); err != nil || !st.IsDir() {
		t.Logf("%s/.git is not a directory: the go command records no revision; not checked", root)
		return
	}
	head, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if rev := strings.TrimSpace(string(head)); !strings.Contains(a.Stdout, "revision "+rev) {
		t.Fatalf("--version does not name revision %s:\n%s", rev, a.Stdout)
	}
}

// devServer is one in-process --dev server shared by the tests that need a
// live server (the binary under test is the client).
var devServer = sync.OnceValues(func() (*devFixture, error) {
	data, err := os.MkdirTemp("", "seatrx-client-test-")
	if err != nil {
		return nil, err
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, MetricsOnMain: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	addr, err := srv.Listen()
	if err != nil {
		return nil, err
	}
	go srv.Serve()
	return &devFixture{url: "https://" + addr.String(), dev: server.DevDir(data)}, nil
})

type devFixture struct{ url, dev string }

func dev(t *testing.T) *devFixture {
	t.Helper()
	f, err := devServer()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestReceiptRequestVerifyShow(t *testing.T) {
	f := dev(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "r.cbor")
	action := filepath.Join(dir, "action.json")
	os.WriteFile(action, []byte(`{"operation":"deploy","replicas":3}`), 0o600)

	args := []string{"receipt", "request", "--server", f.url, "--dev", f.dev, "--tee", "sim-snp",
		"--action", action, "--mutual", "--redeem", "--out", bundle}
	r := sx(t, args...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "timings: handshake ") || !strings.Contains(r.Stdout, ", server attestation ") {
		t.Fatalf("request: %s", r)
	}
	// --redeem redeemed once: the server counted a redemption and no
	// refused (replayed) one, which a normal run must never cause.
	if m := serverMetrics(t, f.url, f.dev); !strings.Contains(m, `seatrx_token_redemptions_total{result="ok"}`) || strings.Contains(m, "token_consumed") {
		t.Fatalf("redemption metrics after a normal run:\n%s", grepLines(m, "seatrx_token_redemptions_total"))
	}
	verify := []string{"receipt", "verify", "--bundle", bundle, "--keys", bundle + ".keys", "--allow-simulated", "--trust-simulated", filepath.Join(f.dev, "sim-pki")}
	if r := sx(t, verify...); r.Code != 0 || !strings.Contains(r.Stdout, "OK: receipt verified (audit mode)") || !strings.Contains(r.Stdout, "pass   trust_anchors") {
		t.Fatalf("verify: %s", r)
	}
	if r := sx(t, append(verify, "--mode", "online", "--json")...); r.Code != 0 || !strings.Contains(r.Stdout, `"ok": true`) {
		t.Fatalf("online verify: %s", r)
	}
	// Without explicit trust in simulated evidence: exit 1 and the failed checks named.
	if r := sx(t, "receipt", "verify", "--bundle", bundle, "--keys", bundle+".keys"); r.Code != 1 || !strings.Contains(r.Stdout, "[receipt.test_pki]") {
		t.Fatalf("verify without simulated trust: %s", r)
	}
	// A bundle with one flipped byte fails.
	b, _ := os.ReadFile(bundle)
	b[len(b)/2] ^= 1
	tampered := bundle + ".bad"
	os.WriteFile(tampered, b, 0o600)
	if r := sx(t, "receipt", "verify", "--bundle", tampered, "--keys", bundle+".keys", "--allow-simulated"); r.Code != 1 {
		t.Fatalf("tampered bundle verified: %s", r)
	}
	if r := sx(t, "receipt", "show", bundle); r.Code != 0 || !strings.Contains(r.Stdout, `"hae_masking_profile_id": "urn:seatrx:mask:none"`) || !strings.Contains(r.Stdout, "CBOR diagnostic notation") {
		t.Fatalf("show: %s", r)
	}
	// The receipt says which binder derivation (profile, label) and transport it records.
	if r := sx(t, "receipt", "show", bundle); !strings.Contains(r.Stdout, `"binder_profile": "expat-04"`) ||
		!strings.Contains(r.Stdout, `"binder_label": "EXPORTER-cmw-attestation"`) || !strings.Contains(r.Stdout, `"transport": "tls"`) {
		t.Fatalf("show: %s", r)
	}
	// A profile the (expat-04) dev server does not accept is a named
	// mismatch, found before anything is attested.
	if r := sx(t, append(args, "--profile", "cocos")...); r.Code != 1 || !strings.Contains(r.Stderr, "attest.profile_mismatch") {
		t.Fatalf("cocos at an expat-04 server: %s", r)
	}
	// Without --mutual no server attestation is made, and none is timed.
	args = []string{"receipt", "request", "--server", f.url, "--dev", f.dev, "--tee", "sim-tdx", "--action", action, "--out", bundle + "2"}
	if r := sx(t, args...); r.Code != 0 || strings.Contains(r.Stdout, "server attestation") || !strings.Contains(r.Stdout, ", challenge ") {
		t.Fatalf("tdx request without --mutual: %s", r)
	}
}

// Files that are not what a flag wants are named with what is wrong.
func TestReceiptVerifyBadFiles(t *testing.T) {
	f := dev(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "r.cbor")
	action := filepath.Join(dir, "action.json")
	os.WriteFile(action, []byte(`{"operation":"x"}`), 0o600)
	if r := sx(t, "receipt", "request", "--server", f.url, "--dev", f.dev, "--tee", "sim-snp", "--action", action, "--out", bundle); r.Code != 0 {
		t.Fatalf("request: %s", r)
	}
	random := filepath.Join(dir, "random.bin")
	os.WriteFile(random, bytes.Repeat([]byte{0xab, 0x1d, 0x3c}, 100), 0o600)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, this is not CBOR\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	bare := filepath.Join(dir, "bare.cose")
	os.WriteFile(bare, bareReceipt(t, bundle), 0o600)
	keys := bundle + ".keys"
	for _, tc := range []struct {
		name, bundle, keys, want string
	}{
		{"random", random, keys, "seatrx receipt verify: --bundle " + random + " is not a receipt bundle (300 bytes starting 0xab1d3cab; a bundle is a CBOR map of receipt, action and policy"},
		{"text", text, keys, `is not a receipt bundle (24 bytes of text starting "hello, this is n", not CBOR;`},
		{"empty", empty, keys, "is not a receipt bundle (the file is empty;"},
		{"bare receipt", bare, keys, "is a bare receipt (COSE_Sign1), not a bundle"},
		{"swapped", keys, bundle, "is a keys document, not a receipt bundle: are --bundle and --keys swapped?"},
		{"bad keys", bundle, random, "--keys " + random + " is not a seatrx keys document (300 bytes starting 0xab1d3cab;"},
		{"missing", filepath.Join(dir, "none"), keys, "--bundle: stat " + filepath.Join(dir, "none") + ": no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := sx(t, "receipt", "verify", "--bundle", tc.bundle, "--keys", tc.keys)
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("%s\nwant exit 1 and stderr with %q", r, tc.want)
			}
		})
	}
	if r := sx(t, "receipt", "show", random); r.Code != 1 || !strings.Contains(r.Stderr, "is neither a receipt bundle nor a COSE_Sign1 receipt (300 bytes starting 0xab1d3cab)") {
		t.Fatalf("show random: %s", r)
	}
}

// A server that accepts TCP but never answers makes the client fail,
// naming the step and the time, not hang.
func TestRequestTimesOut(t *testing.T) {
	f := dev(t)
	ln := silent(t)
	dir := t.TempDir()
	action := filepath.Join(dir, "action.json")
	os.WriteFile(action, []byte(`{}`), 0o600)
	start := time.Now()
	r := sx(t, "receipt", "request", "--server", "https://"+ln, "--dev", f.dev, "--tee", "sim-snp", "--action", action,
		"--out", filepath.Join(dir, "r.cbor"), "--tls-timeout", "300ms")
	want := fmt.Sprintf("FAILED: client: TLS handshake with %s timed out after 300ms", ln)
	if r.Code != 1 || !strings.Contains(r.Stderr, want) {
		t.Fatalf("%s\nwant exit 1 and %q", r, want)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s", d)
	}
}

// silent accepts TCP connections and never writes; it returns its address.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// The demo keeps what --keep promises: the server's data, each session's
// bundle and keys document, which then verify with the printed command.
func TestDemoKeep(t *testing.T) {
	keep := filepath.Join(t.TempDir(), "demo")
	r := sx(t, "demo", "--keep", keep, "--quiet")
	if r.Code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"SIMULATED", "session 1: client TEE sim-snp", "session 2: client TEE sim-tdx",
		"server attested: sev-snp evidence, status warning, simulated=true", "receipt verified offline (audit mode): ok=true",
		"second redemption refused", "token_consumed", "2 receipts issued and verified offline", ", server attestation ",
		"SPIFFE ID: spiffe://seatrx.demo/demo/workload", "subject spiffe://seatrx.demo/demo/workload",
		"connection B: mTLS with the SVID, no attestation: execution token", "attested platform sev-snp, status warning, simulated true",
		"session 4: client TEE sim-snp, a transfer that needs 2 of 3 approvers", `pending: rule "large-transfer" needs 2 of alice (cfo), bob (treasurer), carol (security-officer)`,
		"alice approved: pending, 1 of 2 approvals", "bob approved: completed, 2 of 2 approvals", "receipt approvals: appraiser, alice, bob"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	for _, f := range []string{"keys/issuer/manifest.json", "keys/appraiser/manifest.json", "keys/ear-verifier/manifest.json", "seatrx.db", "dev/ca.pem", "dev/sim-pki",
		"session-1.cbor", "session-1.cbor.keys", "session-2.cbor", "session-2.cbor.keys",
		"keys/workload-ca/manifest.json", "session-3-svid.pem", "bundle.pem", "workload/workload.key",
		"session-4.cbor", "session-4.cbor.keys", "demo-policy.yaml", "approvers/alice.pem", "approvers/bob.pem", "approvers/carol.pem"} {
		if _, err := os.Stat(filepath.Join(keep, f)); err != nil {
			t.Errorf("--keep did not keep %s: %v", f, err)
		}
	}
	for _, intro := range []string{"Verify one later with:\n  seatrx ",
		"and the approved transfer with the policy that names its approvers (its canonical form is in the bundle):\n  seatrx "} {
		i := strings.Index(r.Stdout, intro)
		if i < 0 {
			t.Fatalf("no verify command printed after %q:\n%s", intro, r.Stdout)
		}
		line := strings.TrimSpace(strings.SplitN(r.Stdout[i+len(intro)-len("seatrx "):], "\n", 2)[0])
		args := strings.Fields(line)[1:]
		if v := sx(t, args...); v.Code != 0 || !strings.Contains(v.Stdout, "OK: receipt verified (audit mode)") {
			t.Fatalf("%s: %s", line, v)
		}
	}
	if v := sx(t, "receipt", "verify", "--bundle", filepath.Join(keep, "session-2.cbor"), "--keys", filepath.Join(keep, "session-2.cbor.keys"),
		"--allow-simulated", "--trust-simulated", filepath.Join(keep, "dev", "sim-pki")); v.Code != 0 {
		t.Fatalf("session 2: %s", v)
	}
}

func TestConformanceCommand(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(clitest.ModuleRoot(t), "conformance", "vectors", "*.json"))
	r := sx(t, append([]string{"conformance", "vectors"}, files...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "PASS validate/reject-relayed-from-another-connection") || !strings.Contains(r.Stdout, " 0 failed") {
		t.Fatal(r)
	}
	// A broken vector file fails with exit 1 and says why.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"x","description":"","inputs":{"role":"server","context":"00","extensions":[]},"expected":{"request":"00"}}]}`), 0o644)
	if r := sx(t, "conformance", "vectors", bad); r.Code != 1 || !strings.Contains(r.Stdout, "FAIL request/x:") {
		t.Fatal(r)
	}
}

func TestPrintRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"server problem", fmt.Errorf("client: attest: %w", &api.Problem{Type: api.ProblemTypePrefix + "attest.binding_connection", Title: "Attestation refused", Status: 403, Detail: "REPORTDATA binding differs", Code: "attest.binding_connection"}),
			"REFUSED attest.binding_connection (HTTP 403): Attestation refused\n  REPORTDATA binding differs\n"},
		{"local typed error", fmt.Errorf("client: server evidence refused: %w", &tlsbind.Error{Step: tlsbind.StepBinding, Code: tlsbind.CodeBindingKey}),
			"FAILED attest.binding_key: client: server evidence refused: tlsbind: binding: attest.binding_key\n"},
		{"local error without a code", errors.New("dial tcp: refused"), "FAILED: dial tcp: refused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printRefusal(&b, tc.err)
			if got := b.String(); got != tc.want {
				t.Fatalf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// bareReceipt extracts the COSE_Sign1 receipt from a bundle file.
func bareReceipt(t *testing.T, bundle string) []byte {
	t.Helper()
	data, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	b, err := receipt.UnmarshalBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	return b.Receipt
}

// A short bench against the shared dev server: every session counted per
// mode and round, the server's CPU read, the ratio to the baseline printed;
// no figure is judged.
func TestBench(t *testing.T) {
	f := dev(t)
	r := sx(t, "bench", "--server", f.url, "--dev", f.dev, "--compare", "plain,tdx", "--count", "2", "--rounds", "2",
		"--workers", "2", "--warmup", "1", "--json", "--quiet")
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("%s", r)
	}
	var rep bench.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, r.Stdout)
	}
	if len(rep.Modes) != 2 || rep.Modes[0].Sessions != 4 || rep.Modes[1].Sessions != 4 || rep.Modes[1].Errors != 0 ||
		rep.Modes[1].ServerCPUms == nil || rep.Metrics != f.url+"/metrics" || len(rep.Ratios) != 1 || rep.Ratios[0].P99.Rounds != 2 {
		t.Fatalf("report: %s", r.Stdout)
	}
	r = sx(t, "bench", "--server", f.url, "--dev", f.dev, "--mode", "snp", "--count", "1", "--warmup", "0", "--metrics", "off", "--quiet")
	if r.Code != 0 || !strings.Contains(r.Stdout, "server CPU not measured") || !strings.Contains(r.Stdout, "  attest+receipt  ") {
		t.Fatalf("text report: %s", r)
	}
}

// The README's command table lists every client command.
func TestReadmeListsEveryCommand(t *testing.T) {
	if got := clitest.CommandPaths(tree()); len(got) != 16 {
		t.Fatalf("commands %v", got)
	}
	clitest.CheckReadmeTable(t, tree())
}

// serverMetrics reads a dev server's /metrics (the endpoint needs no
// attestation, only the dev CA).
func serverMetrics(t *testing.T, url, dev string) string {
	t.Helper()
	roots, pki, err := devFiles(dev)
	if err != nil {
		t.Fatal(err)
	}
	att, err := server.NewAttester("sim-snp", pki)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(context.Background(), client.Config{Server: url, Roots: roots, Prover: &tlsbind.Prover{Attester: att}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Do(context.Background(), "GET", "/metrics", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return string(m)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The demo runs with examples/policy-credentials-dev.yaml, byte for byte
// after its comments, so the README's flow and the demo agree.
func TestDemoPolicyIsTheExample(t *testing.T) {
	b, err := os.ReadFile("../../examples/policy-credentials-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var body []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.HasPrefix(l, "#") && (len(body) > 0 || strings.TrimSpace(l) != "") {
			body = append(body, l)
		}
	}
	if strings.Join(body, "") != demoPolicy {
		t.Fatalf("examples/policy-credentials-dev.yaml differs from the demo's policy:\n%s", strings.Join(body, ""))
	}
}

// README.md's credential flow: request an SVID with a workload key kept in
// the workload's directory, verify it with openssl and with go-spiffe
// (credential show --bundle), and show it; a second request with another
// TEE's reference values is refused by name.
func TestReadmeCredentialFlow(t *testing.T) {
	data := t.TempDir()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, PolicyFile: "../../examples/policy-credentials-dev.yaml",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	work := t.TempDir()
	key, svid, bundle := filepath.Join(work, "workload", "workload.key"), filepath.Join(work, "svid.pem"), filepath.Join(work, "bundle.pem")
	r := sx(t, "credential", "request", "--server", "https://"+addr.String(), "--dev", server.DevDir(data), "--tee", "sim-snp",
		"--key", key, "--out", svid, "--bundle", bundle, "--csr")
	if r.Code != 0 || !strings.Contains(r.Stdout, "SPIFFE ID: spiffe://seatrx.demo/demo/workload") || !strings.Contains(r.Stdout, "generated a workload key") {
		t.Fatal(r)
	}
	if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("workload key: %v %v", st, err)
	}
	if s := sx(t, "credential", "show", "--bundle", bundle, svid); s.Code != 0 || !strings.Contains(s.Stdout, "verified: an X.509-SVID of seatrx.demo") ||
		!strings.Contains(s.Stdout, "attested platform sev-snp, status warning, simulated true") {
		t.Fatal(s)
	}
	// The same key again: the same identity, no new key.
	if r := sx(t, "credential", "request", "--server", "https://"+addr.String(), "--dev", server.DevDir(data), "--tee", "sim-snp",
		"--key", key, "--out", svid+"2"); r.Code != 0 || strings.Contains(r.Stdout, "generated") {
		t.Fatal(r)
	}
	// A TDX workload has no identity in this policy.
	if r := sx(t, "credential", "request", "--server", "https://"+addr.String(), "--dev", server.DevDir(data), "--tee", "sim-tdx",
		"--key", key, "--out", svid+"3"); r.Code != 1 || !strings.Contains(r.Stderr, "REFUSED credential.no_workload_identity (HTTP 403)") {
		t.Fatal(r)
	}
	// Against an empty bundle it does not verify.
	other := filepath.Join(work, "other.pem")
	os.WriteFile(other, nil, 0o644)
	if s := sx(t, "credential", "show", "--bundle", other, svid); s.Code == 0 {
		t.Fatal("verified against an empty bundle")
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: the README's openssl verify step is not run")
	}
	if out, err := exec.Command(openssl, "verify", "-CAfile", bundle, svid).CombinedOutput(); err != nil {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}
