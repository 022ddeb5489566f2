// Package tlsbind is where exported authenticators, TEE evidence and receipts
// meet one TLS 1.3 connection: the TLS configuration policy (TLS 1.3 only, no
// tickets, no resumption), the attestation binder that ties evidence to the
// connection, and the per-connection attestation state.
package tlsbind

import (
	"crypto"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"

	"github.com/seatrx/seatrx/expat"
)

// DefaultLabel is the exporter label of the attestation binder
// (draft-fossati-seat-expat §"Cryptographic Binding"). The draft's
// architecture section says "Attestation Binding"; the label is a profile
// setting so that peers which chose that reading can interoperate.
const DefaultLabel = "Attestation"

// ExportedSize is the length of the exported value in the binder.
const ExportedSize = 32

// Binder is the binding of attestation evidence to one connection and one
// authenticator key (conformance/README.md, "The binder"):
//
//	exported     = TLS-Exporter(label, certificate_request_context, 32)
//	binding      = H(spki || exported)
//	aik_pub_hash = H(spki)
//	REPORTDATA   = binding || aik_pub_hash          if 2*|H| <= 64 (SHA-256 suites)
//	             = SHA-512(binding || aik_pub_hash) otherwise     (SHA-384 suites)
//
// where H is the cipher suite's hash and spki the DER SubjectPublicKeyInfo of
// the authenticator's end-entity certificate.
type Binder struct {
	Exported   []byte
	Binding    []byte
	AIKPubHash []byte
	ReportData [64]byte
}

// ComputeBinder derives the binder for context crc and key spki on ch. label
// "" means DefaultLabel.
func ComputeBinder(ch expat.Channel, label string, crc, spki []byte) (*Binder, error) {
	if label == "" {
		label = DefaultLabel
	}
	if len(spki) == 0 {
		return nil, fmt.Errorf("tlsbind: binder: empty SubjectPublicKeyInfo")
	}
	h, err := ch.Hash()
	if err != nil {
		return nil, fmt.Errorf("tlsbind: binder: %w", err)
	}
	exported, err := ch.Export(label, crc, ExportedSize)
	if err != nil {
		return nil, fmt.Errorf("tlsbind: binder: %w", err)
	}
	b := &Binder{Exported: exported, Binding: sum(h, spki, exported), AIKPubHash: sum(h, spki)}
	if 2*h.Size() <= len(b.ReportData) {
		copy(b.ReportData[:], b.Binding)
		copy(b.ReportData[h.Size():], b.AIKPubHash)
	} else {
		b.ReportData = sha512.Sum512(append(append([]byte{}, b.Binding...), b.AIKPubHash...))
	}
	return b, nil
}

func sum(h crypto.Hash, parts ...[]byte) []byte {
	hh := h.New()
	for _, p := range parts {
		hh.Write(p)
	}
	return hh.Sum(nil)
}

// Mismatch names which part of the binding differs between evidence and the
// relying party's own computation.
type Mismatch string

// Which binder field a REPORTDATA mismatch is attributed to.
const (
	MismatchNone       Mismatch = ""
	MismatchBinding    Mismatch = "binding"      // evidence made for another connection or context (relay/replay)
	MismatchAIKPubHash Mismatch = "aik_pub_hash" // evidence made for another authenticator key
	MismatchOpaque     Mismatch = "report_data"  // SHA-384 suites: the hashed layout cannot say which
)

// Compare checks got (the evidence's REPORTDATA) against the binder in
// constant time and, on mismatch, says which field differs.
func (b *Binder) Compare(got [64]byte) Mismatch {
	if subtle.ConstantTimeCompare(got[:], b.ReportData[:]) == 1 {
		return MismatchNone
	}
	n := len(b.Binding)
	if 2*n > len(got) {
		return MismatchOpaque
	}
	if subtle.ConstantTimeCompare(got[:n], b.ReportData[:n]) == 0 {
		return MismatchBinding
	}
	return MismatchAIKPubHash
}
