package ear

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	vear "github.com/veraison/ear"

	"github.com/seatrx/seatrx/evidence/check"
)

// Defaults for VerifyOptions fields left zero.
const (
	DefaultMaxAge    = 5 * time.Minute
	DefaultClockSkew = time.Minute
)

// TrustedVerifier is an EAR signer the relying party accepts: its own
// verifier key, or an external verifier's key in the passport model.
type TrustedVerifier struct {
	// ID names the verifier in errors and in Claims.Verifier; a token whose
	// header "kid" equals ID is checked against this key only.
	ID string
	// Key is *ecdsa.PublicKey (P-256, P-384, P-521) or ed25519.PublicKey;
	// it alone determines the algorithm (ES256, ES384, ES512, EdDSA).
	Key crypto.PublicKey
}

// VerifyOptions says what Verify accepts.
type VerifyOptions struct {
	// Trusted lists the accepted signers; required.
	Trusted []TrustedVerifier
	// ExpectedNonce is the binding the relying party computed for this
	// connection; required (8..64 bytes) unless NoNonce.
	ExpectedNonce []byte
	// NoNonce explicitly skips comparing eat_nonce with a binding, for a
	// relying party that has none: an auditor holding a receipt without its
	// action or context snapshot. eat_nonce must still be present, base64url
	// and 8..64 bytes. ExpectedNonce must then be empty.
	NoNonce bool
	// ExpectedAKPub is the DER SPKI of the authenticator's leaf key. Required
	// in the passport model; when set, at least one appraisal must attest a
	// key and every attested key must equal it. When empty, akpub is not
	// checked (but still returned).
	ExpectedAKPub []byte
	// Now is the time the token is judged at; required. On the wire it is
	// the relying party's clock; for the EAR inside a receipt it is the
	// receipt's timestamp, so that MaxAge and ClockSkew bound iat relative to
	// the moment of issuance, whenever the receipt is verified.
	Now time.Time
	// MaxAge bounds how long before Now iat may be (default DefaultMaxAge).
	MaxAge time.Duration
	// ClockSkew bounds how far after Now iat may be (default
	// DefaultClockSkew).
	ClockSkew time.Duration
	// AcceptedStatuses lists the acceptable appraisal statuses (default
	// ["affirming"]).
	AcceptedStatuses []string
}

// trustedKey is a TrustedVerifier with its algorithm resolved.
type trustedKey struct {
	id  string
	alg jwa.SignatureAlgorithm
	key crypto.PublicKey
}

// verifyConfig is VerifyOptions checked and with defaults applied.
type verifyConfig struct {
	keys     []trustedKey
	nonce    []byte // nil: not compared (NoNonce)
	akpub    []byte
	now      time.Time
	maxAge   time.Duration
	skew     time.Duration
	accepted map[vear.TrustTier]bool
}

// algForKey returns the only JWS algorithm accepted for pub.
func algForKey(pub crypto.PublicKey) (jwa.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			break
		}
		switch k.Curve {
		case elliptic.P256():
			return jwa.ES256(), nil
		case elliptic.P384():
			return jwa.ES384(), nil
		case elliptic.P521():
			return jwa.ES512(), nil
		}
		return jwa.SignatureAlgorithm{}, fmt.Errorf("%w: ECDSA curve %v", ErrUnsupportedKey, k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return jwa.EdDSA(), nil
		}
	}
	return jwa.SignatureAlgorithm{}, fmt.Errorf("%w: %T", ErrUnsupportedKey, pub)
}

// CheckTrust reports whether the options that do not change from token to
// token (Trusted, AcceptedStatuses, MaxAge, ClockSkew) are usable, so that a
// relying party that fills Now and ExpectedNonce per token can fail at
// configuration time. Verify checks them again with every token. The error
// wraps ErrInvalidOptions.
func (o VerifyOptions) CheckTrust() error {
	_, err := o.trustConfig()
	return err
}

