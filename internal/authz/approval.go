package authz

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/seatrx/seatrx/receipt"
)

// MaxApprovalBody bounds the body of POST /v1/authorizations/{id}/approvals
// and /v1/authorizations/pending: one COSE_Sign1 statement.
const MaxApprovalBody = receipt.MaxApprovalSize

// ParseApproval reads the body of POST /v1/authorizations/{id}/approvals: a
// decision (approve or deny), a tagged COSE_Sign1 checked as strictly as a
// receipt's approvals (PROFILE.md §4), signature not yet verified. Anything
// else is a malformed_approval naming the field and the receipt rule broken.
func ParseApproval(body []byte) (*receipt.SignedApproval, error) {
	if len(body) > MaxApprovalBody {
		return nil, errorf(CodeMalformed, "", "%d bytes, limit %d", len(body), MaxApprovalBody)
	}
	sa, err := receipt.ParseDecision(body)
	if err != nil {
		var fe *receipt.FieldError
		field := ""
		if errors.As(err, &fe) {
			field = fe.Field
		}
		return nil, &Error{Code: CodeMalformed, Field: field, Detail: receipt.ProblemCode(err), Err: err}
	}
	return sa, nil
}

// Hashes are the three hashes an approval binds, computed from what the
// server keeps (SHA-256, as the receipt will carry them).
type Hashes struct {
	Action, Policy, Attestation receipt.Hash
}

// HashesOf computes the hashes of rec's action, the given policy preimage
// and rec's EAR.
func HashesOf(rec *Record, policy []byte) Hashes {
	return Hashes{Action: receipt.SHA256(rec.Action), Policy: receipt.SHA256(policy), Attestation: receipt.SHA256(rec.EAR)}
}

// CheckBinding checks that a decision is about this authorization and no
// other: its receipt_id is id, its hashes are h, its aud is the issuer;
// and that it covers the whole wait: made no later than now (iat) and valid
// until at least the authorization's expiry (exp), so that it is valid at
// whatever moment the receipt is issued.
func CheckBinding(sa *receipt.SignedApproval, id []byte, rec *Record, h Hashes, now, expires time.Time) error {
	for _, c := range []struct {
		field string
		ok    bool
		what  string
	}{
		{"payload.receipt_id", string(sa.ReceiptID) == string(id), "the statement is for another authorization"},
		{"payload.action_hash", sa.ActionHash.Equal(h.Action), "the statement approves another action"},
		{"payload.policy_hash", sa.PolicyHash.Equal(h.Policy), "the statement is under another policy"},
		{"payload.attestation_digest", sa.AttestationDigest.Equal(h.Attestation), "the statement is about another attestation"},
		{"payload.aud", sa.Audience == rec.Issuer, fmt.Sprintf("the statement is for issuer %q, not %q", sa.Audience, rec.Issuer)},
	} {
		if !c.ok {
			return errorf(CodeWrongPayload, c.field, "%s", c.what)
		}
	}
	if int64(sa.IssuedAt) > now.Unix() {
		return errorf(CodeApprovalTime, "payload.iat", "iat %d is after the server's time %d (use the authorization's \"now\")", sa.IssuedAt, now.Unix())
	}
	if int64(sa.Expires) < expires.Unix() {
		return errorf(CodeApprovalTime, "payload.exp", "exp %d is before the authorization's expiry %d: the approval must cover the whole wait", sa.Expires, expires.Unix())
	}
	return nil
}

// NewStatement returns the statement approver signs to decide (approve
// or deny) on authorization id: the hashes recomputed by the caller from the
// preimages it was shown, a fresh nonce, iat the server's time as it showed
// it, exp the authorization's expiry.
func NewStatement(id []byte, h Hashes, approver, decision, aud string, now, expires int64) (*receipt.Approval, error) {
	if now < 0 || expires <= now {
		return nil, fmt.Errorf("authz: the authorization expired (expires %d, now %d)", expires, now)
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("authz: random: %w", err)
	}
	return &receipt.Approval{
		ReceiptID: id, ActionHash: h.Action, PolicyHash: h.Policy, AttestationDigest: h.Attestation,
		Approver: approver, Decision: decision, Nonce: nonce,
		IssuedAt: uint64(now), Expires: uint64(expires), Audience: aud,
	}, nil
}
