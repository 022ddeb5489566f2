package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/internal/server"
)

// readmeFlow is the key rotation and audit flow of README.md ("Keys that
// last"), client side, with the README's paths as placeholders: {SERVER}
// https://localhost:8443, {DATA} /tmp/seatrx-dev. Between the two requests
// the README rotates the issuer key (seatrx-server keys rotate, tested in
// cmd/server) and the server reloads it.
var readmeFlow = [][]string{
	{"receipt", "request", "--server", "{SERVER}", "--dev", "{DATA}/dev", "--tee", "sim-snp", "--action", "examples/exact-values.json", "--out", "r1.cbor"},
	{"ROTATE"},
	{"receipt", "request", "--server", "{SERVER}", "--dev", "{DATA}/dev", "--tee", "sim-tdx", "--action", "examples/action.json", "--redeem", "--out", "r2.cbor"},
	{"receipt", "verify", "--bundle", "r1.cbor", "--keys", "r2.cbor.keys", "--allow-simulated", "--trust-simulated", "{DATA}/dev/sim-pki"},
	{"receipt", "verify", "--bundle", "r2.cbor", "--keys", "r1.cbor.keys", "--keys", "r2.cbor.keys", "--allow-simulated", "--trust-simulated", "{DATA}/dev/sim-pki", "--json"},
	{"receipt", "verify", "--bundle", "r2.cbor", "--keys", "r2.cbor.keys", "--allow-simulated", "--trust-simulated", "{DATA}/dev/sim-pki", "--mode", "online", "--replay-db", "replay.db"},
	{"receipt", "show", "r1.cbor"},
}

// TestReadmeKeyRotationFlow runs the README's flow against an in-process dev
// server: a receipt with key 1, a rotation, a receipt with key 2, both
// verified with the published keys document, each printing the issuer key
// it trusted; the second online verification with the same replay
// database is refused as a replay.
func TestReadmeKeyRotationFlow(t *testing.T) {
	data := t.TempDir()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, KeyReloadInterval: -1,
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
	repo, _ := filepath.Abs("../..")
	subst := func(a string) string {
		a = strings.ReplaceAll(a, "{SERVER}", "https://"+addr.String())
		a = strings.ReplaceAll(a, "{DATA}", data)
		if strings.HasPrefix(a, "examples/") {
			return filepath.Join(repo, a)
		}
		if strings.HasSuffix(a, ".cbor") || strings.HasSuffix(a, ".keys") || strings.HasSuffix(a, ".db") {
			return filepath.Join(work, a)
		}
		return a
	}
	var outs []string
	var rot *keystore.Rotation
	for _, cmd := range readmeFlow {
		if cmd[0] == "ROTATE" {
			if rot, err = keystore.Open(filepath.Join(data, "keys")).Rotate(keystore.RoleIssuer, time.Now(), 0, "yearly rotation"); err != nil {
				t.Fatal(err)
			}
			if changed, err := srv.ReloadKeys(); err != nil || !changed { // what SIGHUP does
				t.Fatalf("reload: %v %v", changed, err)
			}
			time.Sleep(1100 * time.Millisecond) // the next receipt is stamped after key 1's retirement second
			outs = append(outs, "")
			continue
		}
		args := make([]string, len(cmd))
		for i, a := range cmd {
			args[i] = subst(a)
		}
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", strings.Join(cmd, " "), code, out.String(), errb.String())
		}
		outs = append(outs, out.String())
	}
	// Each verification names the issuer key it trusted: key 1 for r1, key
	// 2 for r2, by kid and SPKI fingerprint.
	for _, want := range []string{"trusted keys", "kid         " + rot.Retired, "spki-sha256 ", "OK: receipt verified (audit mode)"} {
		if !strings.Contains(outs[3], want) {
			t.Errorf("r1 verification lacks %q:\n%s", want, outs[3])
		}
	}
	for _, want := range []string{`"role": "issuer"`, `"kid": "` + rot.Started + `"`, `"spki_sha256"`, `"ok": true`} {
		if !strings.Contains(outs[4], want) {
			t.Errorf("r2 verification (--json) lacks %q:\n%s", want, outs[4])
		}
	}
	if !strings.Contains(outs[5], "pass   replay") {
		t.Errorf("online verification with --replay-db:\n%s", outs[5])
	}
	// The values of the action, intact, in receipt show.
	for _, want := range []string{"action (the action_hash preimage): matches", `"amount": 9007199254740993`,
		`"ledger_sequence": 12345678901234567891`, `"max_uses": 1`, `"fee_rate": 0.25`, "policy (the policy_hash preimage): matches"} {
		if !strings.Contains(outs[6], want) {
			t.Errorf("receipt show lacks %q", want)
		}
	}
	if testing.Verbose() {
		t.Logf("receipt show:\n%s\nverify:\n%s", outs[6], outs[3])
	}

	// The same online verification again: a replay, now that the cache is
	// a file shared by runs. Without --replay-db the check says skipped.
	again := append([]string(nil), readmeFlow[5]...)
	for i, a := range again {
		again[i] = subst(a)
	}
	var out, errb bytes.Buffer
	if code := run(again, &out, &errb); code != 1 || !strings.Contains(out.String(), "[receipt.replayed]") {
		t.Fatalf("replayed online verification: exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(again[:len(again)-2], &out, &errb); code != 0 || !strings.Contains(out.String(), "skipped replay") || !strings.Contains(out.String(), "one-shot") {
		t.Fatalf("online without --replay-db: exit %d\n%s", code, out.String())
	}
	// r1 stays verifiable with only the keys document saved at its time,
	// and that document alone does not know key 2.
	out.Reset()
	if code := run([]string{"receipt", "verify", "--bundle", subst("r2.cbor"), "--keys", subst("r1.cbor.keys"), "--allow-simulated"}, &out, &errb); code != 1 || !strings.Contains(out.String(), "receipt.unknown_kid") {
		t.Fatalf("r2 with the old keys document only: exit %d\n%s", code, out.String())
	}
}

// The README shows the flow the test runs, command for command.
func TestReadmeShowsTheRotationFlow(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(strings.ReplaceAll(string(b), "\\\n", " ")), " ")
	for _, cmd := range readmeFlow {
		if cmd[0] == "ROTATE" {
			for _, want := range []string{"./seatrx-server keys rotate --data /tmp/seatrx-dev", "./seatrx-server keys show --data /tmp/seatrx-dev"} {
				if !strings.Contains(readme, want) {
					t.Errorf("README lacks %q", want)
				}
			}
			continue
		}
		line := "./seatrx " + strings.Join(cmd, " ")
		line = strings.ReplaceAll(line, "{SERVER}", "https://localhost:8443")
		line = strings.ReplaceAll(line, "{DATA}", "/tmp/seatrx-dev")
		if !strings.Contains(readme, line) {
			t.Errorf("README lacks %q", line)
		}
	}
}
