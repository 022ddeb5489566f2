package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/receipt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestCreateLoadRotate(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "keys"))
	if _, err := d.Load(RoleIssuer); !errors.Is(err, ErrNoKeys) || !strings.Contains(err.Error(), d.ManifestPath(RoleIssuer)) {
		t.Fatalf("empty directory: %v", err)
	}
	r1, err := d.Create(RoleIssuer, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Create(RoleIssuer, t0); err == nil {
		t.Fatal("a second Create replaced the role's keys")
	}
	for path, want := range map[string]os.FileMode{d.Path(): 0o700, d.RolePath(RoleIssuer): 0o700, d.ManifestPath(RoleIssuer): 0o600,
		filepath.Join(d.RolePath(RoleIssuer), r1.CurrentEntry.File): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %o", path, err, st.Mode().Perm(), want)
		}
	}
	v1, _ := d.Version(RoleIssuer)
	rot, err := d.Rotate(RoleIssuer, t0.Add(time.Hour), time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	if v2, _ := d.Version(RoleIssuer); v2 == v1 {
		t.Fatal("the manifest version did not change")
	}
	r2, err := d.Load(RoleIssuer)
	if err != nil {
		t.Fatal(err)
	}
	if r2.CurrentEntry.Kid != rot.Started || rot.Retired != r1.CurrentEntry.Kid || len(r2.Manifest.Keys) != 2 || len(r2.Manifest.Rotations) != 1 {
		t.Fatalf("after rotation: %+v %+v", r2.Manifest, rot)
	}
	old := r2.Manifest.Keys[0]
	if !old.NotAfter.Equal(t0.Add(time.Hour+time.Minute)) || !r2.CurrentEntry.NotBefore.Equal(t0.Add(time.Hour)) {
		t.Fatalf("windows: %+v / %+v", old, r2.CurrentEntry)
	}
	pub, err := r2.Public()
	if err != nil || len(pub) != 2 || pub[0].NotAfter != uint64(t0.Add(time.Hour+time.Minute).Unix()) || pub[1].NotAfter != 0 {
		t.Fatalf("public history: %v %+v", err, pub)
	}
	// The public history is a valid keys document's.
	k := &receipt.Keys{Issuer: "urn:x", PolicyCBOR: []byte{0xa0}, History: pub}
	for _, role := range []string{RoleAppraiser, RoleEARVerifier} {
		r, err := d.Create(role, t0)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := r.Public()
		k.History = append(k.History, p...)
	}
	enc, _ := k.MarshalCBOR()
	if _, err := receipt.ParseKeys(enc); err != nil {
		t.Fatalf("keys document from the store: %v", err)
	}
	if _, err := d.Rotate(RoleIssuer, t0, 0, ""); err == nil {
		t.Fatal("rotation back in time accepted")
	}
}

// Two replicas rotating at once serialise: every rotation is recorded and
// exactly one key stays current.
func TestConcurrentRotations(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "keys"))
	if _, err := d.Create(RoleAppraiser, t0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := d.Rotate(RoleAppraiser, t0.Add(time.Duration(i+1)*time.Hour), 0, "")
			if err != nil && !strings.Contains(err.Error(), "before the current key") {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, err := d.Load(RoleAppraiser)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Manifest.Keys) != len(r.Manifest.Rotations)+1 || len(r.Manifest.Rotations) == 0 {
		t.Fatalf("%d keys, %d rotations", len(r.Manifest.Keys), len(r.Manifest.Rotations))
	}
}

