package handshake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
)

// TLS 1.3 SignatureScheme values (RFC 8446 §4.2.3) that Sign and Verify
// implement.
const (
	ECDSAWithP256AndSHA256 uint16 = 0x0403
	ECDSAWithP384AndSHA384 uint16 = 0x0503
	PSSWithSHA256          uint16 = 0x0804
	PSSWithSHA384          uint16 = 0x0805
	Ed25519                uint16 = 0x0807
)

// SchemeHash returns the hash scheme signs with, 0 for Ed25519 (which signs
// the message itself) and for schemes this package does not implement.
func SchemeHash(scheme uint16) crypto.Hash {
	switch scheme {
	case ECDSAWithP256AndSHA256, PSSWithSHA256:
		return crypto.SHA256
	case ECDSAWithP384AndSHA384, PSSWithSHA384:
		return crypto.SHA384
	}
	return 0
}

func isPSS(scheme uint16) bool { return scheme == PSSWithSHA256 || scheme == PSSWithSHA384 }

func digest(scheme uint16, msg []byte) []byte {
	h := SchemeHash(scheme)
	if h == 0 {
		return msg
	}
	hh := h.New()
	hh.Write(msg)
	return hh.Sum(nil)
}

// Sign signs msg (the whole SignedContent) with key as scheme prescribes:
// hash then sign for ECDSA, PSS with a salt as long as the hash for
// RSA-PSS, the message itself for Ed25519. rnd nil means crypto/rand. It
// does not check that key fits scheme: the key's own Sign refuses options
// it cannot honour, and a mismatch is exactly what a test kit may want.
func Sign(key crypto.Signer, scheme uint16, msg []byte, rnd io.Reader) ([]byte, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var opts crypto.SignerOpts = SchemeHash(scheme)
	if isPSS(scheme) {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: SchemeHash(scheme)}
	}
	sig, err := key.Sign(rnd, digest(scheme, msg), opts)
	if err != nil {
		return nil, fmt.Errorf("sign with scheme 0x%04x: %w", scheme, err)
	}
	return sig, nil
}

// Verify reports whether sig is pub's signature over msg under scheme.
// A key of a type the scheme does not use never verifies.
func Verify(pub crypto.PublicKey, scheme uint16, msg, sig []byte) bool {
	d := digest(scheme, msg)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return SchemeHash(scheme) != 0 && !isPSS(scheme) && ecdsa.VerifyASN1(k, d, sig)
	case ed25519.PublicKey:
		return scheme == Ed25519 && ed25519.Verify(k, msg, sig)
	case *rsa.PublicKey:
		return isPSS(scheme) && rsa.VerifyPSS(k, SchemeHash(scheme), d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: SchemeHash(scheme)}) == nil
	}
	return false
}
