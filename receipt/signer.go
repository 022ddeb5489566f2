package receipt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/veraison/go-cose"
)

// Signer signs receipts (as issuer) or approvals (as approver). It wraps a
// crypto.Signer with its COSE algorithm, its kid (RFC 9679 thumbprint of its
// COSE_Key) and a name: the issuer URI for receipts, the approver id for
// approvals.
type Signer struct {
	key    crypto.Signer
	alg    cose.Algorithm
	signer cose.Signer
	kid    []byte
	name   string
	role   string
}

// NewSigner derives the algorithm from the key type: ES256 for P-256, ES384
// for P-384, EdDSA for Ed25519; any other key is rejected (alg_not_allowed).
// name is the issuer URI (receipts) or the approver id (approvals).
func NewSigner(key crypto.Signer, name string) (*Signer, error) {
	if key == nil {
		return nil, ferr("key", CodeConfig, "nil key")
	}
	if name == "" {
		return nil, ferr("key", CodeConfig, "empty issuer/approver name")
	}
	alg, err := algForKey(key.Public())
	if err != nil {
		return nil, err
	}
	cs, err := cose.NewSigner(alg, key)
	if err != nil {
		return nil, fwrap("key", CodeAlgKeyMismatch, fmt.Errorf("cose signer: %w", err))
	}
	kid, err := Thumbprint(key.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{key: key, alg: alg, signer: cs, kid: kid, name: name}, nil
}

// WithRole returns a copy of s that records role (e.g. "appraiser") in the
// approver identity it produces.
func (s *Signer) WithRole(role string) *Signer {
	c := *s
	c.role = role
	return &c
}

// KeyID returns the RFC 9679 thumbprint used as kid.
func (s *Signer) KeyID() []byte { return append([]byte(nil), s.kid...) }

// Name returns the issuer URI or approver id.
func (s *Signer) Name() string { return s.name }

// Algorithm returns the COSE algorithm id (-7 ES256, -35 ES384, -8 EdDSA).
func (s *Signer) Algorithm() int64 { return int64(s.alg) }

// Public returns the public key.
func (s *Signer) Public() crypto.PublicKey { return s.key.Public() }

// Trusted returns a TrustedKey for s with no validity bounds, as a verifier
// would configure it.
func (s *Signer) Trusted() TrustedKey {
	return TrustedKey{ID: s.name, Key: s.key.Public(), Issuer: s.name, Role: s.role}
}

// algForKey maps a public key to its allowed COSE signature algorithm.
func algForKey(pub crypto.PublicKey) (cose.Algorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return cose.AlgorithmES256, nil
		case elliptic.P384():
			return cose.AlgorithmES384, nil
		}
		return 0, ferr("key", CodeAlgNotAllowed, "ECDSA curve %s not allowed", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return cose.AlgorithmEdDSA, nil
	}
	return 0, ferr("key", CodeAlgNotAllowed, "key type %T not allowed", pub)
}

// Thumbprint returns the RFC 9679 COSE Key Thumbprint (SHA-256) of pub: the
// digest of the deterministic encoding of the key's required parameters only.
func Thumbprint(pub crypto.PublicKey) ([]byte, error) {
	var m map[int64]any
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		var crv int64
		switch k.Curve {
		case elliptic.P256():
			crv = int64(cose.CurveP256)
		case elliptic.P384():
			crv = int64(cose.CurveP384)
		default:
			return nil, ferr("key", CodeAlgNotAllowed, "curve not allowed")
		}
		pt, err := k.Bytes()
		if err != nil {
			return nil, fwrap("key", CodeMalformed, err)
		}
		n := (len(pt) - 1) / 2
		m = map[int64]any{1: int64(cose.KeyTypeEC2), -1: crv, -2: pt[1 : 1+n], -3: pt[1+n:]}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, ferr("key", CodeMalformed, "ed25519 key is %d bytes", len(k))
		}
		m = map[int64]any{1: int64(cose.KeyTypeOKP), -1: int64(cose.CurveEd25519), -2: []byte(k)}
	default:
		return nil, ferr("key", CodeAlgNotAllowed, "key type %T not allowed", pub)
	}
	enc, err := marshal(m)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(enc)
	return sum[:], nil
}

// COSEKey encodes pub as a COSE_Key (with its alg), the form vectors use.
func COSEKey(pub crypto.PublicKey) ([]byte, error) {
	k, err := cose.NewKeyFromPublic(pub)
	if err != nil {
		return nil, fwrap("key", CodeMalformed, err)
	}
	b, err := k.MarshalCBOR()
	if err != nil {
		return nil, fwrap("key", CodeMalformed, err)
	}
	return b, nil
}

// ParseCOSEKey decodes a public COSE_Key (EC2 P-256/P-384 or OKP Ed25519).
func ParseCOSEKey(data []byte) (crypto.PublicKey, error) {
	if len(data) > 1024 {
		return nil, ferr("cose_key", CodeTooLarge, "%d bytes", len(data))
	}
	var k cose.Key
	if err := k.UnmarshalCBOR(data); err != nil {
		return nil, fwrap("cose_key", CodeMalformed, err)
	}
	pub, err := k.PublicKey()
	if err != nil {
		return nil, fwrap("cose_key", CodeMalformed, err)
	}
	if _, err := algForKey(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// TrustedKey is a verifier-side trusted key: an issuer key (Issuer = the iss
// it may sign for; empty accepts any iss, which deployments should avoid) or
// an approver key (ID = the approver id it belongs to).
// NotBefore/NotAfter bound its validity; zero means unbounded on that side.
type TrustedKey struct {
	ID        string
	Key       crypto.PublicKey
	Issuer    string
	Role      string
	NotBefore time.Time
	NotAfter  time.Time
}

// Kid returns the key's RFC 9679 COSE Key Thumbprint (SHA-256), its kid.
func (k TrustedKey) Kid() ([]byte, error) { return Thumbprint(k.Key) }

// SPKIFingerprint returns the SHA-256 of pub's DER SubjectPublicKeyInfo:
// what "openssl pkey -pubin -outform DER | sha256sum" prints for the key's
// PEM, so that anyone can check a key without seatrx's code.
func SPKIFingerprint(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fwrap("key", CodeAlgNotAllowed, err)
	}
	sum := sha256.Sum256(der)
	return sum[:], nil
}

// covers reports whether t lies inside the key's validity window.
func (k TrustedKey) covers(t time.Time) bool {
	if !k.NotBefore.IsZero() && t.Before(k.NotBefore) {
		return false
	}
	if !k.NotAfter.IsZero() && t.After(k.NotAfter) {
		return false
	}
	return true
}

// findKey returns the trusted key whose thumbprint equals kid.
func findKey(keys []TrustedKey, kid []byte) (*TrustedKey, error) {
	for i := range keys {
		tp, err := Thumbprint(keys[i].Key)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", keys[i].ID, err)
		}
		if string(tp) == string(kid) {
			return &keys[i], nil
		}
	}
	return nil, nil
}
