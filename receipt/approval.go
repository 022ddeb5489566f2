package receipt

import (
	"fmt"
	"time"
)

// Decision values of an approval statement. Only DecisionApprove may appear
// in a receipt; DecisionDeny is what an approver sends to refuse a pending
// authorization (the same statement, signed the same way). Profile v1 and v2 define both.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// Approval is the statement one approver signs (reference §3.5). ReceiptID is
// the authorization instance (anti-splicing); Nonce is the per-approver
// replay unit; Audience is the receipt issuer's URI.
type Approval struct {
	ReceiptID         []byte `cbor:"receipt_id"`
	ActionHash        Hash   `cbor:"action_hash"`
	PolicyHash        Hash   `cbor:"policy_hash"`
	AttestationDigest Hash   `cbor:"attestation_digest"`
	Approver          string `cbor:"approver"`
	Decision          string `cbor:"decision"`
	Nonce             []byte `cbor:"nonce"`
	IssuedAt          uint64 `cbor:"iat"`
	Expires           uint64 `cbor:"exp"`
	Audience          string `cbor:"aud"`
}

func (a *Approval) validate(path string) error { return a.check(path, false) }

// check validates the statement; allowDeny also accepts DecisionDeny (a
// decision on a pending authorization, never an approval in a receipt).
func (a *Approval) check(path string, allowDeny bool) error {
	if len(a.ReceiptID) != idLen {
		return ferr(join(path, "receipt_id"), CodeBadLength, "%d bytes, want %d", len(a.ReceiptID), idLen)
	}
	for _, h := range []struct {
		name string
		h    Hash
	}{{"action_hash", a.ActionHash}, {"policy_hash", a.PolicyHash}, {"attestation_digest", a.AttestationDigest}} {
		if err := h.h.check(join(path, h.name)); err != nil {
			return err
		}
	}
	if a.Approver == "" {
		return ferr(join(path, "approver"), CodeBadValue, "empty approver")
	}
	if a.Decision != DecisionApprove && !(allowDeny && a.Decision == DecisionDeny) {
		if allowDeny {
			return ferr(join(path, "decision"), CodeApprovalDecision, "decision %q is not %q or %q", a.Decision, DecisionApprove, DecisionDeny)
		}
		return ferr(join(path, "decision"), CodeApprovalDecision, "decision %q is not %q", a.Decision, DecisionApprove)
	}
	if len(a.Nonce) != idLen {
		return ferr(join(path, "nonce"), CodeBadLength, "%d bytes, want %d", len(a.Nonce), idLen)
	}
	if a.Expires > maxUnix {
		return ferr(join(path, "exp"), CodeBadValue, "exp %d beyond year 9999", a.Expires)
	}
	if a.Expires <= a.IssuedAt {
		return ferr(join(path, "exp"), CodeBadValue, "exp %d not after iat %d", a.Expires, a.IssuedAt)
	}
	if a.Audience == "" {
		return ferr(join(path, "aud"), CodeBadValue, "empty audience")
	}
	return nil
}

// decodeApproval strictly decodes an approval payload (approve only).
func decodeApproval(path string, data []byte) (*Approval, error) {
	return decodeStatement(path, data, false)
}

