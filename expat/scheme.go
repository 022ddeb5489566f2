package expat

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
	"io"

	"github.com/seatrx/seatrx/internal/handshake"
)

// SignatureScheme is a TLS 1.3 SignatureScheme (RFC 8446 §4.2.3).
type SignatureScheme uint16

// The schemes seatrx signs and verifies CertificateVerify with.
const (
	ECDSAWithP256AndSHA256 = SignatureScheme(handshake.ECDSAWithP256AndSHA256) // 0x0403
	ECDSAWithP384AndSHA384 = SignatureScheme(handshake.ECDSAWithP384AndSHA384) // 0x0503
	PSSWithSHA256          = SignatureScheme(handshake.PSSWithSHA256)          // 0x0804
	PSSWithSHA384          = SignatureScheme(handshake.PSSWithSHA384)          // 0x0805
	Ed25519                = SignatureScheme(handshake.Ed25519)                // 0x0807
)

// DefaultSchemes is the signature_algorithms list seatrx offers, in order of
// preference.
var DefaultSchemes = []SignatureScheme{Ed25519, ECDSAWithP256AndSHA256, ECDSAWithP384AndSHA384, PSSWithSHA256, PSSWithSHA384}

var schemeNames = map[SignatureScheme]string{
	ECDSAWithP256AndSHA256: "ecdsa_secp256r1_sha256",
	ECDSAWithP384AndSHA384: "ecdsa_secp384r1_sha384",
	PSSWithSHA256:          "rsa_pss_rsae_sha256",
	PSSWithSHA384:          "rsa_pss_rsae_sha384",
	Ed25519:                "ed25519",
}

func (s SignatureScheme) String() string {
	if n, ok := schemeNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SignatureScheme(0x%04x)", uint16(s))
}

// ParseSignatureScheme maps an RFC 8446 name such as "ed25519" to its value.
func ParseSignatureScheme(name string) (SignatureScheme, error) {
	for s, n := range schemeNames {
		if n == name {
			return s, nil
		}
	}
	return 0, ErrUnsupportedScheme.with("unknown scheme name %q", name)
}

// Supported reports whether seatrx can sign and verify with s.
func (s SignatureScheme) Supported() bool { _, ok := schemeNames[s]; return ok }

// forbiddenInCertificateVerify are schemes TLS 1.3 defines only for
// certificates (RSASSA-PKCS1-v1_5, SHA-1, SHA-224).
func forbiddenInCertificateVerify(s SignatureScheme) bool {
	switch s {
	case 0x0201, 0x0203, 0x0401, 0x0501, 0x0601, 0x0301, 0x0303, 0x0202:
		return true
	}
	return false
}

// fits reports whether s can be used with public key pub.
// Fits reports whether s is supported and signs with keys like pub: a
// prover holding a long-lived key checks it against the offered schemes
// before it does any work.
func (s SignatureScheme) Fits(pub crypto.PublicKey) bool { return s.Supported() && s.fits(pub) }

func (s SignatureScheme) fits(pub crypto.PublicKey) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return (s == ECDSAWithP256AndSHA256 && k.Curve == elliptic.P256()) ||
			(s == ECDSAWithP384AndSHA384 && k.Curve == elliptic.P384())
	case ed25519.PublicKey:
		return s == Ed25519
	case *rsa.PublicKey:
		return (s == PSSWithSHA256 || s == PSSWithSHA384) && k.N.BitLen() >= 2048
	}
	return false
}

// sign signs msg (the full CertificateVerify content) with key under s.
func (s SignatureScheme) sign(key crypto.Signer, msg []byte, rnd io.Reader) ([]byte, error) {
	sig, err := handshake.Sign(key, uint16(s), msg, rnd)
	if err != nil {
		return nil, fmt.Errorf("expat: CertificateVerify with %v: %w", s, err)
	}
	return sig, nil
}

// verify checks sig over msg with pub under s.
func (s SignatureScheme) verify(pub crypto.PublicKey, msg, sig []byte) bool {
	return handshake.Verify(pub, uint16(s), msg, sig)
}
