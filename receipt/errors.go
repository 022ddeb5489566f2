package receipt

import (
	"errors"
	"fmt"
)

// Stable error codes. They are part of seatrx's public contract: they appear
// in verification reports and in the "error" member of conformance vectors.
const (
	CodeMalformed            = "malformed"
	CodeTooLarge             = "too_large"
	CodeTrailingData         = "trailing_data"
	CodeDuplicateKey         = "duplicate_key"
	CodeIndefiniteLength     = "indefinite_length"
	CodeTagForbidden         = "tag_forbidden"
	CodeInvalidUTF8          = "invalid_utf8"
	CodeWrongType            = "wrong_type"
	CodeUnknownField         = "unknown_field"
	CodeMissingField         = "missing_field"
	CodeNonDeterministic     = "non_deterministic"
	CodeUntagged             = "untagged"
	CodeBadSignature         = "bad_signature"
	CodeWrongTyp             = "wrong_typ"
	CodeAlgNotAllowed        = "alg_not_allowed"
	CodeAlgKeyMismatch       = "alg_key_mismatch"
	CodeUnknownCrit          = "unknown_crit"
	CodeUnknownKid           = "unknown_kid"
	CodeIssuerMismatch       = "issuer_mismatch"
	CodeUnprotectedHeader    = "unprotected_header"
	CodeProfile              = "profile"
	CodeBadLength            = "bad_length"
	CodeBadValue             = "bad_value"
	CodeHashAlg              = "hash_alg"
	CodeHashLength           = "hash_length"
	CodeHashMismatch         = "hash_mismatch"
	CodeActionType           = "action_type"
	CodeApprovalsBelow       = "approvals_below_threshold"
	CodeApprovalCount        = "approval_count"
	CodeDuplicateApprover    = "duplicate_approver"
	CodeUnknownApprover      = "unknown_approver"
	CodeApprovalMismatch     = "approval_mismatch"
	CodeApprovalReceiptID    = "approval_receipt_id_mismatch"
	CodeApprovalExpired      = "approval_expired"
	CodeApprovalNotYetValid  = "approval_not_yet_valid"
	CodeApprovalDecision     = "approval_decision"
	CodeAttestation          = "attestation"
	CodeAttestationMediaType = "attestation_media_type"
	CodeAttestationSignature = "attestation_signature"
	CodeAttestationNonce     = "attestation_nonce"
	CodeAttestationStatus    = "attestation_status"
	CodeAttestationProfile   = "attestation_profile"
	CodeAttestationTime      = "attestation_time"
	CodeTestPKI              = "test_pki"
	CodeUntrustedAnchor      = "untrusted_anchor"
	CodeMaskingProfile       = "masking_profile"
	CodeMaskMismatch         = "mask_mismatch"
	CodeFutureTimestamp      = "future_timestamp"
	CodeTooOld               = "too_old"
	CodeReplayed             = "replayed"
	CodeOutsideKeyValidity   = "outside_key_validity"
	CodeTokenConsumed        = "token_consumed"
	CodeTokenMismatch        = "token_mismatch"
	CodeTokenExpired         = "token_expired"
	CodeTokenNotYetValid     = "token_not_yet_valid"
	CodeTokenAudience        = "token_audience"
	CodeTokenCnf             = "token_cnf"
	CodeConfig               = "config"
)

// FieldError is the typed error every failure in this package returns. Field
// names the offending field as a path ("approver_signatures[1].nonce"), Code
// is one of the stable Code* strings, Err is the underlying cause if any.
type FieldError struct {
	Field string
	Code  string
	Err   error
}

// Error renders "receipt: <field>: <code>: <cause>".
func (e *FieldError) Error() string {
	msg := "receipt: "
	if e.Field != "" {
		msg += e.Field + ": "
	}
	msg += e.Code
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause.
func (e *FieldError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrXxx) match any *FieldError carrying the same code,
// whatever its field; the Err* sentinels have no field.
func (e *FieldError) Is(target error) bool {
	t, ok := target.(*FieldError)
	if !ok {
		return false
	}
	return t.Field == "" && t.Code == e.Code
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

// Code returns the stable code of the first *FieldError in err's chain, or ""
// if there is none.
func Code(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

func ferr(field, code string, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Code: code, Err: fmt.Errorf(format, args...)}
}

func fwrap(field, code string, err error) *FieldError {
	return &FieldError{Field: field, Code: code, Err: err}
}
