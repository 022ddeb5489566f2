// Package keyfile loads and creates the PEM files that hold seatrx's keys and
// certificates, with owner-only permissions for private keys.
package keyfile

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxFileSize bounds a key or certificate file.
const MaxFileSize = 1 << 20

// LoadOrCreateP256 loads the PKCS#8 private key at path, or generates an
// ECDSA P-256 key and writes it there (mode 0600) if the file does not exist.
func LoadOrCreateP256(path string) (crypto.Signer, error) {
	k, err := LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	nk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keyfile: generate %s: %w", path, err)
	}
	if err := WriteKey(path, nk); err != nil {
		return nil, err
	}
	return nk, nil
}

// LoadKey reads a PEM "PRIVATE KEY" (PKCS#8) file.
func LoadKey(path string) (crypto.Signer, error) {
	b, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %s: %w", path, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keyfile: %s: %T is not a signing key", path, k)
	}
	return s, nil
}

// WriteKey writes key as PEM PKCS#8 with mode 0600, creating the directory.
func WriteKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("keyfile: marshal %s: %w", path, err)
	}
	return write(path, "PRIVATE KEY", der, 0o600)
}

// WriteCertificate writes a DER certificate as PEM (mode 0644).
func WriteCertificate(path string, der []byte) error {
	return write(path, "CERTIFICATE", der, 0o644)
}

// LoadCertificates reads every CERTIFICATE block of a PEM file.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("keyfile: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("keyfile: %s: no CERTIFICATE block", path)
	}
	return out, nil
}

func write(path, typ string, der []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if st.Size() > MaxFileSize {
		return nil, fmt.Errorf("keyfile: %s is %d bytes, limit %d", path, st.Size(), MaxFileSize)
	}
	return os.ReadFile(path)
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != typ {
		return nil, fmt.Errorf("keyfile: %s: no %q PEM block", path, typ)
	}
	return blk.Bytes, nil
}

// LoadOrCreateWorkloadKey returns the workload's long-lived key at path
// (PEM PKCS#8), generating an ECDSA P-256 key there if the file does not
// exist. The key is the attested workload's identity key (tlsbind.Prover.Key):
// its directory must be the workload's own (created 0700; an existing one
// others can read or write is refused) and the file 0600 (one others can
// read is refused). In a confidential VM that directory is inside the
// encrypted guest, so the key never leaves the TEE. created reports a new key.
func LoadOrCreateWorkloadKey(path string) (key crypto.Signer, created bool, err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("keyfile: %s has mode %o: a workload key's directory must be the workload's alone (0700)", dir, st.Mode().Perm())
	}
	if st, err := os.Stat(path); err == nil {
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("keyfile: %s has mode %o: a workload key must be 0600", path, st.Mode().Perm())
		}
		k, err := LoadKey(path)
		return k, false, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("keyfile: generate %s: %w", path, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	// O_EXCL: two processes starting at once do not overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("keyfile: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("keyfile: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("keyfile: %w", err)
	}
	return k, true, nil
}
