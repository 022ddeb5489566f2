// Package authz is the server's side of pending authorizations (N-of-M
// approvals before a receipt is issued): the record the server keeps for
// each, the checks an approver's signed decision must pass before it
// counts, the statement an approver signs for what it was shown, and the
// authz problem codes. The store keeps records opaque and makes the state
// changes exactly-once; receipt signs and verifies the statements.
package authz

import "fmt"

// Code names a refusal of the authorization API. On the wire it is
// namespaced: "authz." + Code.
type Code string

// Namespace is the wire namespace of authz codes.
const Namespace = "authz"

// Codes of the authorization API (the HTTP status of each is the server's,
// listed in conformance/README.md).
const (
	CodeBadID            Code = "bad_id"             // the id is not 32 lowercase hex characters
	CodeNotFound         Code = "not_found"          // no authorization with this id
	CodeBadWait          Code = "bad_wait"           // ?wait= is not 0..25 seconds
	CodeActionField      Code = "action_field"       // a field the policy's rules test has the wrong type
	CodeApprovalRequired Code = "approval_required"  // POST /v1/receipts for an action that needs approvers
	CodeMalformed        Code = "malformed_approval" // the body is not a well-formed decision COSE_Sign1
	CodeUnknownApprover  Code = "unknown_approver"   // the approver id is not in the server's policy
	CodeNotEligible      Code = "not_eligible"       // the approver is not among this authorization's
	CodeUnknownKey       Code = "unknown_key"        // signed by a key that is not the approver's
	CodeBadSignature     Code = "bad_signature"      // the signature does not verify under the approver's key
	CodeWrongPayload     Code = "wrong_payload"      // the statement is about another authorization, action, policy, attestation or issuer
	CodeApprovalTime     Code = "approval_time"      // iat after the server's now, or exp before the authorization's expiry
	CodeDuplicate        Code = "duplicate"          // this approver already decided
	CodeExpired          Code = "expired"            // the authorization expired
	CodeCompleted        Code = "completed"          // the authorization is completed: its receipt exists
	CodeDenied           Code = "denied"             // the authorization was denied
	CodePolicyChanged    Code = "policy_changed"     // the server's policy is no longer the one the authorization was made under
	CodeBadQuery         Code = "bad_query"          // an approver query that is malformed, stale, for another server or not verifiable
)

// Codes lists every authz code (documentation is checked against it).
func Codes() []Code {
	return []Code{CodeBadID, CodeNotFound, CodeBadWait, CodeActionField, CodeApprovalRequired,
		CodeMalformed, CodeUnknownApprover, CodeNotEligible, CodeUnknownKey, CodeBadSignature, CodeWrongPayload,
		CodeApprovalTime, CodeDuplicate, CodeExpired, CodeCompleted, CodeDenied, CodePolicyChanged, CodeBadQuery}
}

// Error is a refusal of the authorization API: its code, the field of the
// request at fault (a statement's "payload.action_hash", "wait", ...), what
// is wrong, and the lower error (a receipt.FieldError) if any.
type Error struct {
	Code   Code
	Field  string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	msg := "authz: " + string(e.Code)
	if e.Field != "" {
		msg += ": " + e.Field
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the lower error.
func (e *Error) Unwrap() error { return e.Err }

// ProblemCode returns the namespaced wire code, e.g. "authz.duplicate". Its
// own code wins over a lower error's: a malformed approval is
// authz.malformed_approval whatever receipt rule it broke (the detail says).
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}
