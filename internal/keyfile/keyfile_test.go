package keyfile

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "k", "issuer.pem")
	k1, err := LoadOrCreateP256(p)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	k2, err := LoadOrCreateP256(p)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k2.Public()) {
		t.Fatal("reload gave another key")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not pem"), 0o600)
	if _, err := LoadOrCreateP256(bad); err == nil || !strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("bad file: %v", err)
	}
	if _, err := LoadCertificates(bad); err == nil {
		t.Fatal("certificates from garbage")
	}
}

func TestWorkloadKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "workload", "data")
	path := filepath.Join(dir, "workload.key")
	k, created, err := LoadOrCreateWorkloadKey(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, path: 0o600} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != want {
			t.Fatalf("%s: mode %v, want %o (%v)", p, st.Mode().Perm(), want, err)
		}
	}
	k2, created, err := LoadOrCreateWorkloadKey(path)
	if err != nil || created || !k2.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public()) {
		t.Fatalf("reload: %v %v", created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateWorkloadKey(path); err == nil {
		t.Fatal("a world-readable workload key was accepted")
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateWorkloadKey(path); err == nil {
		t.Fatal("a workload key in a directory others can read was accepted")
	}
}
