// Package handshake holds the TLS 1.3 handshake-message primitives that
// RFC 9261 exported authenticators are made of: message framing, the
// Certificate body, the exporter keys, the CertificateVerify signing input
// and signature, and the Finished MAC.
//
// It enforces no rule. expat builds and validates authenticators with these
// primitives and owns every check; internal/expattest uses the same
// primitives to assemble authenticators that break one rule while staying
// correctly signed, so that the two can never disagree on how a signature or
// a MAC is computed.
package handshake

import (
	"bytes"
	"crypto"
	"crypto/hmac"

	"golang.org/x/crypto/cryptobyte"
)

// Handshake message types used by exported authenticators (RFC 8446 §4,
// RFC 9261 §4).
const (
	TypeCertificate              uint8 = 11
	TypeCertificateRequest       uint8 = 13
	TypeCertificateVerify        uint8 = 15
	TypeClientCertificateRequest uint8 = 17
	TypeFinished                 uint8 = 20
)

// Message frames body as a handshake message of type typ (type, uint24
// length, body). Its only failure is a body longer than a uint24 allows.
func Message(typ uint8, body func(b *cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint8(typ)
	b.AddUint24LengthPrefixed(body)
	return b.Bytes()
}

// Extension is one TLS extension as it is encoded: type and extension_data.
type Extension struct {
	Type uint16
	Data []byte
}

// AddExtensions appends an Extension extensions<0..2^16-1> block holding
// exts exactly as given (order and duplicates kept).
func AddExtensions(b *cryptobyte.Builder, exts []Extension) {
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddUint16(e.Type)
			b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
		}
	})
}

// Entry is one CertificateEntry: cert_data and its extensions.
type Entry struct {
	CertData   []byte
	Extensions []Extension
}

// Certificate encodes a Certificate handshake message (RFC 8446 §4.4.2)
// with context ctx and entries exactly as given.
func Certificate(ctx []byte, entries []Entry) ([]byte, error) {
	return Message(TypeCertificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range entries {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.CertData) })
				AddExtensions(b, e.Extensions)
			}
		})
	})
}

// CertificateVerify encodes a CertificateVerify handshake message: the
// scheme, the signature, then tail (nil in every well-formed message).
func CertificateVerify(scheme uint16, sig, tail []byte) ([]byte, error) {
	return Message(TypeCertificateVerify, func(b *cryptobyte.Builder) {
		b.AddUint16(scheme)
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig) })
		b.AddBytes(tail)
	})
}

// Exporter computes TLS-Exporter(label, context, length) on one connection.
type Exporter func(label string, context []byte, length int) ([]byte, error)

// Keys are the two exporter values with which one side's authenticators are
// made on one connection (RFC 9261 §5.1), and the authenticator hash.
type Keys struct {
	Hash             crypto.Hash
	HandshakeContext []byte
	FinishedKey      []byte
}

// DeriveKeys exports the Keys for authenticators sent by sender ("client"
// or "server"): labels by the sender's role, empty context, hash-length
// output (RFC 9261 §5.1).
func DeriveKeys(export Exporter, h crypto.Hash, sender string) (Keys, error) {
	hc, err := export("EXPORTER-"+sender+" authenticator handshake context", nil, h.Size())
	if err != nil {
		return Keys{}, err
	}
	fk, err := export("EXPORTER-"+sender+" authenticator finished key", nil, h.Size())
	if err != nil {
		return Keys{}, err
	}
	return Keys{Hash: h, HandshakeContext: hc, FinishedKey: fk}, nil
}

// transcript returns Hash(Handshake Context || msgs...).
func (k Keys) transcript(msgs ...[]byte) []byte {
	hh := k.Hash.New()
	hh.Write(k.HandshakeContext)
	for _, m := range msgs {
		hh.Write(m)
	}
	return hh.Sum(nil)
}

// cvContext is the RFC 9261 §5.2.2 context string of CertificateVerify.
const cvContext = "Exported Authenticator"

// SignedContent is what a CertificateVerify signs (RFC 9261 §5.2.2):
// 64 spaces || "Exported Authenticator" || 0x00 ||
// Hash(Handshake Context || request || Certificate). request is the raw
// Authenticator Request, nil for a spontaneous authenticator.
func (k Keys) SignedContent(request, certificate []byte) []byte {
	th := k.transcript(request, certificate)
	m := make([]byte, 0, 64+len(cvContext)+1+len(th))
	m = append(m, bytes.Repeat([]byte{0x20}, 64)...)
	m = append(m, cvContext...)
	m = append(m, 0)
	return append(m, th...)
}

// FinishedMAC is HMAC(Finished MAC Key, Hash(Handshake Context || msgs...))
// (RFC 9261 §5.2.3, and §6 for the empty authenticator). msgs are the
// request (nil if none), Certificate and, unless empty, CertificateVerify.
func (k Keys) FinishedMAC(msgs ...[]byte) []byte {
	mac := hmac.New(k.Hash.New, k.FinishedKey)
	mac.Write(k.transcript(msgs...))
	return mac.Sum(nil)
}

// Finished encodes the Finished handshake message over msgs (see FinishedMAC).
func (k Keys) Finished(msgs ...[]byte) ([]byte, error) {
	vd := k.FinishedMAC(msgs...)
	return Message(TypeFinished, func(b *cryptobyte.Builder) { b.AddBytes(vd) })
}
