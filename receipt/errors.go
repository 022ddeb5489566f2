package receipt

import (
	"errors"
	"fmt"
)

// ErrorCode is a stable receipt error code without its namespace, e.g.
// "hash_mismatch". On the wire (problem details, verification reports,
// conformance vectors) it is namespaced: "receipt.hash_mismatch" (see
// FieldError.ProblemCode).
type ErrorCode string

// Namespace prefixes every receipt code on the wire.
const Namespace = "receipt"

// Stable error codes. They are part of seatrx's public contract: they appear,
// namespaced, in verification reports, problem details and the "error" member
// of conformance vectors.
const (
	CodeMalformed            ErrorCode = "malformed"
	CodeTooLarge             ErrorCode = "too_large"
	CodeTrailingData         ErrorCode = "trailing_data"
	CodeDuplicateKey         ErrorCode = "duplicate_key"
	CodeIndefiniteLength     ErrorCode = "indefinite_length"
	CodeTagForbidden         ErrorCode = "tag_forbidden"
	CodeInvalidUTF8          ErrorCode = "invalid_utf8"
	CodeWrongType            ErrorCode = "wrong_type"
	CodeUnknownField         ErrorCode = "unknown_field"
	CodeMissingField         ErrorCode = "missing_field"
	CodeNonDeterministic     ErrorCode = "non_deterministic"
	CodeUntagged             ErrorCode = "untagged"
	CodeBadSignature         ErrorCode = "bad_signature"
	CodeWrongTyp             ErrorCode = "wrong_typ"
	CodeAlgNotAllowed        ErrorCode = "alg_not_allowed"
	CodeAlgKeyMismatch       ErrorCode = "alg_key_mismatch"
	CodeUnknownCrit          ErrorCode = "unknown_crit"
	CodeUnknownKid           ErrorCode = "unknown_kid"
	CodeIssuerMismatch       ErrorCode = "issuer_mismatch"
	CodeUnprotectedHeader    ErrorCode = "unprotected_header"
	CodeProfile              ErrorCode = "profile"
	CodeBadLength            ErrorCode = "bad_length"
	CodeBadValue             ErrorCode = "bad_value"
	CodeHashAlg              ErrorCode = "hash_alg"
	CodeHashLength           ErrorCode = "hash_length"
	CodeHashMismatch         ErrorCode = "hash_mismatch"
	CodeActionType           ErrorCode = "action_type"
	CodeApprovalsBelow       ErrorCode = "approvals_below_threshold"
	CodeApprovalCount        ErrorCode = "approval_count"
	CodeDuplicateApprover    ErrorCode = "duplicate_approver"
	CodeUnknownApprover      ErrorCode = "unknown_approver"
	CodeApprovalMismatch     ErrorCode = "approval_mismatch"
	CodeApprovalReceiptID    ErrorCode = "approval_receipt_id_mismatch"
	CodeApprovalExpired      ErrorCode = "approval_expired"
	CodeApprovalNotYetValid  ErrorCode = "approval_not_yet_valid"
	CodeApprovalDecision     ErrorCode = "approval_decision"
	CodeApprovalMissing      ErrorCode = "approval_missing"
	CodeApprovalRule         ErrorCode = "approval_rule"
	CodeAttestation          ErrorCode = "attestation"
	CodeAttestationMediaType ErrorCode = "attestation_media_type"
	CodeTestPKI              ErrorCode = "test_pki"
	CodeUntrustedAnchor      ErrorCode = "untrusted_anchor"
	CodeMaskingProfile       ErrorCode = "masking_profile"
	CodeMaskMismatch         ErrorCode = "mask_mismatch"
	CodeFutureTimestamp      ErrorCode = "future_timestamp"
	CodeTooOld               ErrorCode = "too_old"
	CodeReplayed             ErrorCode = "replayed"
	CodeOutsideKeyValidity   ErrorCode = "outside_key_validity"
	CodeTokenConsumed        ErrorCode = "token_consumed"
	CodeTokenMismatch        ErrorCode = "token_mismatch"
	CodeTokenExpired         ErrorCode = "token_expired"
	CodeTokenNotYetValid     ErrorCode = "token_not_yet_valid"
	CodeTokenAudience        ErrorCode = "token_audience"
	CodeTokenCnf             ErrorCode = "token_cnf"
	CodeConfig               ErrorCode = "config"
	CodeInexactNumber        ErrorCode = "inexact_number"
	CodeIntegerRange         ErrorCode = "integer_range"
)

