package receipt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/veraison/ear"
)

// MaxEARSize bounds the EAR JWT carried in hae_attestation_token.
const MaxEARSize = 32 << 10

// EARVerifyFunc checks an EAR JWT: signature, profile, status, nonce equal to
// binder (skipped when binder is nil) and iat relative to at (the receipt
// timestamp). Errors should be *FieldError with attestation_* codes.
type EARVerifyFunc func(token []byte, binder []byte, at time.Time) error

// EAROptions configures NewEARVerifier. Zero values take the defaults.
type EAROptions struct {
	// Accepted lists the accepted overall statuses ("affirming", "warning");
	// default affirming only (fail closed).
	Accepted []string
	// MaxAge bounds at - iat; default 5 minutes.
	MaxAge time.Duration
	// Skew bounds iat - at; default 60 seconds.
	Skew time.Duration
}

// NewEARVerifier returns an EARVerifyFunc for EARs signed by the verifier
// key pub (ES256, ES384 or EdDSA), built on veraison/ear v1.1.3. The EAR's
// eat_nonce must be the base64url (unpadded; padded standard base64 is also
// accepted) encoding of the binder.
func NewEARVerifier(pub crypto.PublicKey, opts EAROptions) (EARVerifyFunc, error) {
	var alg jwa.SignatureAlgorithm
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jwa.ES256()
		case elliptic.P384():
			alg = jwa.ES384()
		default:
			return nil, ferr("ear_key", CodeAlgNotAllowed, "curve not allowed")
		}
	case ed25519.PublicKey:
		alg = jwa.EdDSA()
	default:
		return nil, ferr("ear_key", CodeAlgNotAllowed, "key type %T not allowed", pub)
	}
	accepted := map[ear.TrustTier]bool{}
	if len(opts.Accepted) == 0 {
		opts.Accepted = []string{"affirming"}
	}
	for _, s := range opts.Accepted {
		t, ok := ear.StringToTrustTier[s]
		if !ok {
			return nil, ferr("ear_accepted", CodeConfig, "unknown status %q", s)
		}
		accepted[t] = true
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = 5 * time.Minute
	}
	if opts.Skew == 0 {
		opts.Skew = 60 * time.Second
	}
	return func(token, binder []byte, at time.Time) error {
		return verifyEAR(token, binder, at, alg, pub, accepted, opts)
	}, nil
}

func verifyEAR(token, binder []byte, at time.Time, alg jwa.SignatureAlgorithm, pub crypto.PublicKey, accepted map[ear.TrustTier]bool, opts EAROptions) error {
	const f = "hae_attestation_token"
	if len(token) > MaxEARSize {
		return ferr(f, CodeTooLarge, "EAR is %d bytes, limit %d", len(token), MaxEARSize)
	}
	var ar ear.AttestationResult
	if err := ar.Verify(token, alg, pub); err != nil {
		if strings.HasPrefix(err.Error(), "failed verifying JWT") {
			return fwrap(f, CodeAttestationSignature, err)
		}
		return fwrap(f, CodeAttestation, err)
	}
	if ar.Profile == nil || *ar.Profile != ear.EatProfile {
		got := "<absent>"
		if ar.Profile != nil {
			got = *ar.Profile
		}
		return ferr(f+".eat_profile", CodeAttestationProfile, "EAR profile %q, want %q", got, ear.EatProfile)
	}
	if len(ar.Submods) == 0 {
		return ferr(f+".submods", CodeAttestation, "no appraisal")
	}
	worst := ear.TrustTierNone
	first := true
	for _, a := range ar.Submods {
		if a == nil || a.Status == nil {
			return ferr(f+".submods", CodeAttestation, "appraisal without status")
		}
		if first || *a.Status > worst {
			worst, first = *a.Status, false
		}
	}
	if !accepted[worst] {
		return ferr(f+".ear.status", CodeAttestationStatus, "overall status %s not accepted", worst.String())
	}
	if binder != nil {
		if ar.Nonce == nil {
			return ferr(f+".eat_nonce", CodeAttestationNonce, "EAR has no eat_nonce")
		}
		n, err := decodeNonce(*ar.Nonce)
		if err != nil || subtle.ConstantTimeCompare(n, binder) != 1 {
			return ferr(f+".eat_nonce", CodeAttestationNonce, "eat_nonce is not the binder")
		}
	}
	if ar.IssuedAt == nil {
		return ferr(f+".iat", CodeAttestationTime, "EAR has no iat")
	}
	iat := time.Unix(*ar.IssuedAt, 0)
	if iat.After(at.Add(opts.Skew)) {
		return ferr(f+".iat", CodeAttestationTime, "EAR issued %s, after receipt time %s", iat.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339))
	}
	if at.Sub(iat) > opts.MaxAge {
		return ferr(f+".iat", CodeAttestationTime, "EAR issued %s, older than %s at receipt time", iat.UTC().Format(time.RFC3339), opts.MaxAge)
	}
	return nil
}

// EARNonce encodes a binder as the EAR eat_nonce (base64url, no padding).
func EARNonce(binder []byte) string { return base64.RawURLEncoding.EncodeToString(binder) }

func decodeNonce(s string) ([]byte, error) {
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return nil, errors.New("eat_nonce is not base64")
}
