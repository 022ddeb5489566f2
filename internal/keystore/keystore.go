// Package keystore keeps a seatrx server's signing keys in a documented key
// directory that several server processes can share: one subdirectory per
// role, holding each key in its own file and a manifest that is the role's
// key history (kid, validity window, public key) and rotation log.
//
//	KEYDIR/                      0700  (default DATA/keys)
//	  issuer/                    0700  receipts' COSE signing keys
//	    manifest.json            0600  {"schema": "seatrx-keystore/v1", "role", "keys": [...], "rotations": [...]}
//	    <kid hex>.pem            0600  PKCS#8 private key; kid = RFC 9679 COSE Key Thumbprint
//	  appraiser/                 0700  the server's own approval key
//	  ear-verifier/              0700  the key its EARs are signed with
//	  workload-ca/               0700  the workload CA key X.509-SVIDs are signed with
//	    <kid hex>.crt            0600  the key's self-signed CA certificate (PEM), made once
//
// A role's current key is the manifest entry without not_after. Rotate
// writes the new key file (temporary name, fsync, rename), then the new
// manifest (the same way): a reader that sees the new manifest finds every
// file it names, and a reader never sees half a file. Rotations of one role
// are serialised by an advisory lock on KEYDIR/ROLE/.lock (on Unix).
// Readers (other replicas) notice a rotation by the manifest's Version
// changing, by polling or on SIGHUP, and reload.
//
// Manifests keep each key's public half, so a retired key's private file
// may be deleted once no replica can still sign with it (after the
// rotation's overlap); the history keeps the public key for verifiers.
package keystore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/seatrx/seatrx/receipt"
)

// Schema identifies the manifest format.
const Schema = "seatrx-keystore/v1"

// ManifestFile is the name of a role's manifest in its directory.
const ManifestFile = "manifest.json"

// MaxManifestSize bounds a manifest file, checked before decoding.
const MaxManifestSize = 1 << 20

// MaxKeys bounds the keys of one role's history.
const MaxKeys = 128

// Roles of the key directory. A later role adds a directory and a constant;
// the format does not change.
const (
	RoleIssuer      = receipt.RoleIssuer
	RoleAppraiser   = receipt.RoleAppraiser
	RoleEARVerifier = receipt.RoleEARVerifier
	// RoleWorkloadCA signs X.509-SVIDs (package credential). Each of its keys
	// also has a CA certificate beside it (Certificate, PutCertificate),
	// which every replica serves in the trust bundle.
	RoleWorkloadCA = "workload-ca"
)

// Roles lists the roles a receipt server needs, in the keys document's order.
var Roles = []string{RoleIssuer, RoleAppraiser, RoleEARVerifier}

// AllRoles lists every role of the directory: Roles, then the workload CA
// (needed only by a server whose policy issues credentials).
var AllRoles = []string{RoleIssuer, RoleAppraiser, RoleEARVerifier, RoleWorkloadCA}

// ErrNoKeys reports a role directory without a manifest: no key was ever
// made or imported for the role there.
var ErrNoKeys = errors.New("keystore: no keys for this role")

// Manifest is one role's key history and rotation log (manifest.json).
type Manifest struct {
	Schema    string     `json:"schema"`
	Role      string     `json:"role"`
	Keys      []Entry    `json:"keys"`
	Rotations []Rotation `json:"rotations,omitempty"`
}

// Entry is one key of a role's history. NotAfter nil marks the current key.
type Entry struct {
	// Kid is the lowercase hex RFC 9679 COSE Key Thumbprint (SHA-256).
	Kid string `json:"kid"`
	// File is the private key's file name in the role directory.
	File string `json:"file"`
	// PublicKey is the PEM "PUBLIC KEY" (SubjectPublicKeyInfo).
	PublicKey string `json:"public_key"`
	// NotBefore and NotAfter bound when the key may sign (inclusive).
	NotBefore time.Time  `json:"not_before"`
	NotAfter  *time.Time `json:"not_after,omitempty"`
	// Origin says how the key came: "generated" or "imported FILE".
	Origin string `json:"origin"`
}

// Rotation records one rotation of the role.
type Rotation struct {
	At      time.Time `json:"at"`
	Retired string    `json:"retired"` // kid of the key retired
	Started string    `json:"started"` // kid of the new current key
	// RetiredAt is the old key's not_after: At plus the overlap during
	// which replicas that have not reloaded yet still sign with it.
	RetiredAt time.Time `json:"retired_at"`
	Reason    string    `json:"reason,omitempty"`
}

// Dir is a key directory.
type Dir struct{ path string }

