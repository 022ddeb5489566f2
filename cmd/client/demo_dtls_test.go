package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demo --transport dtls shows one attested receipt over DTLS 1.3, whose
// kept bundle verifies with the printed command.
func TestDemoDTLS(t *testing.T) {
	keep := filepath.Join(t.TempDir(), "demo")
	r := sx(t, "demo", "--transport", "dtls", "--keep", keep, "--quiet")
	if r.Code != 0 {
		t.Fatal(r)
	}
	for _, want := range []string{"DTLS 1.3 listener on udp 127.0.0.1:", "attestation and receipt over DTLS 1.3", "DTLS dtls1.3, TLS_",
		"receipt verified offline (audit mode): ok=true", `receipt context snapshot: transport "dtls", version 0xfefc`, "SIMULATED"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(keep, "session-dtls.cbor.keys")); err != nil {
		t.Fatal(err)
	}
	v := sx(t, "receipt", "verify", "--bundle", filepath.Join(keep, "session-dtls.cbor"), "--keys", filepath.Join(keep, "session-dtls.cbor.keys"),
		"--allow-simulated", "--trust-simulated", filepath.Join(keep, "dev", "sim-pki"))
	if v.Code != 0 || !strings.Contains(v.Stdout, "OK: receipt verified (audit mode)") {
		t.Fatal(v)
	}
}
