// Package check defines the error type every evidence verifier returns when a
// check fails, so that callers (the server, the CLI, an interop tester) can
// tell which check failed without parsing strings.
//
// A failure names its namespace (the platform or format: snp, tdx, cmw, ear)
// and the check; together they form a stable dotted wire code such as
// "snp.report_data" or "tdx.debug". Codes are part of seatrx's public
// contract: they appear in problem-details responses, EAR annotations and
// conformance vectors. Callers branch on the typed fields (errors.As, then
// Platform and Check), never on the code string or the message.
package check

import (
	"errors"
	"fmt"
)

// Platform is the namespace of a check code: a TEE platform whose evidence
// is verified, or an evidence format.
type Platform string

// Namespaces of the evidence layer.
const (
	SNP Platform = "snp" // AMD SEV-SNP reports and their certificates
	TDX Platform = "tdx" // Intel TDX quotes, their certificates and collateral
	CMW Platform = "cmw" // the cmw_attestation payload (RATS CMW)
	EAR Platform = "ear" // attestation results (EAR JWTs)
	// Cocos is the cmw_data of the cocos interop profile: ultravioletrs/cocos's
	// JSON payload and the EAT inside it (evidence/cocos).
	Cocos Platform = "cocos"
)

// Check names a check; the same name means the same kind of failure on every
// platform.
type Check string

// Stable check names shared by all platforms.
const (
	// Decode: the evidence bytes could not be parsed (size, structure, version).
	Decode Check = "decode"
	// Signature: a signature over the report/quote or a certificate failed.
	Signature Check = "signature"
	// Chain: the certificate chain does not lead to a trusted root.
	Chain Check = "chain"
	// ReportData: the 64-byte REPORTDATA differs from the value the relying
	// party computed for this connection (relay/replay defence).
	ReportData Check = "report_data"
	// Debug: the TEE runs with debugging enabled and policy forbids it.
	Debug Check = "debug"
	// Measurement: the launch measurement / MRTD / RTMR is not allowed.
	Measurement Check = "measurement"
	// TCB: the TCB version or status is below policy.
	TCB Check = "tcb"
	// Policy: another policy rule failed (VMPL, guest policy bits, ...).
	Policy Check = "policy"
	// Collateral: collateral is missing, stale, revoked or inconsistent.
	Collateral Check = "collateral"
	// Time: a certificate or collateral is outside its validity window.
	Time Check = "time"
	// TrustAnchor: the evidence chains to a root that is not trusted here,
	// e.g. simulated evidence presented to a production verifier.
	TrustAnchor Check = "trust_anchor"
	// Nonce: an attestation result does not carry the expected nonce.
	Nonce Check = "nonce"
	// Format: the CMW or media type is not acceptable.
	Format Check = "format"
	// Unsupported: well-formed evidence of a variant seatrx does not verify
	// (e.g. cocos's SNP-vTPM or GPU evidence).
	Unsupported Check = "unsupported"
)

// Error reports one failed check: Platform and Check say which (the wire code
// is ProblemCode), Field names the input member concerned when there is one
// (e.g. "binder.binding"), Detail says what was wrong in words an operator
// can act on, and Err, if set, is the underlying (library) error.
type Error struct {
	Platform Platform
	Check    Check
	Field    string
	Detail   string
	Err      error
}

// Errorf returns an *Error for platform and chk with a formatted detail.
func Errorf(platform Platform, chk Check, format string, args ...any) *Error {
	return &Error{Platform: platform, Check: chk, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error for platform and chk that wraps err.
func Wrap(platform Platform, chk Check, err error, format string, args ...any) *Error {
	return &Error{Platform: platform, Check: chk, Detail: fmt.Sprintf(format, args...), Err: err}
}

// ProblemCode returns the stable wire code "<platform>.<check>", e.g.
// "snp.report_data".
func (e *Error) ProblemCode() string { return string(e.Platform) + "." + string(e.Check) }

func (e *Error) Error() string {
	s := e.ProblemCode() + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Code returns the wire code of the first *Error in err's chain, or "" if
// there is none. It is for reporting (logs, problem documents, vectors);
// decisions use errors.As and the typed fields.
func Code(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.ProblemCode()
	}
	return ""
}