// FieldError is the typed error every failure in this package returns. Field
// names the offending field as a path ("approver_signatures[1].nonce"), Code
// is one of the stable Code* values, Err is the underlying cause if any.
//
// A FieldError whose Code is empty only locates a lower layer's classified
// failure (the injected EAR check's "ear.nonce", say): its ProblemCode is the
// wrapped error's.
type FieldError struct {
	Field string
	Code  ErrorCode
	Err   error
}

// Error renders "receipt: <field>: <code>: <cause>".
func (e *FieldError) Error() string {
	msg := "receipt: "
	if e.Field != "" {
		msg += e.Field + ": "
	}
	if e.Code != "" {
		msg += string(e.Code)
		if e.Err != nil {
			msg += ": "
		}
	}
	if e.Err != nil {
		msg += e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// ProblemCode returns the namespaced wire code: "receipt.<code>", or, for a
// FieldError without a code of its own, the wrapped error's ProblemCode.
func (e *FieldError) ProblemCode() string {
	if e.Code != "" {
		return Namespace + "." + string(e.Code)
	}
	var pc problemCoder
	if errors.As(e.Err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

// problemCoder is an error that names its stable, namespaced wire code.
type problemCoder interface{ ProblemCode() string }

// Is makes errors.Is(err, ErrXxx) match any *FieldError carrying the same code,
// whatever its field; the Err* sentinels have no field.
func (e *FieldError) Is(target error) bool {
	t, ok := target.(*FieldError)
	if !ok {
		return false
	}
	return t.Field == "" && t.Code != "" && t.Code == e.Code
}

// Sentinels for errors.Is; each matches every FieldError with its code.
var (
	ErrMalformed          = &FieldError{Code: CodeMalformed}
	ErrTooLarge           = &FieldError{Code: CodeTooLarge}
	ErrUnknownField       = &FieldError{Code: CodeUnknownField}
	ErrNonDeterministic   = &FieldError{Code: CodeNonDeterministic}
	ErrBadSignature       = &FieldError{Code: CodeBadSignature}
	ErrUnknownKid         = &FieldError{Code: CodeUnknownKid}
	ErrHashMismatch       = &FieldError{Code: CodeHashMismatch}
	ErrApprovalsBelow     = &FieldError{Code: CodeApprovalsBelow}
	ErrAttestation        = &FieldError{Code: CodeAttestation}
	ErrReplayed           = &FieldError{Code: CodeReplayed}
	ErrTokenConsumed      = &FieldError{Code: CodeTokenConsumed}
	ErrTokenMismatch      = &FieldError{Code: CodeTokenMismatch}
	ErrTokenExpired       = &FieldError{Code: CodeTokenExpired}
	ErrTokenAudience      = &FieldError{Code: CodeTokenAudience}
	ErrTokenCnf           = &FieldError{Code: CodeTokenCnf}
	ErrOutsideKeyValidity = &FieldError{Code: CodeOutsideKeyValidity}
)

// Code returns the code of the first *FieldError in err's chain, or "" if
// there is none (or it only locates a lower layer's failure).
func Code(err error) ErrorCode {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

// ProblemCode returns the namespaced wire code of err ("receipt.hash_mismatch",
// "ear.nonce"), or "" if nothing in its chain names one.
func ProblemCode(err error) string {
	var pc problemCoder
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

func ferr(field string, code ErrorCode, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: code, Err: fmt.Errorf(format, args...)}
}

func fwrap(field string, code ErrorCode, err error) *FieldError {
	return &FieldError{Field: field, Code: code, Err: err}
}
