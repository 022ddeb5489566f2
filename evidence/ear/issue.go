package ear

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Issuer signs EARs with the seatrx verifier key. It is safe for concurrent
// use if its crypto.Signer is.
type Issuer struct {
	signer    crypto.Signer
	alg       jwa.SignatureAlgorithm
	hash      crypto.Hash // of alg
	size      int         // of r and of s in the JWS signature (RFC 7518 §3.4)
	header    string      // the protected header, base64url: it is the same in every token
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
	i := &Issuer{signer: key, developer: verifierDeveloper, build: verifierBuild}
	switch pub.Curve {
	case elliptic.P256():
		i.alg, i.hash, i.size = jwa.ES256(), crypto.SHA256, 32
	case elliptic.P384():
		i.alg, i.hash, i.size = jwa.ES384(), crypto.SHA384, 48
	default:
		return nil, fmt.Errorf("%w: issuer curve %s, want P-256 or P-384", ErrUnsupportedKey, pub.Curve.Params().Name)
	}
	var err error
	if i.kid, err = KeyID(pub); err != nil {
		return nil, err
	}
	hdr, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{i.alg.String(), i.kid, "JWT"})
	if err != nil {
		return nil, fmt.Errorf("ear: header: %w", err)
	}
	i.header = base64.RawURLEncoding.EncodeToString(hdr)
	return i, nil
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
	tok, err := i.sign(payload)
	if err != nil {
		return nil, err
	}
	if len(tok) > MaxTokenSize {
		return nil, fmt.Errorf("%w: token is %d bytes, limit %d", ErrInvalidClaims, len(tok), MaxTokenSize)
	}
	return tok, nil
}

// sign returns the JWS compact serialisation of payload under the issuer's
// protected header (RFC 7515 §7.1), with the ECDSA signature as the fixed
// length r || s of RFC 7518 §3.4. It is what jws.Sign produces for this
// header, without that library's general machinery, which cost as much as
// the signature itself (package ear verifies with it, unchanged).
func (i *Issuer) sign(payload []byte) ([]byte, error) {
	enc := base64.RawURLEncoding
	n := len(i.header) + 1 + enc.EncodedLen(len(payload))
	tok := make([]byte, n, n+1+enc.EncodedLen(2*i.size))
	copy(tok, i.header)
	tok[len(i.header)] = '.'
	enc.Encode(tok[len(i.header)+1:], payload)
	h := i.hash.New()
	h.Write(tok)
	der, err := i.signer.Sign(rand.Reader, h.Sum(nil), i.hash)
	if err != nil {
		return nil, fmt.Errorf("ear: sign: %w", err)
	}
	sig, err := rawECDSA(der, i.size)
	if err != nil {
		return nil, err
	}
	tok = append(tok, '.')
	return enc.AppendEncode(tok, sig), nil
}

// rawECDSA turns an ASN.1 ECDSA signature (SEQUENCE of the INTEGERs r and
// s) into r || s, each left-padded to size bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var seq cryptobyte.String
	in := cryptobyte.String(der)
	out := make([]byte, 2*size)
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("ear: sign: the signer's signature is not an ASN.1 ECDSA signature")
	}
	for k := range 2 {
		var n cryptobyte.String
		if !seq.ReadASN1(&n, asn1.INTEGER) || len(n) == 0 || n[0]&0x80 != 0 {
			return nil, errors.New("ear: sign: the signer's signature is not an ASN.1 ECDSA signature")
		}
		for len(n) > 1 && n[0] == 0 {
			n = n[1:]
		}
		if len(n) > size {
			return nil, fmt.Errorf("ear: sign: signature value of %d bytes for a %d-byte curve", len(n), size)
		}
		copy(out[(k+1)*size-len(n):(k+1)*size], n)
	}
	if !seq.Empty() {
		return nil, errors.New("ear: sign: the signer's signature is not an ASN.1 ECDSA signature")
	}
	return out, nil
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
