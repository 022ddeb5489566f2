package peersuite

import "fmt"

// Code names a refusal the conformance peer itself sends (the verdicts on
// the peer's authenticators carry expat.* and attest.* codes). On the wire
// it is namespaced: "conformance." + Code.
type Code string

// Namespace is the wire namespace of the suite's own codes.
const Namespace = "conformance"

// The suite's own codes.
const (
	// CodeNotServed: an HTTP endpoint the conformance peer does not serve
	// (it issues no receipts and does not attest itself).
	CodeNotServed Code = "not_served"
	// CodeUnknownScenario: /s/NAME names no scenario.
	CodeUnknownScenario Code = "unknown_scenario"
	// CodeScenarioMismatch: a connection already running one scenario used
	// another's path.
	CodeScenarioMismatch Code = "scenario_mismatch"
	// CodeScenarioDone: the connection's scenario is over; it issues no
	// further request and takes no further authenticator.
	CodeScenarioDone Code = "scenario_done"
	// CodeAnsweredBadRequest: the attester answered, with a non-empty
	// authenticator, a request the scenario's rule says it must refuse.
	CodeAnsweredBadRequest Code = "answered_bad_request"
	// CodeUnsolicited: an authenticator that answers no outstanding request
	// (RFC 9261 §5: a client sends none unrequested).
	CodeUnsolicited Code = "unsolicited_authenticator"
)

// Codes lists the suite's own codes, for documentation and tests.
func Codes() []Code {
	return []Code{CodeNotServed, CodeUnknownScenario, CodeScenarioMismatch, CodeScenarioDone, CodeAnsweredBadRequest, CodeUnsolicited}
}

// Error is a refusal by the conformance peer itself.
type Error struct {
	Code   Code
	Detail string
}

func (e *Error) Error() string { return "peersuite: " + string(e.Code) + ": " + e.Detail }

// ProblemCode returns the namespaced wire code.
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}