func TestLoadRefusesTamperedFiles(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "keys"))
	r, err := d.Create(RoleIssuer, t0)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(d.RolePath(RoleIssuer), r.CurrentEntry.File)
	// Another key in the current key's file.
	other, err := d.Create(RoleAppraiser, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(d.RolePath(RoleAppraiser), other.CurrentEntry.File))
	good, _ := os.ReadFile(keyPath)
	os.WriteFile(keyPath, b, 0o600)
	if _, err := d.Load(RoleIssuer); err == nil || !strings.Contains(err.Error(), keyPath) {
		t.Fatalf("key file with another key: %v", err)
	}
	os.WriteFile(keyPath, good, 0o600)
	os.Chmod(keyPath, 0o644)
	if _, err := d.Load(RoleIssuer); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("world-readable key: %v", err)
	}
	os.Chmod(keyPath, 0o600)
	os.Remove(keyPath)
	if _, err := d.Load(RoleIssuer); err == nil {
		t.Fatal("missing key file accepted")
	}
	os.Chmod(d.Path(), 0o755)
	if _, err := d.Create(RoleEARVerifier, t0); err == nil || !strings.Contains(err.Error(), "0700") {
		t.Fatalf("group-readable key directory: %v", err)
	}
}

func validManifest(t *testing.T) []byte {
	t.Helper()
	d := Open(filepath.Join(t.TempDir(), "keys"))
	if _, err := d.Create(RoleIssuer, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rotate(RoleIssuer, t0.Add(time.Hour), 0, "seed"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(d.ManifestPath(RoleIssuer))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseManifestRejects(t *testing.T) {
	good := validManifest(t)
	if _, err := ParseManifest(good, RoleIssuer); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	key := func(m map[string]any, i int) map[string]any { return m["keys"].([]any)[i].(map[string]any) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not json", []byte("{"), "manifest"},
		{"trailing data", append(append([]byte{}, good...), []byte("{}")...), "after the JSON"},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), "unknown field"},
		{"schema", edit(func(m map[string]any) { m["schema"] = "seatrx-keystore/v9" }), "schema"},
		{"role", edit(func(m map[string]any) { m["role"] = RoleAppraiser }), "role"},
		{"no keys", edit(func(m map[string]any) { m["keys"] = []any{} }), "0 keys"},
		{"path in file", edit(func(m map[string]any) { key(m, 0)["file"] = "../x.pem" }), "plain file name"},
		{"hidden file", edit(func(m map[string]any) { key(m, 0)["file"] = ".lock" }), "plain file name"},
		{"kid not the key's", edit(func(m map[string]any) { key(m, 0)["kid"] = key(m, 1)["kid"] }), "thumbprint"},
		{"same key twice", edit(func(m map[string]any) { m["keys"] = append(m["keys"].([]any), key(m, 0)) }), "twice"},
		{"bad public key", edit(func(m map[string]any) { key(m, 0)["public_key"] = "x" }), "public_key"},
		{"window backwards", edit(func(m map[string]any) { key(m, 0)["not_after"] = "2020-01-01T00:00:00Z" }), "before not_before"},
		{"two current", edit(func(m map[string]any) { delete(key(m, 0), "not_after") }), "2 current"},
		{"none current", edit(func(m map[string]any) { key(m, 1)["not_after"] = "2030-01-01T00:00:00Z" }), "0 current"},
		{"no not_before", edit(func(m map[string]any) { delete(key(m, 1), "not_before") }), "not_before"},
		{"too large", make([]byte, MaxManifestSize+1), "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.data, RoleIssuer)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// FuzzParseManifest: never a panic; an accepted manifest has exactly one
// current key and survives a re-encode.
func FuzzParseManifest(f *testing.F) {
	d := Open(filepath.Join(f.TempDir(), "keys"))
	if _, err := d.Create(RoleIssuer, t0); err != nil {
		f.Fatal(err)
	}
	if _, err := d.Rotate(RoleIssuer, t0.Add(time.Hour), 0, "seed"); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(d.ManifestPath(RoleIssuer))
	f.Add(b)
	f.Add([]byte(`{"schema":"seatrx-keystore/v1","role":"issuer","keys":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data, RoleIssuer)
		if err != nil {
			return
		}
		if m.current() < 0 {
			t.Fatal("accepted without a current key")
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseManifest(again, RoleIssuer); err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
	})
}

// Exported keys read back as the same keys in every format, with their
// kid, role and window.
func TestExport(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "keys"))
	if _, err := d.Create(RoleIssuer, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Rotate(RoleIssuer, t0.Add(time.Hour), 0, ""); err != nil {
		t.Fatal(err)
	}
	r, _ := d.Load(RoleIssuer)
	keys, err := r.Keys()
	if err != nil || len(keys) != 2 {
		t.Fatal(err)
	}
	p, err := Export(keys, FormatPEM)
	if err != nil {
		t.Fatal(err)
	}
	blk, rest := pem.Decode(p)
	if blk == nil || len(blk.Headers) != 0 || !strings.HasPrefix(string(p), "# role issuer kid "+keys[0].Entry.Kid+" valid 2026-03-01T12:00:00Z .. 2026-03-01T13:00:00Z\n") {
		t.Fatalf("PEM: %s", p)
	}
	if blk2, _ := pem.Decode(rest); blk2 == nil || !strings.Contains(string(rest), "valid 2026-03-01T13:00:00Z .. -") {
		t.Fatal("second PEM block")
	}
	j, err := Export(keys, FormatJWK)
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(j, &set); err != nil || len(set.Keys) != 2 || set.Keys[1]["kid"] != keys[1].Entry.Kid || set.Keys[0]["crv"] != "P-256" {
		t.Fatalf("JWK: %v %s", err, j)
	}
	c, err := Export(keys, FormatCOSE)
	if err != nil {
		t.Fatal(err)
	}
	var arr []cbor.RawMessage
	if err := cbor.Unmarshal(c, &arr); err != nil || len(arr) != 2 {
		t.Fatalf("COSE: %v", err)
	}
	pub, err := receipt.ParseCOSEKey(arr[1])
	if err != nil {
		t.Fatal(err)
	}
	if kid, _ := receipt.Thumbprint(pub); hex.EncodeToString(kid) != keys[1].Entry.Kid {
		t.Fatal("COSE key differs")
	}
	if _, err := Export(keys, "der"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// A role's certificate is kept beside its key: the first writer wins (so
// replicas agree on one), it must certify that key, and a key without one
// says so.
func TestCertificates(t *testing.T) {
	d := Open(filepath.Join(t.TempDir(), "keys"))
	r, err := d.Create(RoleWorkloadCA, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Certificate(RoleWorkloadCA, r.CurrentEntry); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("no certificate yet: %v", err)
	}
	self := func(k crypto.Signer, cn string) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	first, second := self(r.Current, "first"), self(r.Current, "second")
	got, err := d.PutCertificate(RoleWorkloadCA, r.CurrentEntry, first)
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("put: %v", err)
	}
	if got, err = d.PutCertificate(RoleWorkloadCA, r.CurrentEntry, second); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("a second writer must get the first certificate: %v", err)
	}
	if got, err = d.Certificate(RoleWorkloadCA, r.CurrentEntry); err != nil || !bytes.Equal(got, first) {
		t.Fatalf("read back: %v", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := d.Rotate(RoleWorkloadCA, time.Now(), time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	r2, err := d.Load(RoleWorkloadCA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.PutCertificate(RoleWorkloadCA, r2.CurrentEntry, self(other, "other key")); err == nil {
		t.Fatal("stored a certificate of another key")
	}
	if k, err := d.LoadKey(RoleWorkloadCA, r.CurrentEntry); err != nil || !k.Public().(*ecdsa.PublicKey).Equal(r.Current.Public()) {
		t.Fatalf("the retired key: %v", err)
	}
	if err := os.WriteFile(d.CertificatePath(RoleWorkloadCA, r2.CurrentEntry.Kid), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Certificate(RoleWorkloadCA, r2.CurrentEntry); err == nil || errors.Is(err, ErrNoCertificate) {
		t.Fatalf("a junk certificate file: %v", err)
	}
}
