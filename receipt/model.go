package receipt

import (
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/cmw"
)

// Profile identifiers and media types of the seatrx PRE-RCT profile.
const (
	// ProfileID is the value of the payload's "profile" member in the
	// receipts issued now (profile v2: the context snapshot records the
	// transport and the binder derivation).
	ProfileID = "tag:github.com,2026:seatrx/pre-rct/v2"
	// ProfileIDV1 is the previous profile, still verified exactly as before:
	// its context snapshot has neither transport nor binder derivation.
	ProfileIDV1 = "tag:github.com,2026:seatrx/pre-rct/v1"
	// TransportTLS and TransportDTLS are the snapshot's transport values
	// (v2): the protocol that carried the attestation; tls_version is that
	// protocol's version (TLS 1.3 0x0304; DTLS 1.3 0xfefc).
	TransportTLS  = "tls"
	TransportDTLS = "dtls"
	// ReceiptType is the COSE typ (label 16) of a receipt.
	ReceiptType = "application/pre-rct+cbor"
	// ApprovalType is the COSE typ (label 16) of an approval.
	ApprovalType = "application/pre-rct-approval+cbor"
	// EARMediaType is the CMW record type of hae_attestation_token.
	EARMediaType = `application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"`
	// ActionTypeAttestedSession is the only action type of the profile (v1, v2).
	ActionTypeAttestedSession = "seatrx/attested-session/v1"
	// MaskNone keeps the context snapshot in clear.
	MaskNone = "urn:seatrx:mask:none"
	// MaskSaltedDigest replaces identifying snapshot values by salted digests.
	MaskSaltedDigest = "urn:seatrx:mask:salted-digest"
	// ExtTrustAnchors is the extension mirroring the snapshot's trust anchors.
	ExtTrustAnchors = "seatrx.trust-anchors"
	// ExtIssuerAttestation carries the issuer's own attestation in mutual mode.
	ExtIssuerAttestation = "seatrx.issuer-attestation"
	// ExtAuthorization records, on a receipt issued after its approvals
	// were collected, when the authorization was created (the attestation
	// judged) and when it would have expired (AuthorizationExt).
	ExtAuthorization = "seatrx.authorization"
)

const idLen = 16

// maxUnix is 9999-12-31T23:59:59Z; larger times are rejected so that every
// uint timestamp converts to time.Time without overflow.
const maxUnix = 253402300799

// Approver identifies one approver; Kid is the RFC 9679 thumbprint of its key.
type Approver struct {
	ID   string `cbor:"id"`
	Kid  []byte `cbor:"kid"`
	Role string `cbor:"role,omitempty"`
}

// ExecutionToken is the public half of a one-time execution capability: the
// digest of the secret handed once to the peer, its audience, validity window
// and key binding (cnf = hash of the peer key). The secret is never stored.
type ExecutionToken struct {
	ID        []byte `cbor:"id"`
	Digest    Hash   `cbor:"digest"`
	Audience  string `cbor:"aud"`
	NotBefore uint64 `cbor:"nbf"`
	Expires   uint64 `cbor:"exp"`
	MaxUses   uint64 `cbor:"max_uses"`
	Cnf       *Hash  `cbor:"cnf,omitempty"`
}

// CMWRecord is a RATS CMW record [media-type, value] (veraison/cmw v0.2.0).
type CMWRecord struct {
	MediaType string
	Value     []byte
}

// MarshalCBOR encodes the record through veraison/cmw.NewMonad.
func (c CMWRecord) MarshalCBOR() ([]byte, error) {
	m, err := cmw.NewMonad(c.MediaType, c.Value)
	if err != nil {
		return nil, fmt.Errorf("cmw record: %w", err)
	}
	return m.MarshalCBOR()
}

// cmwWire is the strict decoding shape of a 2-element CMW record.
type cmwWire struct {
	_         struct{} `cbor:",toarray"`
	MediaType string
	Value     []byte
}

