package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/peersuite"
)

// conformance run against the dev server: every case passes with seatrx's
// codes, the report is written as JSON, the dump and key log are written
// and announced.
func TestConformanceRun(t *testing.T) {
	f := dev(t)
	dir := t.TempDir()
	report, dump, keys := filepath.Join(dir, "report.json"), filepath.Join(dir, "dump"), filepath.Join(dir, "keys.log")
	target := strings.TrimPrefix(f.url, "https://")
	r := sx(t, "conformance", "run", "--target", target, "--dev", f.dev, "--tee", "sim-snp", "--codes",
		"--json", report, "--dump", dump, "--keylog", keys)
	if r.Code != 0 || strings.Count(r.Stdout, "\nPASS ") != len(peersuite.Cases()) || !strings.Contains(r.Stdout, fmt.Sprintf("%d passed, 0 failed", len(peersuite.Cases()))) {
		t.Fatalf("%s", r)
	}
	for _, want := range []string{"PASS evidence-relayed", "(attest.binding_connection)", "PASS evidence-other-key", "(attest.binding_key)", "[RFC 9261 §5.2.2]"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.Contains(r.Stderr, "WARNING: --keylog "+keys+" is ON") || !strings.Contains(r.Stderr, "WARNING: --dump "+dump+" is ON") {
		t.Errorf("no warnings on stderr:\n%s", r.Stderr)
	}
	var rep peersuite.Report
	b, err := os.ReadFile(report)
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.Schema != peersuite.ReportSchema || rep.Passed != len(peersuite.Cases()) || rep.Role != "attester" {
		t.Fatalf("report: %v\n%s", err, b)
	}
	for _, res := range rep.Results {
		if res.Dump == "" {
			t.Errorf("%s has no dump directory", res.Name)
			continue
		}
		if _, err := os.Stat(filepath.Join(res.Dump, "index.json")); err != nil {
			t.Errorf("%s: %v", res.Name, err)
		}
	}
	if st, err := os.Stat(keys); err != nil || st.Mode().Perm() != 0o600 || st.Size() == 0 {
		t.Errorf("key log: %v %v", st, err)
	}
	// A profile the server does not accept is named before any case runs.
	r = sx(t, "conformance", "run", "--target", target, "--dev", f.dev, "--tee", "sim-snp", "--profile", "cocos")
	if r.Code != 1 || !strings.Contains(r.Stderr, "attest.profile_mismatch") || strings.Contains(r.Stdout, "PASS") {
		t.Fatalf("cocos at an expat-04 server: %s", r)
	}
}

// conformance serve, with seatrx's own client as the attester under test:
// scenarios chosen by URL path, one line each, exit 0 when all passed.
func TestConformanceServe(t *testing.T) {
	f := dev(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	report := filepath.Join(dir, "serve.json")
	cmd := exec.Command(seatrx, "conformance", "serve", "--listen", addr, "--dev", f.dev,
		"--scenarios", "well-formed,cmw-not-offered", "--timeout", "60s", "--json", report)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.Contains(sc.Text(), "relying party, profile expat-04, transport http, listening on "+addr) {
		t.Fatalf("first line %q", sc.Text())
	}
	action := filepath.Join(dir, "action.json")
	os.WriteFile(action, []byte(`{"op":"x"}`), 0o600)
	for _, s := range []string{"well-formed", "cmw-not-offered"} {
		r := sx(t, "receipt", "request", "--server", "https://"+addr+"/s/"+s, "--dev", f.dev, "--tee", "sim-snp", "--action", action, "--out", filepath.Join(dir, "r.cbor"))
		want := map[string]string{"well-formed": "REFUSED conformance.not_served", "cmw-not-offered": "FAILED attest.cmw_not_offered"}[s]
		if r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("receipt request at %s: %s", s, r)
		}
	}
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, strings.Join(lines, "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not end")
	}
	text := strings.Join(lines, "\n")
	if !strings.Contains(text, "PASS well-formed") || !strings.Contains(text, "PASS cmw-not-offered") || !strings.Contains(text, "2 passed, 0 failed") {
		t.Fatalf("serve output:\n%s", text)
	}
	if b, err := os.ReadFile(report); err != nil || !strings.Contains(string(b), `"role": "relying-party"`) {
		t.Fatalf("report: %v %s", err, b)
	}
}
