package policy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Limits on list sizes, so that a policy stays small and cheap to apply
// (the trust anchors' is evidence.MaxTrustAnchors, also 256).
const (
	maxListLen = 256
	maxIDLen   = 256
)

func keyErr(key, format string, args ...any) *Error {
	return &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// fieldError is how the evidence layer's sections (snp, tdx, trust_anchors)
// report an invalid field: its dotted key path and what is wrong.
type fieldError interface {
	error
	PolicyField() (key, msg string)
}

// Validate checks the whole policy: its id, that it accepts something, the
// evidence layer's sections (evidence.AppraisalPolicy.Validate: snp, tdx,
// trust anchors), passport verifiers and their keys, receipt durations,
// masking profile, approver keys and threshold. Errors are *Error.
func (p *Policy) Validate() error {
	if strings.TrimSpace(p.ID) == "" {
		return keyErr("id", "required")
	}
	if len(p.ID) > maxIDLen {
		return keyErr("id", "longer than %d bytes", maxIDLen)
	}
	if p.SNP == nil && p.TDX == nil && p.Passport == nil {
		return keyErr("", "accepts nothing: configure snp, tdx or passport")
	}
	ap := p.appraisal()
	if err := ap.Validate(); err != nil {
		var fe fieldError
		if errors.As(err, &fe) {
			key, msg := fe.PolicyField()
			return &Error{Key: key, Msg: msg, Err: err}
		}
		return &Error{Msg: err.Error(), Err: err}
	}
	if p.Passport != nil {
		if err := p.Passport.validate(); err != nil {
			return err
		}
	}
	if err := p.Receipts.validate(); err != nil {
		return err
	}
	if p.Credentials != nil {
		return p.Credentials.validate()
	}
	return nil
}

func (pp *Passport) validate() error {
	if len(pp.Verifiers) == 0 {
		return keyErr("passport.verifiers", "at least one verifier is required")
	}
	if len(pp.Verifiers) > maxListLen {
		return keyErr("passport.verifiers", "%d entries, max %d", len(pp.Verifiers), maxListLen)
	}
	seen := map[string]int{}
	for i, v := range pp.Verifiers {
		key := fmt.Sprintf("passport.verifiers[%d]", i)
		if err := checkID(key, v.ID, seen, i); err != nil {
			return err
		}
		pub, err := parsePublicKey(v.PublicKeyPEM)
		if err != nil {
			return keyErr(key+".public_key_pem", "%v", err)
		}
		var want elliptic.Curve
		switch v.Alg {
		case AlgES256:
			want = elliptic.P256()
		case AlgES384:
			want = elliptic.P384()
		default:
			return keyErr(key+".alg", "%q is not %s or %s", v.Alg, AlgES256, AlgES384)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok || ec.Curve != want {
			return keyErr(key+".public_key_pem", "%s needs an ECDSA %s key, got %s", v.Alg, want.Params().Name, keyName(pub))
		}
	}
	for i, s := range pp.AcceptedStatuses {
		if s != StatusAffirming && s != StatusWarning {
			return keyErr(fmt.Sprintf("passport.accepted_statuses[%d]", i), "%q is not %q or %q", s, StatusAffirming, StatusWarning)
		}
	}
	return nil
}

func (r *Receipts) validate() error {
	if r.Lifetime <= 0 {
		return keyErr("receipts.lifetime", "must be positive")
	}
	if r.TokenLifetime <= 0 {
		return keyErr("receipts.token_lifetime", "must be positive")
	}
	if r.ClockSkew > r.Lifetime {
		return keyErr("receipts.clock_skew", "%v exceeds the receipt lifetime %v", r.ClockSkew, r.Lifetime)
	}
	if r.MaxAge != 0 && r.MaxAge > r.Lifetime {
		return keyErr("receipts.max_age", "%v exceeds the receipt lifetime %v", r.MaxAge, r.Lifetime)
	}
	if r.TokenLifetime > r.Lifetime {
		return keyErr("receipts.token_lifetime", "%v exceeds the receipt lifetime %v: a token would outlive its receipt", r.TokenLifetime, r.Lifetime)
	}
	if r.MaskingProfile != MaskNone && r.MaskingProfile != MaskSaltedDigest {
		return keyErr("receipts.masking_profile", "unknown profile %q (want %s or %s)", r.MaskingProfile, MaskNone, MaskSaltedDigest)
	}
	if len(r.Approvers) > maxListLen {
		return keyErr("receipts.approvers", "%d entries, max %d", len(r.Approvers), maxListLen)
	}
	seen, seenKeys := map[string]int{}, map[string]int{}
	for i, a := range r.Approvers {
		key := fmt.Sprintf("receipts.approvers[%d]", i)
		if err := checkID(key, a.ID, seen, i); err != nil {
			return err
		}
		if len(a.Role) > maxIDLen {
			return keyErr(key+".role", "longer than %d bytes", maxIDLen)
		}
		pub, err := parsePublicKey(a.PublicKeyPEM)
		if err != nil {
			return keyErr(key+".public_key_pem", "%v", err)
		}
		switch k := pub.(type) {
		case ed25519.PublicKey:
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
				return keyErr(key+".public_key_pem", "ECDSA curve %s not supported (P-256, P-384)", k.Curve.Params().Name)
			}
		default:
			return keyErr(key+".public_key_pem", "%s keys are not supported (ECDSA P-256/P-384, Ed25519)", keyName(pub))
		}
		// One key is one approver: a receipt names each approver's key once.
		der, _ := x509.MarshalPKIXPublicKey(pub)
		if j, dup := seenKeys[string(der)]; dup {
			return keyErr(key+".public_key_pem", "the same key as receipts.approvers[%d]", j)
		}
		seenKeys[string(der)] = i
	}
	if r.Threshold < 1 {
		return keyErr("receipts.threshold", "must be at least 1, got %d", r.Threshold)
	}
	if n := max(len(r.Approvers), 1); r.Threshold > n {
		if len(r.Approvers) == 0 {
			return keyErr("receipts.threshold", "%d exceeds the single implicit approver (the appraiser key); list approvers", r.Threshold)
		}
		return keyErr("receipts.threshold", "%d exceeds the %d approvers", r.Threshold, n)
	}
	return r.validateApprovals()
}

func checkID(key, id string, seen map[string]int, i int) error {
	return checkName(key+".id", id, seen, i)
}

// checkName checks a required, unique, bounded name at key.
func checkName(key, name string, seen map[string]int, i int) error {
	if strings.TrimSpace(name) == "" {
		return keyErr(key, "required")
	}
	if len(name) > maxIDLen {
		return keyErr(key, "longer than %d bytes", maxIDLen)
	}
	if j, dup := seen[name]; dup {
		return keyErr(key, "%q duplicates entry %d", name, j)
	}
	seen[name] = i
	return nil
}

// parsePublicKey reads one PEM "PUBLIC KEY" block (PKIX SubjectPublicKeyInfo).
func parsePublicKey(s string) (any, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\"", block.Type)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("data after the PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

// ParsePublicKey returns the public key of a verifier or approver entry, for
// the packages that check signatures against the policy's keys.
func ParsePublicKey(pemText string) (any, error) { return parsePublicKey(pemText) }

func keyName(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	default:
		return fmt.Sprintf("%T", pub)
	}
}