// trustConfig checks and resolves the token-independent options.
func (o VerifyOptions) trustConfig() (*verifyConfig, error) {
	if len(o.Trusted) == 0 {
		return nil, fmt.Errorf("%w: no trusted verifiers", ErrInvalidOptions)
	}
	if o.MaxAge < 0 || o.ClockSkew < 0 {
		return nil, fmt.Errorf("%w: negative MaxAge or ClockSkew", ErrInvalidOptions)
	}
	cfg := &verifyConfig{maxAge: o.MaxAge, skew: o.ClockSkew, accepted: make(map[vear.TrustTier]bool)}
	if cfg.maxAge == 0 {
		cfg.maxAge = DefaultMaxAge
	}
	if cfg.skew == 0 {
		cfg.skew = DefaultClockSkew
	}
	for _, tv := range o.Trusted {
		alg, err := algForKey(tv.Key)
		if err != nil {
			return nil, fmt.Errorf("%w: trusted verifier %q: %w", ErrInvalidOptions, tv.ID, err)
		}
		cfg.keys = append(cfg.keys, trustedKey{id: tv.ID, alg: alg, key: tv.Key})
	}
	statuses := o.AcceptedStatuses
	if len(statuses) == 0 {
		statuses = []string{StatusAffirming}
	}
	for _, s := range statuses {
		t, ok := tierOf(s)
		if !ok {
			return nil, fmt.Errorf("%w: unknown accepted status %q", ErrInvalidOptions, s)
		}
		cfg.accepted[t] = true
	}
	return cfg, nil
}

// config checks every option for one token and applies the defaults.
func (o VerifyOptions) config() (*verifyConfig, error) {
	cfg, err := o.trustConfig()
	if err != nil {
		return nil, err
	}
	switch n := len(o.ExpectedNonce); {
	case o.NoNonce && n != 0:
		return nil, fmt.Errorf("%w: NoNonce with an expected nonce", ErrInvalidOptions)
	case !o.NoNonce && (n < MinNonceSize || n > MaxNonceSize):
		return nil, fmt.Errorf("%w: expected nonce is %d bytes, want %d..%d", ErrInvalidOptions, n, MinNonceSize, MaxNonceSize)
	}
	if o.Now.IsZero() {
		return nil, fmt.Errorf("%w: Now is not set", ErrInvalidOptions)
	}
	cfg.nonce, cfg.akpub, cfg.now = o.ExpectedNonce, o.ExpectedAKPub, o.Now
	return cfg, nil
}

// header is the part of the JWS protected header Verify looks at.
type header struct {
	alg string
	kid string
}

// parseCompact checks that token is a JWS compact serialisation (three
// base64url segments, non-empty header and payload) and returns its header.
// Headers that change the JWS semantics ("crit", "b64") are refused.
func parseCompact(token []byte) (header, error) {
	var h header
	segs := bytes.Split(token, []byte{'.'})
	if len(segs) != 3 {
		return h, check.Errorf(platform, check.Decode, "JWS compact serialisation has %d segments, want 3", len(segs))
	}
	if len(segs[0]) == 0 || len(segs[1]) == 0 {
		return h, check.Errorf(platform, check.Decode, "empty JWS header or payload")
	}
	for i, seg := range segs {
		// Checked by hand: the decoder would skip embedded CR/LF.
		if j := bytes.IndexFunc(seg, func(r rune) bool { return !isB64URL(r) }); j >= 0 {
			return h, check.Errorf(platform, check.Decode, "JWS segment %d has a non-base64url byte at %d", i+1, j)
		}
	}
	raw := make([]byte, b64.DecodedLen(len(segs[0])))
	n, err := b64.Decode(raw, segs[0])
	if err != nil {
		return h, check.Wrap(platform, check.Decode, err, "JWS header is not base64url")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw[:n], &m); err != nil {
		return h, check.Wrap(platform, check.Decode, err, "JWS header is not a JSON object")
	}
	for _, k := range []string{"crit", "b64"} {
		if _, ok := m[k]; ok {
			return h, check.Errorf(platform, check.Decode, "JWS header %q is not supported", k)
		}
	}
	a, ok := m["alg"]
	if !ok {
		return h, check.Errorf(platform, check.Decode, "JWS header has no alg")
	}
	if err := json.Unmarshal(a, &h.alg); err != nil {
		return h, check.Wrap(platform, check.Decode, err, "JWS header alg is not text")
	}
	if k, ok := m["kid"]; ok {
		if err := json.Unmarshal(k, &h.kid); err != nil {
			return h, check.Wrap(platform, check.Decode, err, "JWS header kid is not text")
		}
	}
	return h, nil
}

