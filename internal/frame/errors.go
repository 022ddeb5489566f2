package frame

import "fmt"

// Code names a framing failure. On the wire it is namespaced:
// "frame." + Code (Error.ProblemCode).
type Code string

// Namespace is the wire namespace of the framing's codes.
const Namespace = "frame"

// The framing's codes.
const (
	CodeTruncated   Code = "truncated"       // the stream ended inside a frame
	CodeUnknownType Code = "unknown_type"    // a type the framing does not have (0, or 3 and 4 in cocos's)
	CodeTooLarge    Code = "too_large"       // a length over the type's limit, seen before reading the payload
	CodeEmpty       Code = "empty"           // a request, authenticator or error frame with no payload
	CodeUnexpected  Code = "unexpected_type" // a known type where the exchange does not allow it (e.g. an authenticator before any request)
)

// Codes lists the framing's codes, for documentation and tests.
func Codes() []Code {
	return []Code{CodeTruncated, CodeUnknownType, CodeTooLarge, CodeEmpty, CodeUnexpected}
}

// Error is a framing failure.
type Error struct {
	Code   Code
	Detail string
}

func (e *Error) Error() string { return "frame: " + string(e.Code) + ": " + e.Detail }

// ProblemCode returns the namespaced wire code, e.g. "frame.too_large".
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

func fail(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Unexpected is the error for a frame of type t where the exchange expects
// something else (what).
func Unexpected(t Type, what string) *Error {
	return fail(CodeUnexpected, "a %s frame where %s was expected", t, what)
}