// Open returns the key directory at path (nothing is read or created).
func Open(path string) *Dir { return &Dir{path: path} }

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// RolePath returns a role's directory.
func (d *Dir) RolePath(role string) string { return filepath.Join(d.path, role) }

// ManifestPath returns a role's manifest path.
func (d *Dir) ManifestPath(role string) string { return filepath.Join(d.path, role, ManifestFile) }

// Role is one role's loaded keys: the manifest, its Version, and the
// current key's signer.
type Role struct {
	Name     string
	Manifest Manifest
	// Version changes whenever the manifest changes (SHA-256 of its bytes).
	Version string
	// Current is the current key; CurrentEntry its manifest entry.
	Current      crypto.Signer
	CurrentEntry Entry
}

// Public returns every key of the history with its window, for the keys
// document (oldest first).
func (r *Role) Public() ([]receipt.KeyEntry, error) {
	var out []receipt.KeyEntry
	for i, e := range r.Manifest.Keys {
		pub, err := parsePublic(e.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("keystore: %s keys[%d]: %w", r.Name, i, err)
		}
		ck, err := receipt.COSEKey(pub)
		if err != nil {
			return nil, err
		}
		kid, _ := hex.DecodeString(e.Kid)
		ke := receipt.KeyEntry{Role: r.Name, Kid: kid, Key: ck, NotBefore: unixSeconds(e.NotBefore)}
		if e.NotAfter != nil {
			ke.NotAfter = unixSeconds(*e.NotAfter)
		}
		out = append(out, ke)
	}
	return out, nil
}

// Kids returns the kids (raw bytes) of every key of the history.
func (r *Role) Kids() [][]byte {
	var out [][]byte
	for _, e := range r.Manifest.Keys {
		b, _ := hex.DecodeString(e.Kid)
		out = append(out, b)
	}
	return out
}

func unixSeconds(t time.Time) uint64 {
	if t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}

// Version returns the current version of a role's manifest (the SHA-256 of
// its bytes), or ErrNoKeys; cheap enough to poll.
func (d *Dir) Version(role string) (string, error) {
	b, err := readLimited(d.ManifestPath(role), MaxManifestSize)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Load reads a role's manifest and its current private key, checking that
// the key file holds the key the manifest names. A missing manifest is
// ErrNoKeys (the error names the file).
func (d *Dir) Load(role string) (*Role, error) {
	path := d.ManifestPath(role)
	b, err := readLimited(path, MaxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(b, role)
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", path, err)
	}
	sum := sha256.Sum256(b)
	r := &Role{Name: role, Manifest: *m, Version: hex.EncodeToString(sum[:])}
	i := m.current()
	r.CurrentEntry = m.Keys[i]
	keyPath := filepath.Join(d.RolePath(role), r.CurrentEntry.File)
	if r.Current, err = loadKey(keyPath); err != nil {
		return nil, err
	}
	kid, err := receipt.Thumbprint(r.Current.Public())
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", keyPath, err)
	}
	if hex.EncodeToString(kid) != r.CurrentEntry.Kid {
		return nil, fmt.Errorf("keystore: %s holds key %x, but %s names %s as the current %s key", keyPath, kid, path, r.CurrentEntry.Kid, role)
	}
	return r, nil
}

// ParseManifest strictly decodes a manifest of role: known schema and role,
// 1..MaxKeys keys with hex kids that match their public keys, plain file
// names, not_after after not_before, exactly one current key, no kid twice.
func ParseManifest(b []byte, role string) (*Manifest, error) {
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("manifest is %d bytes, limit %d", len(b), MaxManifestSize)
	}
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("manifest: data after the JSON object")
	}
	if m.Schema != Schema {
		return nil, fmt.Errorf("manifest: schema %q, want %q", m.Schema, Schema)
	}
	if m.Role != role {
		return nil, fmt.Errorf("manifest: role %q in the %s directory", m.Role, role)
	}
	if len(m.Keys) == 0 || len(m.Keys) > MaxKeys {
		return nil, fmt.Errorf("manifest: %d keys, want 1..%d", len(m.Keys), MaxKeys)
	}
	seen := map[string]bool{}
	current := 0
	for i, e := range m.Keys {
		at := fmt.Sprintf("manifest: keys[%d]", i)
		if e.File == "" || e.File != filepath.Base(e.File) || strings.HasPrefix(e.File, ".") {
			return nil, fmt.Errorf("%s: file %q is not a plain file name in the role directory", at, e.File)
		}
		pub, err := parsePublic(e.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%s: public_key: %w", at, err)
		}
		kid, err := receipt.Thumbprint(pub)
		if err != nil {
			return nil, fmt.Errorf("%s: public_key: %w", at, err)
		}
		if e.Kid != hex.EncodeToString(kid) {
			return nil, fmt.Errorf("%s: kid %q is not the public key's thumbprint %x", at, e.Kid, kid)
		}
		if seen[e.Kid] {
			return nil, fmt.Errorf("%s: kid %s listed twice", at, e.Kid)
		}
		seen[e.Kid] = true
		if e.NotBefore.IsZero() {
			return nil, fmt.Errorf("%s: not_before missing", at)
		}
		if e.NotAfter == nil {
			current++
		} else if e.NotAfter.Before(e.NotBefore) {
			return nil, fmt.Errorf("%s: not_after before not_before", at)
		}
	}
	if current != 1 {
		return nil, fmt.Errorf("manifest: %d current keys (without not_after), want exactly 1", current)
	}
	return &m, nil
}

