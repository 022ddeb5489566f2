// Package policy loads seatrx's policy document: which TEE evidence is accepted
// (per platform, plus trust anchors), which external verifiers are trusted in
// the passport model, the receipt rules (lifetimes, masking, approvers), and
// which attested workloads get a credential under which SPIFFE ID.
//
// A policy file is YAML or JSON (JSON is read as YAML); unknown keys are errors.
// The canonical CBOR of the loaded policy, defaults filled in, is what a receipt's
// policy_hash covers, so the same policy written as YAML or JSON has one digest.
//
// The document spans two layers, so it lives above both: its evidence sections
// are the evidence packages' own types (snp.Policy, tdx.Policy), handed to an
// evidence.Verifier as an evidence.AppraisalPolicy; its receipts section takes
// its defaults from receipt (receipt/defaults.go). Neither layer imports this
// package.
package policy

import (
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/receipt"
)

// MaxFileSize bounds a policy file; a policy is a few kilobytes.
const MaxFileSize = 1 << 20

// Masking profiles a receipt may declare in hae_masking_profile_id, spelt
// as receipt spells them.
const (
	MaskNone         = receipt.MaskNone
	MaskSaltedDigest = receipt.MaskSaltedDigest
)

// EAR statuses a passport-model attestation result may have to be accepted,
// spelt as evidence/ear spells them.
const (
	StatusAffirming = ear.StatusAffirming
	StatusWarning   = ear.StatusWarning
)

// Signature algorithms an external verifier may sign EARs with.
const (
	AlgES256 = "ES256"
	AlgES384 = "ES384"
)

// DefaultID names a policy built in code (Default).
const DefaultID = "seatrx-default"

// Policy is a loaded appraisal policy. Field tags give the file keys (YAML,
// JSON) and the canonical CBOR keys.
type Policy struct {
	// ID names the policy in receipts and EARs; required.
	ID string `yaml:"id" json:"id" cbor:"id"`
	// SNP is the SEV-SNP appraisal policy; nil refuses SEV-SNP evidence.
	SNP *snp.Policy `yaml:"snp,omitempty" json:"snp,omitempty" cbor:"snp,omitempty"`
	// TDX is the TDX appraisal policy; nil refuses TDX evidence.
	TDX *tdx.Policy `yaml:"tdx,omitempty" json:"tdx,omitempty" cbor:"tdx,omitempty"`
	// TrustAnchors lists the allowed root fingerprints ("sha256:<64 hex>");
	// empty allows every configured root.
	TrustAnchors []string `yaml:"trust_anchors,omitempty" json:"trust_anchors,omitempty" cbor:"trust_anchors,omitempty"`
	// Passport configures the passport model; nil refuses attestation results.
	Passport *Passport `yaml:"passport,omitempty" json:"passport,omitempty" cbor:"passport,omitempty"`
	// Receipts holds the receipt-issuing rules.
	Receipts Receipts `yaml:"receipts" json:"receipts" cbor:"receipts"`
	// Credentials configures workload credentials (X.509-SVIDs); nil
	// issues none.
	Credentials *Credentials `yaml:"credentials,omitempty" json:"credentials,omitempty" cbor:"credentials,omitempty"`
}

// Passport lists the external verifiers whose EARs are accepted and how.
type Passport struct {
	// Verifiers are the trusted external verifier keys; at least one.
	Verifiers []Verifier `yaml:"verifiers" json:"verifiers" cbor:"verifiers"`
	// AcceptedStatuses are the EAR statuses accepted; default ["affirming"].
	AcceptedStatuses []string `yaml:"accepted_statuses,omitempty" json:"accepted_statuses,omitempty" cbor:"accepted_statuses,omitempty"`
	// MaxAge bounds the age of an EAR (now - iat); 0 = evidence/ear's
	// default (ear.DefaultMaxAge, 5 min).
	MaxAge Duration `yaml:"max_age,omitempty" json:"max_age,omitempty" cbor:"max_age,omitempty"`
}

// Verifier is one trusted external verifier key.
type Verifier struct {
	ID           string `yaml:"id" json:"id" cbor:"id"`
	PublicKeyPEM string `yaml:"public_key_pem" json:"public_key_pem" cbor:"public_key_pem"`
	Alg          string `yaml:"alg" json:"alg" cbor:"alg"` // ES256 (P-256) or ES384 (P-384)
}

