package tlsbind

import (
	"errors"
	"fmt"
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

// Code names a failure that tlsbind itself detects: the connection, the
// session, the binding or the attestation model. On the wire it is
// namespaced: "attest." + Code (see Error.ProblemCode). Failures found by
// expat, evidence or ear keep their own codes.
type Code string

// Namespace is the wire namespace of tlsbind's own codes.
const Namespace = "attest"

// tlsbind's own codes.
const (
	CodeResumed             Code = "session_resumed"     // the TLS connection resumed a session: no fresh exporter
	CodeNotOffered          Code = "cmw_not_offered"     // the request did not offer cmw_attestation
	CodeNoAttestation       Code = "no_attestation"      // the authenticator carried no (usable) cmw_attestation
	CodeModelNotAllowed     Code = "model_not_allowed"   // evidence or result model refused by configuration
	CodeTooManyAttempts     Code = "too_many_attempts"   // per-connection attestation attempts exhausted
	CodeBindingConnection   Code = "binding_connection"  // evidence bound to another connection, context or label (relay/replay)
	CodeBindingKey          Code = "binding_key"         // evidence bound to another authenticator key
	CodeBindingUnattributed Code = "binding_report_data" // REPORTDATA mismatch in a hashed layout (SHA-384 suites, cocos): no attribution
	CodeNotAttested         Code = "not_attested"        // an operation needs an attested connection
	CodeProfileMismatch     Code = "profile_mismatch"    // the peer used another interop profile than this side accepts (diagnosed)
	CodeProfileUnsupported  Code = "profile_unsupported" // the profile cannot carry this attestation (rust-ref: TDX only; cocos, rust-ref: no passport)
)

// Codes lists tlsbind's own codes, for documentation and tests.
func Codes() []Code {
	return []Code{CodeResumed, CodeNotOffered, CodeNoAttestation, CodeModelNotAllowed, CodeTooManyAttempts,
		CodeBindingConnection, CodeBindingKey, CodeBindingUnattributed, CodeNotAttested, CodeProfileMismatch, CodeProfileUnsupported}
}

// Error is a failed attestation step. Code is set when tlsbind itself
// detected the failure; an Error that only says at which step a lower
// layer's error (Err) happened has no Code and reports Err's.
type Error struct {
	Step   string
	Code   Code
	Detail string
	Err    error
}

// problemCoder is any error that carries a namespaced wire code.
type problemCoder interface{ ProblemCode() string }

// ProblemCode returns the namespaced wire code: "attest." + Code if set,
// else the code of the lower error it classifies (e.g. "expat.bad_finished",
// "snp.debug"), or "" if nothing in the chain has one (an internal failure).
func (e *Error) ProblemCode() string {
	if e.Code != "" {
		return Namespace + "." + string(e.Code)
	}
	var pc problemCoder
	if errors.As(e.Err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

func (e *Error) Error() string {
	s := "tlsbind: " + e.Step
	if e.Code != "" {
		s += ": " + Namespace + "." + string(e.Code)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func fail(step string, code Code, err error, format string, args ...any) *Error {
	return &Error{Step: step, Code: code, Detail: fmt.Sprintf(format, args...), Err: err}
}

// classify records at which step err, from a lower layer, happened; the
// error keeps its own code. An *Error already in err's chain is returned as is.
func classify(step string, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	return &Error{Step: step, Err: err}
}