// UnmarshalCBOR strictly decodes a 2-element record with a text media type
// and a non-empty byte value, then has veraison/cmw validate the media type.
func (c *CMWRecord) UnmarshalCBOR(data []byte) error {
	var w cmwWire
	if err := decMode.Unmarshal(data, &w); err != nil {
		return err
	}
	if len(w.Value) == 0 {
		return fmt.Errorf("cmw record: empty value")
	}
	if _, err := cmw.NewMonad(w.MediaType, w.Value); err != nil {
		return fmt.Errorf("cmw record: %w", err)
	}
	c.MediaType, c.Value = w.MediaType, w.Value
	return nil
}

// Collateral names one piece of verification collateral and its digest
// (e.g. "vcek", "ask", "ark", "pck", "tcb_info", "qe_identity", "crl").
type Collateral struct {
	Name   string `cbor:"name"`
	Digest Hash   `cbor:"digest"`
}

// MutualResult records the issuer's own attestation in mutual mode.
type MutualResult struct {
	Platform       string `cbor:"platform"`
	EvidenceDigest Hash   `cbor:"evidence_digest"`
	Status         string `cbor:"status"`
}

// ContextSnapshot records the connection and appraisal context of the
// authorization (reference §3.4). Under MaskSaltedDigest, Identifiers is
// empty and MaskedIdentifiers holds H(salt || value) per identifier; the salts
// travel only in the bundle. Transport, BinderProfile and BinderLabel are
// required in profile v2 and absent in v1 (Receipt.validate says so by
// profile; the schema alone marks them optional so that one type reads both).
type ContextSnapshot struct {
	TLSVersion         uint16            `cbor:"tls_version"`
	CipherSuite        uint16            `cbor:"cipher_suite"`
	SNI                string            `cbor:"sni,omitempty"`
	Transport          string            `cbor:"transport,omitempty"` // v2: TransportTLS or TransportDTLS
	CertRequestContext []byte            `cbor:"cert_request_context"`
	Binder             []byte            `cbor:"binder"`
	BinderProfile      string            `cbor:"binder_profile,omitempty"` // v2: the interop profile that derived Binder (docs/PROTOCOL.md)
	BinderLabel        string            `cbor:"binder_label,omitempty"`   // v2: its exporter label
	PeerKey            Hash              `cbor:"peer_key"`
	EvidenceDigest     Hash              `cbor:"evidence_digest"`
	Platform           string            `cbor:"platform,omitempty"`
	Collateral         []Collateral      `cbor:"collateral"`
	TrustAnchors       []string          `cbor:"trust_anchors"`
	Simulated          bool              `cbor:"simulated"`
	Identifiers        map[string][]byte `cbor:"identifiers,omitempty"`
	MaskedIdentifiers  map[string]Hash   `cbor:"masked_identifiers,omitempty"`
	Mutual             *MutualResult     `cbor:"mutual,omitempty"`
	// NotEvaluated names the checks the appraisal could not make, as the
	// EAR's seatrx.not-evaluated does ("tcb_status", "revocation"): TDX
	// verified without collateral, SEV-SNP without a CRL. At most
	// MaxNotEvaluated distinct names of 1..64 bytes. Profile v2 only (v1
	// never had it: unknown_field there).
	NotEvaluated []string `cbor:"not_evaluated,omitempty"`
}

// TrustAnchorsExt is the value of extensions."seatrx.trust-anchors": a copy
// of the snapshot's trust-anchor fingerprints and simulated flag.
type TrustAnchorsExt struct {
	Fingerprints []string `cbor:"fingerprints"`
	Simulated    bool     `cbor:"simulated"`
}

// AuthorizationExt is the value of extensions."seatrx.authorization": a
// receipt issued when the last required approval arrived, after the
// authorization had waited, says when that wait began. The attestation
// (the EAR) was judged at Created, so a verifier judges its freshness
// there, not at the receipt's timestamp; Created <= timestamp <= Expires.
type AuthorizationExt struct {
	Created uint64 `cbor:"created"`
	Expires uint64 `cbor:"expires"`
}