// Receipts holds the receipt profile's policy-controlled values.
type Receipts struct {
	// Lifetime is how long after its timestamp a receipt is valid: an online
	// verifier with this policy refuses an older one (too_old). Default
	// receipt.DefaultLifetime (15 min).
	Lifetime Duration `yaml:"lifetime" json:"lifetime" cbor:"lifetime"`
	// ClockSkew is the tolerance of receipt time checks; default
	// receipt.DefaultClockSkew (60 s).
	ClockSkew Duration `yaml:"clock_skew" json:"clock_skew" cbor:"clock_skew"`
	// MaxAge, if set, is a stricter bound than Lifetime on a receipt's age
	// in online verification; 0 = Lifetime alone (see OnlineMaxAge).
	MaxAge Duration `yaml:"max_age,omitempty" json:"max_age,omitempty" cbor:"max_age,omitempty"`
	// TokenLifetime is the execution token's redemption window, at most
	// Lifetime; default receipt.DefaultTokenLifetime (5 min).
	TokenLifetime Duration `yaml:"token_lifetime" json:"token_lifetime" cbor:"token_lifetime"`
	// MaskingProfile is MaskNone (default) or MaskSaltedDigest.
	MaskingProfile string `yaml:"masking_profile" json:"masking_profile" cbor:"masking_profile"`
	// Approvers are the approver keys the policy knows. Without
	// ApprovalRules they are the one approver set, of which Threshold must
	// approve; empty = nobody beyond the server's own appraiser (1-of-1).
	// With ApprovalRules, each rule names its set from this list.
	Approvers []Approver `yaml:"approvers,omitempty" json:"approvers,omitempty" cbor:"approvers,omitempty"`
	// Threshold is how many of Approvers must approve without
	// ApprovalRules; default 1 (and it must stay 1 with rules).
	Threshold int `yaml:"threshold" json:"threshold" cbor:"threshold"`
	// ApprovalRules select approvers and threshold per action (approval.go
	// has the language): first match wins, the last rule is the default.
	ApprovalRules []ApprovalRule `yaml:"approval_rules,omitempty" json:"approval_rules,omitempty" cbor:"approval_rules,omitempty"`
	// AuthorizationExpiry is how long a pending authorization waits for
	// its approvals; absent = receipt.DefaultAuthorizationExpiry (1 h), at
	// most MaxAuthorizationExpiry (30 days). A pointer, so that absent
	// stays out of the canonical form (and old policies keep their digest).
	AuthorizationExpiry *Duration `yaml:"authorization_expiry,omitempty" json:"authorization_expiry,omitempty" cbor:"authorization_expiry,omitempty"`
}

// Approver is one approver key: an officer who approves or denies pending
// authorizations by signing with it (Ed25519, ECDSA P-256 or P-384).
type Approver struct {
	ID string `yaml:"id" json:"id" cbor:"id"`
	// Role, if set, is recorded in the receipt's approver identity ("cfo").
	Role         string `yaml:"role,omitempty" json:"role,omitempty" cbor:"role,omitempty"`
	PublicKeyPEM string `yaml:"public_key_pem" json:"public_key_pem" cbor:"public_key_pem"`
}

// Default returns the built-in policy: SEV-SNP and TDX accepted with debug
// forbidden, no allow-lists, TDX TCB status UpToDate only, every configured
// root, no passport model, 1-of-1 approval by the appraiser key.
func Default() *Policy {
	p := &Policy{ID: DefaultID, SNP: &snp.Policy{}, TDX: &tdx.Policy{}}
	p.ApplyDefaults()
	return p
}

// ApplyDefaults fills absent values (Parse and Default call it) so that the
// canonical form, and so the digest, is the effective policy whatever was
// spelt out in the file. Call it before Validate on a policy built in code.
func (p *Policy) ApplyDefaults() {
	r := &p.Receipts
	if r.Lifetime == 0 {
		r.Lifetime = Duration(receipt.DefaultLifetime)
	}
	if r.ClockSkew == 0 {
		r.ClockSkew = Duration(receipt.DefaultClockSkew)
	}
	if r.TokenLifetime == 0 {
		r.TokenLifetime = Duration(receipt.DefaultTokenLifetime)
	}
	if r.MaskingProfile == "" {
		r.MaskingProfile = MaskNone
	}
	if r.Threshold == 0 {
		r.Threshold = 1
	}
	if p.TDX != nil {
		p.TDX.ApplyDefaults()
	}
	if p.Credentials != nil {
		p.Credentials.applyDefaults()
	}
	if p.Passport != nil && len(p.Passport.AcceptedStatuses) == 0 {
		p.Passport.AcceptedStatuses = []string{StatusAffirming}
	}
}

// AppraisalPolicy is the evidence layer's part of the policy, what an
// evidence.Verifier accepts: the platform sections, the trust anchors, and
// the policy's id and digest, which every appraisal records. It shares the
// platform sections with p.
func (p *Policy) AppraisalPolicy() evidence.AppraisalPolicy {
	ap := p.appraisal()
	ap.ID, ap.Digest = p.ID, p.Digest()
	return ap
}

// appraisal is AppraisalPolicy without the id and digest, for Validate.
func (p *Policy) appraisal() evidence.AppraisalPolicy {
	return evidence.AppraisalPolicy{SNP: p.SNP, TDX: p.TDX, TrustAnchors: p.TrustAnchors}
}

// OnlineMaxAge is the oldest receipt an online verifier with this policy
// accepts: MaxAge if set, else Lifetime.
func (r Receipts) OnlineMaxAge() time.Duration {
	if r.MaxAge != 0 {
		return time.Duration(r.MaxAge)
	}
	return time.Duration(r.Lifetime)
}

var canonicalEnc = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("policy: CBOR options: " + err.Error())
	}
	return em
}()

// CanonicalCBOR encodes the policy as deterministic CBOR (RFC 8949 core
// deterministic encoding, snake_case text keys, durations as integer seconds).
// It is the preimage of a receipt's policy_hash.
func (p *Policy) CanonicalCBOR() ([]byte, error) {
	b, err := canonicalEnc.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("policy: canonical CBOR: %w", err)
	}
	return b, nil
}

// Digest is the SHA-256 of CanonicalCBOR. Encoding cannot fail for a policy of
// these types; should it, the digest of nothing would be ambiguous, so it panics.
func (p *Policy) Digest() [32]byte {
	b, err := p.CanonicalCBOR()
	if err != nil {
		panic(err)
	}
	return sha256.Sum256(b)
}
