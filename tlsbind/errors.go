package tlsbind

import (
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/expat"
)

// Steps of an attestation, in the order they run; an Error names the step
// that failed so an interop tester knows where to look.
const (
	StepConnection    = "connection"    // TLS version, resumption
	StepRequest       = "request"       // Authenticator Request
	StepAuthenticator = "authenticator" // RFC 9261 validation
	StepCMW           = "cmw"           // cmw_attestation payload
	StepEvidence      = "evidence"      // signature chain, REPORTDATA, policy
	StepBinding       = "binding"       // binder vs REPORTDATA / eat_nonce
	StepResult        = "result"        // EAR issue or verify
)

// Codes of failures that tlsbind itself detects (others come from expat,
// evidence/check and evidence/ear and keep their codes).
const (
	CodeNotTLS13            = "not_tls13"
	CodeResumed             = "session_resumed"
	CodeNotOffered          = "cmw_not_offered"     // the request did not offer cmw_attestation
	CodeNoAttestation       = "no_attestation"      // the authenticator carried no cmw_attestation
	CodeModelNotAllowed     = "model_not_allowed"   // evidence or result model refused by configuration
	CodeTooManyAttempts     = "too_many_attempts"   // per-connection attestation attempts exhausted
	CodeBindingConnection   = "binding.connection"  // evidence bound to another connection, context or label (relay/replay)
	CodeBindingKey          = "binding.aik"         // evidence bound to another authenticator key
	CodeBindingUnattributed = "binding.report_data" // mismatch on a SHA-384 suite (hashed layout)
	CodeNotAttested         = "not_attested"        // an operation needs an attested connection
)

// Error is a failed attestation step. Code is stable: it becomes the problem
// type of the server's refusal.
type Error struct {
	Step   string
	Code   string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Detail == "" && e.Err != nil && CodeOf(e.Err) == e.Code {
		return fmt.Sprintf("tlsbind: %s: %v", e.Step, e.Err)
	}
	s := fmt.Sprintf("tlsbind: %s: %s", e.Step, e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(step, code string, err error, format string, args ...any) *Error {
	return &Error{Step: step, Code: code, Detail: fmt.Sprintf(format, args...), Err: err}
}

// classify wraps err from a lower layer, keeping its stable code.
func classify(step string, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	code := expatCode(err)
	if code == "" {
		code = check.Code(err)
	}
	if code == "" {
		code = "internal"
	}
	return &Error{Step: step, Code: code, Err: err}
}

// CodeOf returns the stable code of err: a tlsbind, expat or check code, or "".
func CodeOf(err error) string {
	var te *Error
	if errors.As(err, &te) {
		return te.Code
	}
	if c := expatCode(err); c != "" {
		return c
	}
	return check.Code(err)
}

func expatCode(err error) string {
	var e *expat.Error
	if errors.As(err, &e) {
		return string(e.Code)
	}
	return ""
}
