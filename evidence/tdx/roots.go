package tdx

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// intelRootPEM is the Intel SGX Root CA certificate (public; valid 2018-05-21 to
// 2049-12-31, sha256 44:A0:19:6B...). It is a byte-identical copy of
// github.com/google/go-tdx-guest@v0.3.1/verify/trusted_root.pem, which the
// library embeds but does not export.
//
//go:embed intel_sgx_root_ca.pem
var intelRootPEM []byte

// Roots is a set of trusted Intel SGX root CAs (or, in tests and --dev mode,
// simulated ones). It is immutable after construction and safe for concurrent use.
type Roots struct {
	pool      *x509.CertPool
	certs     []*x509.Certificate
	fps       []string // "sha256:<hex>" per cert, same order as certs
	simulated bool
	id        [32]byte // sha256 over the simulated flag and sorted fingerprints; part of ChainCache keys
}

// ProductionRoots returns the Intel SGX Root CA that anchors every genuine
// TDX PCK certificate chain. The returned set is shared and immutable.
func ProductionRoots() *Roots { return productionRoots() }

var productionRoots = sync.OnceValue(func() *Roots {
	block, _ := pem.Decode(intelRootPEM)
	if block == nil {
		panic("tdx: embedded Intel SGX Root CA is not PEM") // build-time invariant
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		panic("tdx: embedded Intel SGX Root CA: " + err.Error()) // build-time invariant
	}
	return NewRoots([]*x509.Certificate{c}, false)
})

// NewRoots returns a root set holding certs. simulated marks roots of a test
// PKI so that results verified against them say Simulated.
func NewRoots(certs []*x509.Certificate, simulated bool) *Roots {
	r := &Roots{pool: x509.NewCertPool(), simulated: simulated}
	for _, c := range certs {
		if c == nil {
			continue
		}
		r.pool.AddCert(c)
		r.certs = append(r.certs, c)
		r.fps = append(r.fps, fingerprint(c.Raw))
	}
	sorted := append([]string(nil), r.fps...)
	sort.Strings(sorted)
	r.id = sha256.Sum256([]byte(fmt.Sprintf("%v|%s", simulated, strings.Join(sorted, ","))))
	return r
}

// Simulated reports whether these roots belong to a simulated (test) PKI.
func (r *Roots) Simulated() bool { return r != nil && r.simulated }

// Fingerprints returns "sha256:<hex of root DER>" for every root, sorted.
func (r *Roots) Fingerprints() []string {
	if r == nil {
		return nil
	}
	out := append([]string(nil), r.fps...)
	sort.Strings(out)
	return out
}

// Certificates returns a copy of the slice of root certificates.
func (r *Roots) Certificates() []*x509.Certificate {
	if r == nil {
		return nil
	}
	return append([]*x509.Certificate(nil), r.certs...)
}

// find returns the trusted root whose DER equals der, and its fingerprint.
func (r *Roots) find(der []byte) (*x509.Certificate, string, bool) {
	for i, c := range r.certs {
		if bytes.Equal(c.Raw, der) {
			return c, r.fps[i], true
		}
	}
	return nil, "", false
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (r *Roots) String() string {
	return fmt.Sprintf("tdx roots %v (simulated=%v)", r.Fingerprints(), r.Simulated())
}
