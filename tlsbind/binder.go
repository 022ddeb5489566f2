// Package tlsbind is where exported authenticators, TEE evidence and receipts
// meet one TLS 1.3 connection: the TLS configuration policy (TLS 1.3 only, no
// tickets, no resumption), the interop profiles and the attestation binder
// that ties evidence to the connection, and the per-connection attestation
// state.
package tlsbind

import (
	"crypto"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"

	"github.com/seatrx/seatrx/expat"
)

// Binder is the binding of attestation evidence to one connection and one
// authenticator key, derived as its Profile says (docs/PROTOCOL.md, "Binder
// and REPORTDATA"):
//
//	exported     = TLS-Exporter(Profile.Label, certificate_request_context, Profile.ExportedSize)
//	binding      = H(spki || exported)         (LayoutExported: exported)
//	aik_pub_hash = H(spki)                     (LayoutExported: none)
//	REPORTDATA   = per Profile.Layout
//
// where H is the cipher suite's hash and spki the DER SubjectPublicKeyInfo of
// the authenticator's end-entity certificate.
type Binder struct {
	Profile    Profile // the derivation that produced it
	Exported   []byte
	Binding    []byte
	AIKPubHash []byte // nil for LayoutExported
	ReportData [64]byte
}

// Binder derives p's binder for context crc and key spki on ch.
func (p Profile) Binder(ch expat.Channel, crc, spki []byte) (*Binder, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(spki) == 0 && p.Layout != LayoutExported {
		return nil, fmt.Errorf("tlsbind: binder: empty SubjectPublicKeyInfo")
	}
	h, err := ch.Hash()
	if err != nil {
		return nil, fmt.Errorf("tlsbind: binder: %w", err)
	}
	exported, err := ch.Export(p.Label, crc, p.ExportedSize)
	if err != nil {
		return nil, fmt.Errorf("tlsbind: binder: %w", err)
	}
	b := &Binder{Profile: p, Exported: exported}
	if p.Layout == LayoutExported {
		b.Binding = exported
		copy(b.ReportData[:], exported)
		return b, nil
	}
	b.Binding, b.AIKPubHash = sum(h, spki, exported), sum(h, spki)
	switch {
	case p.Layout == LayoutSHA512Binding:
		b.ReportData = sha512.Sum512(b.Binding)
	case 2*h.Size() <= len(b.ReportData):
		copy(b.ReportData[:], b.Binding)
		copy(b.ReportData[h.Size():], b.AIKPubHash)
	default:
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
	MismatchBinding    Mismatch = "binding"      // this key's aik_pub_hash, another binding: another connection, context or label (relay/replay)
	MismatchAIKPubHash Mismatch = "aik_pub_hash" // another key's aik_pub_hash: evidence made for another authenticator key
	MismatchOpaque     Mismatch = "report_data"  // hashed layouts: REPORTDATA cannot say which
)

// Compare checks got (the evidence's REPORTDATA) against the binder in
// constant time and, on mismatch, says which field differs when the layout
// keeps them apart. aik_pub_hash is looked at first, because the draft
// (-04 §5.2) makes it the evidence's statement of which key it was made
// for: when it is not this authenticator key's hash the evidence was made
// for another key (wherever else it came from); when it is, but the binding
// differs, the key is right and the connection, context or label is not (a
// relay or a replay). The bare exported value (rust-ref) is all binding; the
// hashed layouts (SHA-384 suites, cocos) cannot say.
func (b *Binder) Compare(got [64]byte) Mismatch {
	if subtle.ConstantTimeCompare(got[:], b.ReportData[:]) == 1 {
		return MismatchNone
	}
	switch b.Profile.Layout {
	case LayoutExported:
		return MismatchBinding
	case LayoutSHA512Binding:
		return MismatchOpaque
	}
	n := len(b.Binding)
	if 2*n > len(got) {
		return MismatchOpaque
	}
	if subtle.ConstantTimeCompare(got[n:2*n], b.AIKPubHash) == 0 {
		return MismatchAIKPubHash
	}
	return MismatchBinding
}
