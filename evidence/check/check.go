// Package check defines the error type every evidence verifier returns when a
// check fails, so that callers (the server, the CLI, an interop tester) can
// tell which check failed without parsing strings.
//
// A check is named by a stable dotted code such as "snp.report_data" or
// "tdx.debug". Codes are part of seatrx's public contract: they appear in
// problem-details responses, EAR annotations and conformance vectors.
package check

import (
	"errors"
	"fmt"
)

// Stable check codes shared by all platforms. Platform packages prefix them
// with their platform name ("snp.", "tdx.", "ear.", "cmw.") when they report.
const (
	// Decode: the evidence bytes could not be parsed (size, structure, version).
	Decode = "decode"
	// Signature: a signature over the report/quote or a certificate failed.
	Signature = "signature"
	// Chain: the certificate chain does not lead to a trusted root.
	Chain = "chain"
	// ReportData: the 64-byte REPORTDATA differs from the value the relying
	// party computed for this connection (relay/replay defence).
	ReportData = "report_data"
	// Debug: the TEE runs with debugging enabled and policy forbids it.
	Debug = "debug"
	// Measurement: the launch measurement / MRTD / RTMR is not allowed.
	Measurement = "measurement"
	// TCB: the TCB version or status is below policy.
	TCB = "tcb"
	// Policy: another policy rule failed (VMPL, guest policy bits, ...).
	Policy = "policy"
	// Collateral: collateral is missing, stale, revoked or inconsistent.
	Collateral = "collateral"
	// Time: a certificate or collateral is outside its validity window.
	Time = "time"
	// TrustAnchor: the evidence chains to a root that is not trusted here,
	// e.g. simulated evidence presented to a production verifier.
	TrustAnchor = "trust_anchor"
	// Nonce: an attestation result does not carry the expected nonce.
	Nonce = "nonce"
	// Format: the CMW or media type is not acceptable.
	Format = "format"
)

// Error reports one failed check. Code is "<platform>.<check>", e.g.
// "snp.report_data"; Detail says what was wrong in words an operator can act
// on; Err, if set, is the underlying library error.
type Error struct {
	Code   string
	Detail string
	Err    error
}

// Errorf returns an *Error for platform and check with a formatted detail.
func Errorf(platform, chk string, format string, args ...any) *Error {
	return &Error{Code: platform + "." + chk, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error for platform and check that wraps err.
func Wrap(platform, chk string, err error, format string, args ...any) *Error {
	return &Error{Code: platform + "." + chk, Detail: fmt.Sprintf(format, args...), Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Code returns the check code of the first *Error in err's chain, or "" if
// there is none.
func Code(err error) string {
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}