// current returns the index of the current key (ParseManifest ensures one).
func (m *Manifest) current() int {
	return slices.IndexFunc(m.Keys, func(e Entry) bool { return e.NotAfter == nil })
}

// Create makes the role's first key (ECDSA P-256), valid from now. It
// refuses a role that already has a manifest.
func (d *Dir) Create(role string, now time.Time) (*Role, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %w", role, err)
	}
	return d.add(role, k, now, "generated")
}

// Import makes key the role's first key, valid from notBefore (a key from
// before the key directory existed, e.g. DATA/keys/issuer.pem).
func (d *Dir) Import(role string, key crypto.Signer, notBefore time.Time, from string) (*Role, error) {
	return d.add(role, key, notBefore, "imported "+from)
}

func (d *Dir) add(role string, key crypto.Signer, notBefore time.Time, origin string) (*Role, error) {
	unlock, err := d.lock(role)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(d.ManifestPath(role)); err == nil {
		return nil, fmt.Errorf("keystore: %s exists: the %s role already has keys", d.ManifestPath(role), role)
	}
	e, err := d.writeKey(role, key, notBefore.UTC().Truncate(time.Second), origin)
	if err != nil {
		return nil, err
	}
	m := Manifest{Schema: Schema, Role: role, Keys: []Entry{e}}
	if err := d.writeManifest(role, &m); err != nil {
		return nil, err
	}
	return d.Load(role)
}

// Rotate retires the role's current key and starts a new one: the new key
// is valid from now, the old one until now+overlap (so that replicas that
// have not reloaded yet still sign valid receipts), and the rotation is
// recorded in the manifest.
func (d *Dir) Rotate(role string, now time.Time, overlap time.Duration, reason string) (*Rotation, error) {
	if overlap < 0 {
		return nil, fmt.Errorf("keystore: negative overlap %s", overlap)
	}
	unlock, err := d.lock(role)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := d.Load(role)
	if err != nil {
		return nil, err
	}
	if len(old.Manifest.Keys) >= MaxKeys {
		return nil, fmt.Errorf("keystore: the %s role has %d keys, the limit", role, MaxKeys)
	}
	now = now.UTC().Truncate(time.Second)
	if now.Before(old.CurrentEntry.NotBefore) {
		return nil, fmt.Errorf("keystore: rotation at %s before the current key's not_before %s", now.Format(time.RFC3339), old.CurrentEntry.NotBefore.Format(time.RFC3339))
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s key: %w", role, err)
	}
	e, err := d.writeKey(role, k, now, "generated")
	if err != nil {
		return nil, err
	}
	m := old.Manifest
	m.Keys = slices.Clone(m.Keys)
	i := m.current()
	retired := now.Add(overlap)
	m.Keys[i].NotAfter = &retired
	m.Keys = append(m.Keys, e)
	rot := Rotation{At: now, Retired: m.Keys[i].Kid, Started: e.Kid, RetiredAt: retired, Reason: reason}
	m.Rotations = append(m.Rotations, rot)
	if err := d.writeManifest(role, &m); err != nil {
		return nil, err
	}
	return &rot, nil
}

// writeKey writes key to ROLE/<kid>.pem (0600, atomically) and returns its
// manifest entry.
func (d *Dir) writeKey(role string, key crypto.Signer, notBefore time.Time, origin string) (Entry, error) {
	kid, err := receipt.Thumbprint(key.Public())
	if err != nil {
		return Entry{}, fmt.Errorf("keystore: %s key: %w", role, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Entry{}, fmt.Errorf("keystore: %s key: %w", role, err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return Entry{}, fmt.Errorf("keystore: %s key: %w", role, err)
	}
	e := Entry{Kid: hex.EncodeToString(kid), File: hex.EncodeToString(kid) + ".pem",
		PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})), NotBefore: notBefore, Origin: origin}
	if err := writeAtomic(filepath.Join(d.RolePath(role), e.File), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return Entry{}, err
	}
	return e, nil
}