func (a *AuthorizationExt) validate(path string) error {
	if a.Expires > maxUnix {
		return ferr(join(path, "expires"), CodeBadValue, "expires %d beyond year 9999", a.Expires)
	}
	if a.Created > a.Expires {
		return ferr(join(path, "created"), CodeBadValue, "created %d after expires %d", a.Created, a.Expires)
	}
	return nil
}

// Receipt is the decoded payload of a seatrx PRE-RCT receipt: all ten fields
// of draft-madaras-preauth-receipts-00 plus the profile id and extensions.
type Receipt struct {
	Profile            string           `cbor:"profile"`
	ReceiptID          []byte           `cbor:"receipt_id"`
	ActionHash         Hash             `cbor:"action_hash"`
	PolicyHash         Hash             `cbor:"policy_hash"`
	ApproverIdentities []Approver       `cbor:"approver_identities"`
	ApproverSignatures [][]byte         `cbor:"approver_signatures"`
	Timestamp          uint64           `cbor:"timestamp"`
	ExecutionToken     ExecutionToken   `cbor:"execution_token"`
	MaskingProfileID   string           `cbor:"hae_masking_profile_id"`
	AttestationToken   CMWRecord        `cbor:"hae_attestation_token"`
	ContextSnapshot    *ContextSnapshot `cbor:"context_snapshot,omitempty"`
	Extensions         map[string]any   `cbor:"extensions,omitempty"`

	// Issuer and Subject come from the protected CWT claims; KeyID and Alg
	// from the protected header. They are filled by Verify / ParseReceipt.
	Issuer  string `cbor:"-"`
	Subject string `cbor:"-"`
	KeyID   []byte `cbor:"-"`
	Alg     int64  `cbor:"-"`
}

// Action is the authorized action object whose deterministic CBOR encoding
// is hashed into action_hash (reference §3.3).
type Action struct {
	Type               string          `cbor:"type"`
	PeerKey            Hash            `cbor:"peer_key"`
	Binder             []byte          `cbor:"binder"`
	CertRequestContext []byte          `cbor:"cert_request_context"`
	ServerCert         Hash            `cbor:"server_cert"`
	EvidenceDigest     Hash            `cbor:"evidence_digest"`
	Requested          cbor.RawMessage `cbor:"requested,omitempty"`
}

// Marshal returns the deterministic CBOR preimage of the action.
func (a *Action) Marshal() ([]byte, error) {
	if err := a.validate(""); err != nil {
		return nil, err
	}
	return marshal(a)
}

func (a *Action) validate(path string) error {
	if a.Type != ActionTypeAttestedSession {
		return ferr(join(path, "type"), CodeActionType, "unsupported action type %q", a.Type)
	}
	for _, h := range []struct {
		name string
		h    Hash
	}{{"peer_key", a.PeerKey}, {"server_cert", a.ServerCert}, {"evidence_digest", a.EvidenceDigest}} {
		if err := h.h.check(join(path, h.name)); err != nil {
			return err
		}
	}
	if len(a.Binder) == 0 || len(a.Binder) > 64 {
		return ferr(join(path, "binder"), CodeBadLength, "binder is %d bytes, want 1..64", len(a.Binder))
	}
	if len(a.CertRequestContext) > 255 {
		return ferr(join(path, "cert_request_context"), CodeBadLength, "%d bytes exceeds 255", len(a.CertRequestContext))
	}
	if a.Requested != nil {
		if err := checkDeterministicAny(join(path, "requested"), a.Requested, MaxActionSize); err != nil {
			return err
		}
	}
	return nil
}