// isB64URL reports whether r is in the base64url alphabet (no padding).
func isB64URL(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// supportedAlgs are the JWS algorithms Verify can accept, each only from a
// key of the matching type.
var supportedAlgs = map[string]bool{"ES256": true, "ES384": true, "ES512": true, "EdDSA": true}

// verifySignature checks the JWS signature against the trusted keys whose
// algorithm equals the header's, and returns the payload and the ID of the
// verifier that signed it.
func verifySignature(token []byte, h header, keys []trustedKey) ([]byte, string, error) {
	if !supportedAlgs[h.alg] {
		return nil, "", check.Errorf(platform, check.Signature, "JWS alg %q is not accepted", h.alg)
	}
	var cands []trustedKey
	kidKnown := false
	if h.kid != "" {
		for _, k := range keys {
			if k.id == h.kid {
				kidKnown = true
				if k.alg.String() == h.alg {
					cands = append(cands, k)
				}
			}
		}
	}
	if kidKnown && len(cands) == 0 {
		return nil, "", check.Errorf(platform, check.Signature, "JWS alg %s does not match the key of verifier %q", h.alg, h.kid)
	}
	if !kidKnown {
		for _, k := range keys {
			if k.alg.String() == h.alg {
				cands = append(cands, k)
			}
		}
	}
	if len(cands) == 0 {
		return nil, "", check.Wrap(platform, CheckKey, ErrUntrustedVerifier, "no trusted verifier key for %s (kid %q)", h.alg, h.kid)
	}
	var lastErr error
	for _, k := range cands {
		payload, err := jws.Verify(token, jws.WithCompact(), jws.WithKey(k.alg, k.key))
		if err == nil {
			return payload, k.id, nil
		}
		lastErr = err
	}
	if h.kid != "" && !kidKnown {
		return nil, "", check.Wrap(platform, CheckKey, fmt.Errorf("%w: %w", ErrUntrustedVerifier, lastErr),
			"kid %q is not a trusted verifier and no trusted %s key verifies the token", h.kid, h.alg)
	}
	return nil, "", check.Wrap(platform, check.Signature, lastErr, "no trusted %s key verifies the token", h.alg)
}

// decodePayload parses the signed claims with the library, after checking
// eat_profile and that iat is an integer.
func decodePayload(payload []byte) (ar *vear.AttestationResult, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "claims are not a JSON object")
	}
	if m == nil {
		return nil, check.Errorf(platform, check.Decode, "claims are null, want a JSON object")
	}
	var profile string
	if p, ok := m["eat_profile"]; !ok {
		return nil, check.Errorf(platform, CheckProfile, "eat_profile missing")
	} else if err := json.Unmarshal(p, &profile); err != nil {
		return nil, check.Wrap(platform, CheckProfile, err, "eat_profile is not text")
	}
	if profile != Profile {
		return nil, check.Errorf(platform, CheckProfile, "eat_profile %q, want %q", profile, Profile)
	}
	var iat json.Number
	if v, ok := m["iat"]; !ok {
		return nil, check.Errorf(platform, check.Decode, "iat missing")
	} else if err := json.Unmarshal(v, &iat); err != nil || bytes.HasPrefix(bytes.TrimSpace(v), []byte{'"'}) {
		return nil, check.Errorf(platform, check.Decode, "iat is not a number")
	}
	if _, err := iat.Int64(); err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "iat is not an integer")
	}
	defer func() {
		// The library's reflective decoder is not written for hostile
		// input; a panic there is a malformed token, not a crash.
		if r := recover(); r != nil {
			ar, err = nil, check.Errorf(platform, check.Decode, "EAR claims: %v", r)
		}
	}()
	ar = &vear.AttestationResult{}
	if err := ar.UnmarshalJSON(payload); err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "EAR claims")
	}
	return ar, nil
}

