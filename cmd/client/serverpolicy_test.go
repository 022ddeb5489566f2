package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReceiptRequestServerPolicy: --server-policy pins the server in mutual
// attestation: a pin the dev server's simulated SEV-SNP evidence passes gets
// the receipt (and receipt show lists what the offline appraisal could not
// check), a pin it fails is refused with the server's own code, and the flag
// is a usage error without --mutual.
func TestReceiptRequestServerPolicy(t *testing.T) {
	f := dev(t)
	dir := t.TempDir()
	action := filepath.Join(dir, "action.json")
	os.WriteFile(action, []byte(`{"operation":"pin"}`), 0o600)
	pin := func(name, measurement string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("id: "+name+"\nsnp:\n  measurements: [\""+measurement+"\"]\n"), 0o600)
		return p
	}
	request := func(out string, extra ...string) []string {
		return append([]string{"receipt", "request", "--server", f.url, "--dev", f.dev, "--tee", "sim-tdx",
			"--action", action, "--out", filepath.Join(dir, out)}, extra...)
	}

	allow := pin("allow.yaml", strings.Repeat("00", 48)) // the simulated server's launch measurement
	if r := sx(t, request("ok.cbor", "--mutual", "--server-policy", allow)...); r.Code != 0 || !strings.Contains(r.Stdout, "server attested") ||
		!strings.Contains(r.Stdout, "not evaluated: revocation") {
		t.Fatalf("allowing pin: %s", r)
	}
	if r := sx(t, "receipt", "show", filepath.Join(dir, "ok.cbor")); r.Code != 0 ||
		!strings.Contains(r.Stdout, `"not_evaluated": [`) || !strings.Contains(r.Stdout, `"tcb_status"`) {
		t.Fatalf("receipt show does not say what was not evaluated: %s", r)
	}

	refuse := pin("refuse.yaml", strings.Repeat("ab", 48))
	if r := sx(t, request("no.cbor", "--mutual", "--server-policy", refuse)...); r.Code != 1 || !strings.Contains(r.Stderr, "FAILED snp.measurement") {
		t.Fatalf("refusing pin: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "no.cbor")); err == nil {
		t.Fatal("a receipt was written although the server was refused")
	}

	if r := sx(t, request("u.cbor", "--server-policy", allow)...); r.Code != 2 || !strings.Contains(r.Stderr, "--server-policy needs --mutual") {
		t.Fatalf("without --mutual: %s", r)
	}
	if r := sx(t, request("m.cbor", "--mutual", "--server-policy", filepath.Join(dir, "missing.yaml"))...); r.Code == 0 ||
		!strings.Contains(r.Stderr, "--server-policy") {
		t.Fatalf("missing policy file: %s", r)
	}
}