// ParseAction strictly decodes an action-object preimage.
func ParseAction(data []byte) (*Action, error) {
	const path = "action"
	if len(data) > MaxActionSize {
		return nil, ferr(path, CodeTooLarge, "%d bytes exceeds limit %d", len(data), MaxActionSize)
	}
	var a Action
	if err := decodeStruct(data, path, &a); err != nil {
		return nil, err
	}
	if err := checkDeterministic(path, data, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (t *ExecutionToken) validate(path string) error {
	if len(t.ID) != idLen {
		return ferr(join(path, "id"), CodeBadLength, "id is %d bytes, want %d", len(t.ID), idLen)
	}
	if err := t.Digest.check(join(path, "digest")); err != nil {
		return err
	}
	if t.Audience == "" {
		return ferr(join(path, "aud"), CodeBadValue, "empty audience")
	}
	if t.Expires > maxUnix {
		return ferr(join(path, "exp"), CodeBadValue, "exp %d beyond year 9999", t.Expires)
	}
	if t.Expires <= t.NotBefore {
		return ferr(join(path, "exp"), CodeBadValue, "exp %d not after nbf %d", t.Expires, t.NotBefore)
	}
	if t.MaxUses != 1 {
		return ferr(join(path, "max_uses"), CodeBadValue, "max_uses is %d, profile requires 1", t.MaxUses)
	}
	if t.Cnf != nil {
		if err := t.Cnf.check(join(path, "cnf")); err != nil {
			return err
		}
	}
	return nil
}

func (s *ContextSnapshot) validate(path string) error {
	if err := s.PeerKey.check(join(path, "peer_key")); err != nil {
		return err
	}
	if err := s.EvidenceDigest.check(join(path, "evidence_digest")); err != nil {
		return err
	}
	for i, c := range s.Collateral {
		if err := c.Digest.check(fmt.Sprintf("%s.collateral[%d].digest", path, i)); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.MaskedIdentifiers)) {
		if err := s.MaskedIdentifiers[k].check(join(path, "masked_identifiers."+k)); err != nil {
			return err
		}
	}
	if s.Mutual != nil {
		if err := s.Mutual.EvidenceDigest.check(join(path, "mutual.evidence_digest")); err != nil {
			return err
		}
	}
	if len(s.NotEvaluated) > MaxNotEvaluated {
		return ferr(join(path, "not_evaluated"), CodeBadLength, "%d names, at most %d", len(s.NotEvaluated), MaxNotEvaluated)
	}
	for i, n := range s.NotEvaluated {
		p := fmt.Sprintf("%s[%d]", join(path, "not_evaluated"), i)
		if n == "" || len(n) > 64 {
			return ferr(p, CodeBadLength, "%d bytes, want 1..64", len(n))
		}
		if slices.Contains(s.NotEvaluated[:i], n) {
			return ferr(p, CodeBadValue, "duplicate %q", n)
		}
	}
	return nil
}

// validateV1 refuses the members profile v1 does not define, as the v1
// reader did (unknown_field naming the first, in key order): the three of
// the v2 binding and not_evaluated, which came after v1 was frozen. The
// schema is one Go type for both profiles, so v1's closed map is enforced
// here.
func (s *ContextSnapshot) validateV1(path string) error {
	if s == nil {
		return nil
	}
	for _, m := range []struct {
		name    string
		present bool
	}{
		{"binder_label", s.BinderLabel != ""}, {"binder_profile", s.BinderProfile != ""},
		{"not_evaluated", s.NotEvaluated != nil}, {"transport", s.Transport != ""},
	} {
		if m.present {
			return ferr(join(path, m.name), CodeUnknownField, "unknown key %q (profile v1)", m.name)
		}
	}
	return nil
}

// validateV2 requires the members profile v2 adds and checks the transport
// and its version: "tls" with a TLS version (0x03xx), "dtls" with a DTLS
// version (0xfexx).
func (s *ContextSnapshot) validateV2(path string) error {
	if s == nil {
		return nil
	}
	for _, m := range []struct{ name, v string }{{"transport", s.Transport}, {"binder_profile", s.BinderProfile}, {"binder_label", s.BinderLabel}} {
		if m.v == "" {
			return ferr(join(path, m.name), CodeMissingField, "required key %q absent (profile v2)", m.name)
		}
	}
	switch {
	case s.Transport == TransportTLS && s.TLSVersion>>8 == 0x03, s.Transport == TransportDTLS && s.TLSVersion>>8 == 0xfe:
	case s.Transport != TransportTLS && s.Transport != TransportDTLS:
		return ferr(join(path, "transport"), CodeBadValue, "unknown transport %q (want %q or %q)", s.Transport, TransportTLS, TransportDTLS)
	default:
		return ferr(join(path, "tls_version"), CodeBadValue, "version 0x%04x is not a %s version", s.TLSVersion, s.Transport)
	}
	return nil
}

// decodeReceiptPayload strictly decodes and validates a receipt payload.
func decodeReceiptPayload(data []byte) (*Receipt, error) {
	const path = ""
	var r Receipt
	if err := decodeStruct(data, path, &r); err != nil {
		return nil, err
	}
	if err := checkDeterministic("payload", data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// validate checks per-field types and lengths beyond what decoding enforces;
// a receipt payload is the top-level map, so path is "".
func (r *Receipt) validate(path string) error {
	switch r.Profile {
	case ProfileID:
		if err := r.ContextSnapshot.validateV2("context_snapshot"); err != nil {
			return err
		}
	case ProfileIDV1:
		if err := r.ContextSnapshot.validateV1("context_snapshot"); err != nil {
			return err
		}
	default:
		return ferr(join(path, "profile"), CodeProfile, "unsupported profile %q", r.Profile)
	}
	if n := len(r.ApproverIdentities); n == 0 || n > MaxApprovers {
		return ferr(join(path, "approver_identities"), CodeApprovalCount, "%d approvers, want 1..%d", n, MaxApprovers)
	}
	if r.Timestamp > maxUnix {
		return ferr("timestamp", CodeBadValue, "timestamp %d beyond year 9999", r.Timestamp)
	}
	if len(r.ReceiptID) != idLen {
		return ferr("receipt_id", CodeBadLength, "receipt_id is %d bytes, want %d", len(r.ReceiptID), idLen)
	}
	if err := r.ActionHash.check("action_hash"); err != nil {
		return err
	}
	if err := r.PolicyHash.check("policy_hash"); err != nil {
		return err
	}
	if len(r.ApproverSignatures) != len(r.ApproverIdentities) {
		return ferr("approver_signatures", CodeApprovalCount, "%d signatures for %d identities", len(r.ApproverSignatures), len(r.ApproverIdentities))
	}
	for i, s := range r.ApproverSignatures {
		if len(s) == 0 || len(s) > MaxApprovalSize {
			return ferr(fmt.Sprintf("approver_signatures[%d]", i), CodeTooLarge, "approval is %d bytes, want 1..%d", len(s), MaxApprovalSize)
		}
	}
	for i, a := range r.ApproverIdentities {
		if a.ID == "" || len(a.Kid) == 0 {
			return ferr(fmt.Sprintf("approver_identities[%d]", i), CodeBadValue, "empty id or kid")
		}
	}
	switch r.MaskingProfileID {
	case MaskNone, MaskSaltedDigest:
	default:
		return ferr("hae_masking_profile_id", CodeMaskingProfile, "unknown masking profile %q", r.MaskingProfileID)
	}
	if s := r.ContextSnapshot; s != nil {
		if r.MaskingProfileID == MaskNone && len(s.MaskedIdentifiers) > 0 {
			return ferr("context_snapshot.masked_identifiers", CodeMaskingProfile, "masked identifiers under %s", MaskNone)
		}
		if r.MaskingProfileID == MaskSaltedDigest && len(s.Identifiers) > 0 {
			return ferr("context_snapshot.identifiers", CodeMaskingProfile, "clear identifiers under %s", MaskSaltedDigest)
		}
	}
	if r.Extensions != nil && len(r.Extensions) == 0 {
		return ferr("extensions", CodeBadValue, "extensions present but empty")
	}
	for k := range r.Extensions {
		if !utf8.ValidString(k) || k == "" {
			return ferr("extensions", CodeBadValue, "bad extension key")
		}
	}
	return nil
}