// Verify checks token and returns the claims of the accepted appraisal. In
// order: size (<= MaxTokenSize), JWS structure, signature against the
// trusted keys (algorithm from the key type, the header alg must match it),
// eat_profile, iat within [Now-MaxAge, Now+ClockSkew], eat_nonce (8..64
// bytes, unpadded base64url) == ExpectedNonce (constant time; skipped only
// with NoNonce), at most MaxSubmods appraisals, akpub == ExpectedAKPub, and the status of
// every submodule (lowered to the worst tier of its trust vector) is in
// AcceptedStatuses. Failures are *check.Error with a Code* code; bad options
// wrap ErrInvalidOptions.
//
// The returned Claims describe one submodule: the one attesting the expected
// key if ExpectedAKPub is set, else the first by name. Its Status is the
// effective (possibly lowered) status.
func Verify(token []byte, opts VerifyOptions) (*Claims, error) {
	cfg, err := opts.config()
	if err != nil {
		return nil, err
	}
	if len(token) > MaxTokenSize {
		return nil, check.Errorf(platform, check.Decode, "token is %d bytes, limit %d", len(token), MaxTokenSize)
	}
	h, err := parseCompact(token)
	if err != nil {
		return nil, err
	}
	payload, verifierID, err := verifySignature(token, h, cfg.keys)
	if err != nil {
		return nil, err
	}
	ar, err := decodePayload(payload)
	if err != nil {
		return nil, err
	}

	iat := time.Unix(*ar.IssuedAt, 0)
	if iat.Before(cfg.now.Add(-cfg.maxAge)) {
		return nil, check.Errorf(platform, check.Time, "iat %s is older than %s before %s",
			iat.UTC().Format(time.RFC3339), cfg.maxAge, cfg.now.UTC().Format(time.RFC3339))
	}
	if iat.After(cfg.now.Add(cfg.skew)) {
		return nil, check.Errorf(platform, check.Time, "iat %s is in the future (now %s, skew %s)",
			iat.UTC().Format(time.RFC3339), cfg.now.UTC().Format(time.RFC3339), cfg.skew)
	}

	if ar.Nonce == nil {
		return nil, check.Errorf(platform, check.Nonce, "eat_nonce missing")
	}
	nonce, err := b64.DecodeString(*ar.Nonce)
	if err != nil {
		return nil, check.Wrap(platform, check.Nonce, err, "eat_nonce is not base64url")
	}
	if n := len(nonce); n < MinNonceSize || n > MaxNonceSize {
		return nil, check.Errorf(platform, check.Nonce, "eat_nonce is %d bytes, want %d..%d", n, MinNonceSize, MaxNonceSize)
	}
	if cfg.nonce != nil && subtle.ConstantTimeCompare(nonce, cfg.nonce) != 1 {
		return nil, check.Errorf(platform, check.Nonce, "eat_nonce is not this connection's binding")
	}

	if len(ar.Submods) > MaxSubmods {
		return nil, check.Errorf(platform, check.Decode, "%d submods, limit %d", len(ar.Submods), MaxSubmods)
	}
	names := make([]string, 0, len(ar.Submods))
	for name := range ar.Submods {
		names = append(names, name)
	}
	sort.Strings(names)

	// The library already requires >= 1 submod with a status; re-checked
	// here so that a change there cannot turn into a panic.
	if len(names) == 0 {
		return nil, check.Errorf(platform, check.Decode, "no submods")
	}
	for _, name := range names {
		if a := ar.Submods[name]; a == nil || a.Status == nil {
			return nil, check.Errorf(platform, check.Decode, "submod %q has no status", name)
		}
	}

	akpubs := make(map[string][]byte, len(names))
	selected := ""
	for _, name := range names {
		k, err := akpubOf(ar.Submods[name])
		if err != nil {
			return nil, check.Wrap(platform, check.Decode, err, "submod %q key attestation", name)
		}
		akpubs[name] = k
		if len(cfg.akpub) > 0 && k != nil {
			if !bytes.Equal(k, cfg.akpub) {
				return nil, check.Wrap(platform, CheckKey, ErrAKPubMismatch, "submod %q attests a different key", name)
			}
			if selected == "" {
				selected = name
			}
		}
	}
	if len(cfg.akpub) > 0 && selected == "" {
		return nil, check.Wrap(platform, CheckKey, ErrAKPubMismatch, "no submod attests the authenticator key")
	}
	if selected == "" {
		selected = names[0]
	}

	effective := make(map[string]vear.TrustTier, len(names))
	for _, name := range names {
		appr := ar.Submods[name]
		st := effectiveStatus(*appr.Status, appr.TrustVector)
		if !cfg.accepted[st] {
			detail := ""
			if st != *appr.Status {
				detail = fmt.Sprintf(" (declared %s, lowered by its trust vector)", *appr.Status)
			}
			return nil, check.Errorf(platform, CheckStatus, "submod %q status %s%s is not accepted", name, st, detail)
		}
		effective[name] = st
	}

	c := &Claims{
		Submod:   selected,
		Status:   effective[selected].String(),
		Nonce:    nonce,
		AKPub:    akpubs[selected],
		IssuedAt: iat.UTC(),
		Verifier: verifierID,
	}
	if err := appraisalClaims(c, ar.Submods[selected]); err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "submod %q", selected)
	}
	return c, nil
}
