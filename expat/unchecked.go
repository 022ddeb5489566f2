package expat

import (
	"crypto"

	"golang.org/x/crypto/cryptobyte"
)

// AssembleUnchecked wraps a caller-supplied Certificate handshake message into
// an authenticator made by sender for req (nil = spontaneous): it signs
// certificate with key under scheme and appends the matching Finished,
// checking nothing about certificate, scheme or key. It exists so that
// conformance suites can send a peer well-signed but malformed authenticators
// and see which rule the peer enforces; applications use Authenticate.
func AssembleUnchecked(ch Channel, sender Role, req *Request, certificate []byte, key crypto.Signer, scheme SignatureScheme) ([]byte, error) {
	return assemble(ch, sender, req, certificate, key, scheme, nil)
}

// CertificateEntrySpec describes one CertificateEntry for EncodeCertificate.
type CertificateEntrySpec struct {
	Certificate []byte
	Extensions  []Extension
}

// EncodeCertificate encodes a Certificate handshake message exactly as
// described (any context, any entries and extensions, duplicates included),
// for use with AssembleUnchecked.
func EncodeCertificate(ctx []byte, entries []CertificateEntrySpec) ([]byte, error) {
	return marshalMessage(TypeCertificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range entries {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Certificate) })
				addExtensions(b, e.Extensions)
			}
		})
	})
}
