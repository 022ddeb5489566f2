package snp

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/google/go-sev-guest/verify/trust"
)

// Product lines seatrx knows trust anchors for; they are the keys of the
// go-sev-guest TrustedRoots map and the values of Result.Product.
const (
	ProductMilan = "Milan"
	ProductGenoa = "Genoa"
	ProductTurin = "Turin"
)

// ErrUnknownProduct is returned when a product line is not Milan, Genoa or Turin.
var ErrUnknownProduct = errors.New("snp: unknown product line")

// rootsSeq gives every Roots value a distinct identity for ChainCache keys,
// so that a chain verified against one trust store is never reused for another.
var rootsSeq atomic.Uint64

// Roots is a set of trusted AMD root bundles (ARK plus ASK and/or ASVK per
// product line). A VCEK or VLEK is accepted only if it chains to one of them.
// A Roots value is immutable after construction and safe for concurrent use
// (the CRL cached inside each bundle is guarded by the library's mutex).
type Roots struct {
	id        uint64
	bundles   map[string][]*trust.AMDRootCerts
	simulated bool
	fps       []string
}

// ARKFingerprint returns the "sha256:<hex>" fingerprint of a certificate's DER;
// it is how seatrx names a trust anchor in results, EARs and receipts.
func ARKFingerprint(ark *x509.Certificate) string {
	sum := sha256.Sum256(ark.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func newRoots(bundles map[string][]*trust.AMDRootCerts, simulated bool) *Roots {
	r := &Roots{id: rootsSeq.Add(1), bundles: bundles, simulated: simulated}
	for _, bs := range bundles {
		for _, b := range bs {
			fp := ARKFingerprint(b.ProductCerts.Ark)
			if !slices.Contains(r.fps, fp) {
				r.fps = append(r.fps, fp)
			}
		}
	}
	slices.Sort(r.fps)
	return r
}

// productionRoots parses the AMD bundles embedded in go-sev-guest once.
var productionRoots = sync.OnceValue(func() *Roots {
	type pair struct{ vcek, vlek []byte }
	embedded := map[string]pair{
		ProductMilan: {trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes},
		ProductGenoa: {trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes},
		ProductTurin: {trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes},
	}
	bundles := map[string][]*trust.AMDRootCerts{}
	for line, p := range embedded {
		b, err := bundleFromKDS(line, p.vcek, p.vlek)
		if err != nil {
			// The data is compiled in; failure is a build defect, as in go-sev-guest's own init.
			panic(fmt.Sprintf("snp: embedded AMD roots for %s: %v", line, err))
		}
		bundles[line] = b
	}
	return newRoots(bundles, false)
})

// bundleFromKDS builds the trust bundles of one product line from the KDS
// cert_chain PEMs for VCEK (ASK+ARK) and VLEK (ASVK+ARK). When both share the
// same ARK (as AMD's do) they are merged into one bundle so that revocation
// checking (which reads the ASK's CRL link) also works for VLEK reports.
func bundleFromKDS(line string, vcekPEM, vlekPEM []byte) ([]*trust.AMDRootCerts, error) {
	// kds.ParseProductCertChain rejects trailing bytes, and go-sev-guest
	// v0.15.0's own ask_ark_turin_vlek.pem ends in a blank CRLF line: trim.
	vcekPEM, vlekPEM = bytes.TrimSpace(vcekPEM), bytes.TrimSpace(vlekPEM)
	vc := trust.AMDRootCertsProduct(line)
	if err := vc.FromKDSCertBytes(vcekPEM); err != nil {
		return nil, fmt.Errorf("VCEK bundle: %w", err)
	}
	if vc.ProductCerts.Ark == nil || vc.ProductCerts.Ask == nil {
		return nil, errors.New("VCEK bundle: missing ARK or ASK")
	}
	if len(vlekPEM) == 0 {
		return []*trust.AMDRootCerts{vc}, nil
	}
	vl := trust.AMDRootCertsProduct(line)
	if err := vl.FromKDSCertBytes(vlekPEM); err != nil {
		return nil, fmt.Errorf("VLEK bundle: %w", err)
	}
	if vl.ProductCerts.Ark == nil || vl.ProductCerts.Asvk == nil {
		return nil, errors.New("VLEK bundle: missing ARK or ASVK")
	}
	if vl.ProductCerts.Ark.Equal(vc.ProductCerts.Ark) {
		vc.ProductCerts.Asvk = vl.ProductCerts.Asvk
		return []*trust.AMDRootCerts{vc}, nil
	}
	return []*trust.AMDRootCerts{vc, vl}, nil
}

// ProductionRoots returns AMD's ARK/ASK/ASVK for Milan, Genoa and Turin as
// embedded in go-sev-guest (both VCEK and VLEK bundles). It is parsed once and
// shared; callers must not assume a fresh value.
func ProductionRoots() *Roots { return productionRoots() }

// NewSimulatedRoots returns a trust store holding one locally generated AMD
// PKI (evidence/sim). ask certifies VCEKs, asvk (may be nil) VLEKs. The result
// reports Simulated() == true so that results and receipts say so.
func NewSimulatedRoots(product string, ark, ask, asvk *x509.Certificate) (*Roots, error) {
	if !knownProduct(product) {
		return nil, fmt.Errorf("snp: simulated roots for %q: %w", product, ErrUnknownProduct)
	}
	if ark == nil || ask == nil {
		return nil, errors.New("snp: simulated roots: ARK and ASK are required")
	}
	b := trust.AMDRootCertsProduct(product)
	b.ProductCerts = &trust.ProductCerts{Ark: ark, Ask: ask, Asvk: asvk}
	return newRoots(map[string][]*trust.AMDRootCerts{product: {b}}, true), nil
}

// Simulated reports whether this trust store holds a simulated (test) PKI
// rather than AMD's production roots.
func (r *Roots) Simulated() bool { return r.simulated }

// Fingerprints returns "sha256:<hex of ARK DER>" for every ARK in the set,
// sorted and without duplicates; it is what EARs and receipts record.
func (r *Roots) Fingerprints() []string { return slices.Clone(r.fps) }

// forProduct returns the bundles trusted for one product line.
func (r *Roots) forProduct(line string) []*trust.AMDRootCerts { return r.bundles[line] }

func knownProduct(p string) bool {
	return p == ProductMilan || p == ProductGenoa || p == ProductTurin
}

// SetCRL installs an ARK-signed CRL (DER, as served by AMD KDS at
// https://kdsintf.amd.com/vcek/v1/<Line>/crl) for a product line so that
// CheckRevocations works offline while Now is before its NextUpdate. It is
// installed into every bundle whose ARK signed it; none is an error.
func (r *Roots) SetCRL(product string, der []byte) error {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return fmt.Errorf("snp: parse CRL: %w", err)
	}
	n := 0
	for _, b := range r.forProduct(product) {
		if crl.CheckSignatureFrom(b.ProductCerts.Ark) != nil {
			continue
		}
		b.Mu.Lock()
		b.CRL = crl
		b.Mu.Unlock()
		n++
	}
	if n == 0 {
		return fmt.Errorf("snp: CRL for %q is not signed by any trusted ARK of that product line", product)
	}
	return nil
}
