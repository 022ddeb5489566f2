package ear

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Issuer signs EARs with the seatrx verifier key. It is safe for concurrent
// use if its crypto.Signer is.
type Issuer struct {
	signer    crypto.Signer
	alg       jwa.SignatureAlgorithm
	kid       string
	developer string
	build     string
}

// NewIssuer returns an Issuer that signs EARs as JWT with ES256 (P-256 key)
// or ES384 (P-384 key); the algorithm follows from the key. verifierDeveloper
// and verifierBuild form the EAR's ear.verifier-id.
func NewIssuer(key crypto.Signer, verifierDeveloper, verifierBuild string) (*Issuer, error) {
	if key == nil {
		return nil, fmt.Errorf("%w: nil signer", ErrUnsupportedKey)
	}
	if verifierDeveloper == "" || verifierBuild == "" {
		return nil, errors.New("ear: verifier developer and build must not be empty")
	}
	pub, ok := key.Public().(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: issuer key is %T, want ECDSA P-256 or P-384", ErrUnsupportedKey, key.Public())
	}
	var alg jwa.SignatureAlgorithm
	switch pub.Curve {
	case elliptic.P256():
		alg = jwa.ES256()
	case elliptic.P384():
		alg = jwa.ES384()
	default:
		return nil, fmt.Errorf("%w: issuer curve %s, want P-256 or P-384", ErrUnsupportedKey, pub.Curve.Params().Name)
	}
	kid, err := KeyID(pub)
	if err != nil {
		return nil, err
	}
	return &Issuer{signer: key, alg: alg, kid: kid, developer: verifierDeveloper, build: verifierBuild}, nil
}

// Public returns the issuer's public key, to be configured as a
// TrustedVerifier by relying parties.
func (i *Issuer) Public() crypto.PublicKey { return i.signer.Public() }

// KeyID returns the "kid" the issuer puts in every token header (the RFC 7638
// thumbprint of its key); use it as TrustedVerifier.ID.
func (i *Issuer) KeyID() string { return i.kid }

// Algorithm returns the JWS algorithm name the issuer signs with ("ES256" or
// "ES384").
func (i *Issuer) Algorithm() string { return i.alg.String() }

// Issue returns c as a signed EAR in JWS compact serialisation. A zero
// c.IssuedAt means now. Invalid claims yield an error wrapping
// ErrInvalidClaims.
func (i *Issuer) Issue(c Claims) ([]byte, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	ar, err := toResult(c, i.developer, i.build)
	if err != nil {
		return nil, err
	}
	payload, err := ar.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, i.kid); err != nil {
		return nil, fmt.Errorf("ear: set kid header: %w", err)
	}
	if err := hdr.Set(jws.TypeKey, "JWT"); err != nil {
		return nil, fmt.Errorf("ear: set typ header: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(i.alg, i.signer, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		return nil, fmt.Errorf("ear: sign: %w", err)
	}
	if len(tok) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit %d", ErrInvalidClaims, len(tok), MaxTokenSize)
	}
	return tok, nil
}

// KeyID returns the RFC 7638 SHA-256 thumbprint (base64url) of an ECDSA or
// Ed25519 public key: the "kid" Issuer uses.
func KeyID(pub crypto.PublicKey) (string, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return "", fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
	}
	k, err := jwk.Import(pub)
	if err != nil {
		return "", fmt.Errorf("ear: import key: %w", err)
	}
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("ear: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
