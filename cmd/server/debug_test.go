package main

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/internal/keyfile"
)

// --keylog and --dump: the key log (0600) gets each connection's secrets,
// the dump directory this run's directory; both are config keys too.
func TestKeyLogAndDumpFlags(t *testing.T) {
	dir := t.TempDir()
	data, keys, dump := filepath.Join(dir, "data"), filepath.Join(dir, "keys.log"), filepath.Join(dir, "dump")
	cfg := filepath.Join(dir, "server.yaml")
	os.WriteFile(cfg, []byte("dump: "+dump+"\n"), 0o600)
	s := start(t, "--dev", "--data", data, "--keylog", keys, "--config", cfg)
	cas, err := keyfile.LoadCertificates(filepath.Join(data, "dev", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cas[0])
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err := hc.Get("https://" + s.summary["addr"].(string) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop(t)
	b, err := os.ReadFile(keys)
	st, _ := os.Stat(keys)
	if err != nil || st.Mode().Perm() != 0o600 || !strings.Contains(string(b), "CLIENT_TRAFFIC_SECRET_0 ") {
		t.Fatalf("key log (%v, mode %v):\n%s", err, st.Mode().Perm(), b)
	}
	runs, _ := os.ReadDir(dump)
	if len(runs) != 1 {
		t.Fatalf("dump directory holds %d runs, want 1", len(runs))
	}
}
