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
