package datagram

import "fmt"

// Code names a DTLS-transport failure. On the wire it is namespaced:
// "dtls." + Code (Error.ProblemCode).
type Code string

// Namespace is the wire namespace of the DTLS transport's codes.
const Namespace = "dtls"

// The DTLS transport's codes.
const (
	// CodeNotDTLS13: the connection is not a completed DTLS 1.3 connection.
	// DTLS 1.2's exporter (RFC 5705) takes no context, so the binder could
	// not carry the request's context: seatrx refuses it for attestation.
	CodeNotDTLS13 Code = "not_dtls13"
	// CodeResumed: the handshake used a pre-shared key (resumption, a
	// session ticket or an external PSK, where 0-RTT would also live):
	// attestation needs a full, certificate-authenticated handshake.
	CodeResumed Code = "session_resumed"
	// CodeTimeout: a message was not acknowledged, or none arrived, within
	// the step's time (Config.StepTimeout), retransmissions included.
	CodeTimeout Code = "timeout"
	// CodeTooLarge: a message over its frame type's limit (or a fragment
	// declaring such a message), refused before it is sent or assembled.
	CodeTooLarge Code = "too_large"
	// CodeMalformed: a record that is not a well-formed fragment or
	// acknowledgement (bad kind, short header, offsets outside the message,
	// overlapping fragments, a frame header that disagrees with the size).
	CodeMalformed Code = "malformed"
	// CodeClosed: the peer closed the connection in the middle of the
	// exchange.
	CodeClosed Code = "closed"
)

// Codes lists the DTLS transport's codes, for documentation and tests.
func Codes() []Code {
	return []Code{CodeNotDTLS13, CodeResumed, CodeTimeout, CodeTooLarge, CodeMalformed, CodeClosed}
}

// Error is a DTLS-transport failure.
type Error struct {
	Code   Code
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "dtls: " + string(e.Code) + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ProblemCode returns the namespaced wire code, e.g. "dtls.timeout".
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

// Timeout reports whether the failure is a timeout (net.Error style).
func (e *Error) Timeout() bool { return e.Code == CodeTimeout }

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}