func (d *Dir) writeManifest(role string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: encode manifest: %w", err)
	}
	return writeAtomic(d.ManifestPath(role), append(b, '\n'))
}

// writeAtomic writes data to path through a temporary file in the same
// directory (0600, fsynced) and a rename, then fsyncs the directory: a
// reader sees the old file or the new one, never a part.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := mkdirPrivate(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("keystore: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keystore: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keystore: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if df, err := os.Open(dir); err == nil {
		df.Sync()
		df.Close()
	}
	return nil
}

// prepare creates the key directory and the role's, 0700, refusing either
// if others can read it.
func (d *Dir) prepare(role string) error {
	if err := mkdirPrivate(d.path); err != nil {
		return err
	}
	return mkdirPrivate(d.RolePath(role))
}

// mkdirPrivate creates dir and its parents 0700 and refuses an existing
// directory that others can read.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("keystore: %s has mode %o; a key directory must be 0700", dir, st.Mode().Perm())
	}
	return nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore: %s: %w", path, ErrNoKeys)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("keystore: %s is %d bytes, limit %d", path, st.Size(), limit)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	return b, nil
}

// loadKey reads a PKCS#8 PEM private key, refusing a file others can read.
func loadKey(path string) (crypto.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keystore: %s has mode %o; a private key file must be 0600", path, st.Mode().Perm())
	}
	b, err := readLimited(path, 64<<10)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("keystore: %s: no PRIVATE KEY PEM block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keystore: %s: %T is not a signing key", path, k)
	}
	return s, nil
}

func parsePublic(p string) (crypto.PublicKey, error) {
	blk, rest := pem.Decode([]byte(p))
	if blk == nil || blk.Type != "PUBLIC KEY" || strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("not one PEM PUBLIC KEY block")
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}

// MaxCertificateSize bounds a role certificate file, checked before decoding.
const MaxCertificateSize = 64 << 10

// ErrNoCertificate reports a key without a certificate file beside it.
var ErrNoCertificate = errors.New("keystore: no certificate for this key")

// CertificatePath returns where the certificate of key kid of role lives.
func (d *Dir) CertificatePath(role, kid string) string {
	return filepath.Join(d.RolePath(role), kid+".crt")
}

// Certificate returns the DER certificate kept beside key kid of role, or
// ErrNoCertificate. It checks that the certificate holds that key.
func (d *Dir) Certificate(role string, e Entry) ([]byte, error) {
	path := d.CertificatePath(role, e.Kid)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("keystore: %s: %w", path, ErrNoCertificate)
	}
	b, err := readLimited(path, MaxCertificateSize)
	if err != nil {
		return nil, err
	}
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("keystore: %s: not one PEM CERTIFICATE block", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("keystore: %s: %w", path, err)
	}
	kid, err := receipt.Thumbprint(c.PublicKey)
	if err != nil || hex.EncodeToString(kid) != e.Kid {
		return nil, fmt.Errorf("keystore: %s does not certify key %s", path, e.Kid)
	}
	return blk.Bytes, nil
}

// PutCertificate stores der as the certificate of key e of role, unless one
// is there already: under the role's lock, so that replicas racing to make
// the same key's certificate end up with one. It returns the certificate in
// force (der, or the one another process wrote first).
func (d *Dir) PutCertificate(role string, e Entry, der []byte) ([]byte, error) {
	unlock, err := d.lock(role)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if have, err := d.Certificate(role, e); err == nil {
		return have, nil
	} else if !errors.Is(err, ErrNoCertificate) {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("keystore: certificate for %s: %w", e.Kid, err)
	}
	kid, err := receipt.Thumbprint(c.PublicKey)
	if err != nil || hex.EncodeToString(kid) != e.Kid {
		return nil, fmt.Errorf("keystore: the certificate does not certify key %s", e.Kid)
	}
	if err := writeAtomic(d.CertificatePath(role, e.Kid), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})); err != nil {
		return nil, err
	}
	return der, nil
}

// LoadKey returns the private key of entry e of role (a retired key's file
// may have been deleted: the error then wraps fs.ErrNotExist).
func (d *Dir) LoadKey(role string, e Entry) (crypto.Signer, error) {
	return loadKey(filepath.Join(d.RolePath(role), e.File))
}
