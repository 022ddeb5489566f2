package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

func TestDemo(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"demo", "--quiet"}, &out, &errb); code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"SIMULATED", "session 1: client TEE sim-snp", "session 2: client TEE sim-tdx",
		"server attested: sev-snp evidence, status warning, simulated=true", "receipt verified offline (audit mode): ok=true",
		"second redemption refused", "token_consumed", "2 receipts issued and verified offline"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

func TestReceiptRequestVerifyShow(t *testing.T) {
	data := t.TempDir()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
	dev := server.DevDir(data)
	bundle := filepath.Join(t.TempDir(), "r.cbor")
	action := filepath.Join(t.TempDir(), "action.json")
	os.WriteFile(action, []byte(`{"operation":"deploy","replicas":3}`), 0o600)

	var out, errb bytes.Buffer
	args := []string{"receipt", "request", "--server", "https://" + addr.String(), "--dev", dev, "--tee", "sim-snp",
		"--action", action, "--mutual", "--redeem", "--out", bundle}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("request exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	verify := []string{"receipt", "verify", "--bundle", bundle, "--keys", bundle + ".keys", "--allow-simulated", "--trust-simulated", filepath.Join(dev, "sim-pki")}
	out.Reset()
	if code := run(verify, &out, &errb); code != 0 || !strings.Contains(out.String(), "OK: receipt verified (audit mode)") || !strings.Contains(out.String(), "pass   trust_anchors") {
		t.Fatalf("verify exit %d\n%s", code, out.String())
	}
	out.Reset()
	if code := run(append(verify, "--mode", "online", "--json"), &out, &errb); code != 0 || !strings.Contains(out.String(), `"ok": true`) {
		t.Fatalf("online verify exit %d\n%s", code, out.String())
	}
	// Without explicit trust in simulated evidence: exit 1 and the failed checks named.
	out.Reset()
	if code := run([]string{"receipt", "verify", "--bundle", bundle, "--keys", bundle + ".keys"}, &out, &errb); code != 1 || !strings.Contains(out.String(), "[receipt.test_pki]") {
		t.Fatalf("verify without simulated trust: exit %d\n%s", code, out.String())
	}
	// A bundle with one flipped byte fails.
	b, _ := os.ReadFile(bundle)
	b[len(b)/2] ^= 1
	tampered := bundle + ".bad"
	os.WriteFile(tampered, b, 0o600)
	out.Reset()
	if code := run([]string{"receipt", "verify", "--bundle", tampered, "--keys", bundle + ".keys", "--allow-simulated"}, &out, &errb); code != 1 {
		t.Fatalf("tampered bundle verified\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"receipt", "show", bundle}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"hae_masking_profile_id": "urn:seatrx:mask:none"`) || !strings.Contains(out.String(), "CBOR diagnostic notation") {
		t.Fatalf("show exit %d\n%s", code, out.String())
	}
	errb.Reset()
	args[7] = "sim-tdx"
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("tdx request exit %d: %s", code, errb.String())
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