// decodeStatement strictly decodes an approval or, with allowDeny, a deny.
func decodeStatement(path string, data []byte, allowDeny bool) (*Approval, error) {
	var a Approval
	if err := decodeInto(data, path, &a); err != nil {
		return nil, err
	}
	if err := a.check(path, allowDeny); err != nil {
		return nil, err
	}
	if err := checkDeterministic(path, data, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// SignApproval signs st as approver s: a tagged COSE_Sign1 with typ
// application/pre-rct-approval+cbor and kid = s's thumbprint. st.Approver
// must equal s.Name().
func SignApproval(s *Signer, st *Approval) ([]byte, error) {
	return signStatement(s, st, false)
}

// SignDecision is SignApproval for a decision on a pending authorization:
// st.Decision is DecisionApprove or DecisionDeny.
func SignDecision(s *Signer, st *Approval) ([]byte, error) {
	return signStatement(s, st, true)
}

func signStatement(s *Signer, st *Approval, allowDeny bool) ([]byte, error) {
	if st.Approver != s.name {
		return nil, ferr("approver", CodeApprovalMismatch, "statement names %q, signer is %q", st.Approver, s.name)
	}
	if err := st.check("", allowDeny); err != nil {
		return nil, err
	}
	payload, err := marshal(st)
	if err != nil {
		return nil, err
	}
	return signEnvelope(s, ApprovalType, "", payload)
}

// SignedApproval is a decoded approval and the kid of the key that signed it.
type SignedApproval struct {
	Approval
	KeyID []byte
	Alg   int64
}

// ParseApproval decodes an approval COSE_Sign1 strictly without verifying
// its signature (for rendering and fuzzing).
func ParseApproval(data []byte) (*SignedApproval, error) {
	e, a, err := parseApproval("approval", data, false)
	if err != nil {
		return nil, err
	}
	return &SignedApproval{Approval: *a, KeyID: e.kid, Alg: int64(e.alg)}, nil
}

// ParseDecision is ParseApproval for a decision on a pending authorization
// (approve or deny): the envelope and statement are checked as strictly,
// the signature is not. A server uses the approver id and kid it names to
// find the key to verify it with (VerifyDecision).
func ParseDecision(data []byte) (*SignedApproval, error) {
	e, a, err := parseApproval("approval", data, true)
	if err != nil {
		return nil, err
	}
	return &SignedApproval{Approval: *a, KeyID: e.kid, Alg: int64(e.alg)}, nil
}

func parseApproval(field string, data []byte, allowDeny bool) (*envelope, *Approval, error) {
	e, err := parseEnvelope(field, data, MaxApprovalSize, ApprovalType, false)
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeStatement(field+".payload", e.payload, allowDeny)
	if err != nil {
		return nil, nil, err
	}
	return e, a, nil
}

// VerifyApproval decodes an approval and verifies its signature under key;
// the kid must be key's thumbprint and the approver id must equal key.ID.
// Time and receipt binding are checked by Verify, not here.
func VerifyApproval(data []byte, key TrustedKey) (*SignedApproval, error) {
	return verifyApproval("approval", data, key, false)
}

// VerifyDecision is VerifyApproval for a decision on a pending
// authorization: approve or deny.
func VerifyDecision(data []byte, key TrustedKey) (*SignedApproval, error) {
	return verifyApproval("approval", data, key, true)
}

func verifyApproval(field string, data []byte, key TrustedKey, allowDeny bool) (*SignedApproval, error) {
	e, a, err := parseApproval(field, data, allowDeny)
	if err != nil {
		return nil, err
	}
	tp, err := Thumbprint(key.Key)
	if err != nil {
		return nil, err
	}
	if string(tp) != string(e.kid) {
		return nil, ferr(field+".protected.kid", CodeUnknownKid, "kid does not match the approver's trusted key")
	}
	if err := e.verifyWith(field, key.Key); err != nil {
		return nil, err
	}
	if key.ID != "" && a.Approver != key.ID {
		return nil, ferr(field+".payload.approver", CodeApprovalMismatch, "approver %q, trusted key belongs to %q", a.Approver, key.ID)
	}
	return &SignedApproval{Approval: *a, KeyID: e.kid, Alg: int64(e.alg)}, nil
}

// checkAgainst compares an approval with the receipt it is attached to.
func (a *Approval) checkAgainst(path string, r *Receipt, id Approver) error {
	if string(a.ReceiptID) != string(r.ReceiptID) {
		return ferr(join(path, "receipt_id"), CodeApprovalReceiptID, "approval is for another receipt_id")
	}
	if !a.ActionHash.Equal(r.ActionHash) {
		return ferr(join(path, "action_hash"), CodeApprovalMismatch, "action_hash differs from the receipt's")
	}
	if !a.PolicyHash.Equal(r.PolicyHash) {
		return ferr(join(path, "policy_hash"), CodeApprovalMismatch, "policy_hash differs from the receipt's")
	}
	if !a.AttestationDigest.Matches(r.AttestationToken.Value) {
		return ferr(join(path, "attestation_digest"), CodeApprovalMismatch, "attestation_digest does not match hae_attestation_token")
	}
	if a.Approver != id.ID {
		return ferr(join(path, "approver"), CodeApprovalMismatch, "approver %q, identity says %q", a.Approver, id.ID)
	}
	if a.Audience != r.Issuer {
		return ferr(join(path, "aud"), CodeApprovalMismatch, "aud %q, receipt issuer %q", a.Audience, r.Issuer)
	}
	if a.IssuedAt > r.Timestamp {
		return ferr(join(path, "iat"), CodeApprovalNotYetValid, "approved at %d, after receipt timestamp %d", a.IssuedAt, r.Timestamp)
	}
	if r.Timestamp > a.Expires {
		return ferr(join(path, "exp"), CodeApprovalExpired, "expired at %d, receipt timestamp %d", a.Expires, r.Timestamp)
	}
	return nil
}

func unix(t uint64) time.Time { return time.Unix(int64(t), 0).UTC() }

func approvalPath(i int) string { return fmt.Sprintf("approver_signatures[%d]", i) }
