package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMergeFile(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfgPath, []byte("addr: 127.0.0.1:9443\ndata: /srv/seatrx\npolicy: /etc/seatrx/policy.yaml\nmax_unattested_conns: 64\nattestation_max_age: 2m\n"), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var fc fileConfig
	fs.StringVar(&fc.Addr, "addr", "127.0.0.1:8443", "")
	fs.StringVar(&fc.Data, "data", "", "")
	fs.StringVar(&fc.Policy, "policy", "", "")
	fs.IntVar(&fc.MaxUnattestedConns, "max-unattested-conns", 256, "")
	fs.DurationVar(&fc.AttestationMaxAge, "attestation-max-age", 5*time.Minute, "")
	if err := fs.Parse([]string{"--data", "/override"}); err != nil {
		t.Fatal(err)
	}
	if err := mergeFile(cfgPath, fs, &fc); err != nil {
		t.Fatal(err)
	}
	// The file fills what flags did not set; an explicit flag wins.
	if fc.Addr != "127.0.0.1:9443" || fc.Data != "/override" || fc.Policy != "/etc/seatrx/policy.yaml" ||
		fc.MaxUnattestedConns != 64 || fc.AttestationMaxAge != 2*time.Minute {
		t.Fatalf("merged %+v", fc)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("adr: typo\n"), 0o600)
	if err := mergeFile(bad, fs, &fc); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--tls-cert", "x"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--data is required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"--data", t.TempDir()}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "--tls-cert and --tls-key are required") {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if code := run([]string{"--nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown flag exit %d", code)
	}
}
