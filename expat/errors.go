package expat

import (
	"errors"
	"fmt"
)

// Code is the stable, machine-readable name of a validation failure within
// the expat namespace. On the wire (conformance vectors, problem details) it
// is written "expat." + Code, see Error.ProblemCode; codes never change
// meaning.
type Code string

// Namespace is the wire namespace of expat's codes.
const Namespace = "expat"

// Error is a failure to build, parse or validate an exported-authenticator
// message. Code says which rule failed; Detail says what was seen.
// errors.Is(err, ErrXxx) matches on Code; errors.As gives the fields.
type Error struct {
	Code   Code
	Rule   string // the rule, with its source (RFC section or draft)
	Detail string // what was wrong in this instance
	Err    error  // underlying error, if any
}

func (e *Error) Error() string {
	s := "expat: " + string(e.Code) + ": " + e.Rule
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ProblemCode returns the namespaced wire code, e.g. "expat.bad_signature".
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, expat.ErrBadFinished) works on detailed errors.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// Alert returns the TLS alert (RFC 8446 §6) that best describes the failure,
// for callers that report failures the way a TLS stack would.
func (e *Error) Alert() uint8 { return alertFor[e.Code] }

func sentinel(code Code, rule string) *Error { return &Error{Code: code, Rule: rule} }

// with returns a copy of the sentinel carrying detail.
func (e *Error) with(format string, args ...any) *Error {
	c := *e
	c.Detail = fmt.Sprintf(format, args...)
	return &c
}

// wrap returns a copy of the sentinel carrying detail and an underlying error.
func (e *Error) wrap(err error, format string, args ...any) *Error {
	c := e.with(format, args...)
	c.Err = err
	return c
}

// The errors every caller may branch on. Each is a sentinel: returned errors
// are copies with a Detail, matched with errors.Is.
var (
	ErrDecode              = sentinel("decode_error", "message is not well-formed (RFC 8446 §3 presentation language; §6.2 decode_error)")
	ErrTrailingData        = sentinel("trailing_data", "bytes follow the end of a structure (RFC 8446 §6.2: decode_error)")
	ErrBadLength           = sentinel("bad_length", "a length field is inconsistent with the data or outside its allowed range")
	ErrTooLarge            = sentinel("too_large", "message exceeds seatrx's size limit")
	ErrUnexpectedMessage   = sentinel("unexpected_message", "wrong handshake message type or order (RFC 9261 §5.2: Certificate, CertificateVerify, Finished; §6: or a lone Finished)")
	ErrWrongDirection      = sentinel("wrong_direction", "request type does not match its sender (RFC 9261 §4: servers send CertificateRequest(13), clients send ClientCertificateRequest(17))")
	ErrMissingRequest      = sentinel("missing_request", "only servers may send spontaneous authenticators (RFC 9261 §5: clients MUST NOT send an authenticator without a preceding request)")
	ErrMissingSigAlgs      = sentinel("missing_signature_algorithms", "signature_algorithms extension MUST be present in an authenticator request (RFC 9261 §4 and §7.1, RFC 8446 §4.3.2)")
	ErrBadExtension        = sentinel("bad_extension", "extension body is malformed (RFC 8446 §4.2)")
	ErrDuplicateExtension  = sentinel("duplicate_extension", "more than one extension of the same type in one block (RFC 8446 §4.2)")
	ErrExtensionNotAllowed = sentinel("extension_not_allowed", "recognised extension in a message where it is not allowed (RFC 8446 §4.2: illegal_parameter)")
	ErrExtensionNotOffered = sentinel("extension_not_offered", "Certificate carries an extension the request (or, spontaneous, the ClientHello) did not offer (RFC 9261 §5.2.1, draft-fossati-seat-expat: unsupported_extension)")
	ErrCMWNotFirstEntry    = sentinel("cmw_not_first_entry", "cmw_attestation may appear only in the first CertificateEntry (draft-fossati-seat-expat)")
	ErrCMWOfferNotEmpty    = sentinel("cmw_offer_not_empty", "cmw_attestation in a request MUST have empty extension_data (draft-fossati-seat-expat)")
	ErrCMWMalformed        = sentinel("cmw_malformed", "cmw_attestation data must be opaque cmw_data<1..2^16-1> (draft-fossati-seat-expat)")
	ErrContextMismatch     = sentinel("context_mismatch", "Certificate certificate_request_context must equal the request's (RFC 9261 §5.2.1)")
	ErrContextReused       = sentinel("context_reused", "certificate_request_context must be unique per connection across both directions (RFC 9261 §4; §7.4: a context already validated fails)")
	ErrContextUnknown      = sentinel("context_unknown", "authenticator answers no outstanding request on this connection")
	ErrEmptyCertificate    = sentinel("empty_certificate", "a non-empty authenticator needs at least one CertificateEntry (RFC 9261 §5.2.1)")
	ErrBadCertificate      = sentinel("bad_certificate", "certificate_list entry is not a valid X.509 certificate (RFC 9261 §5.2.1: X.509 only)")
	ErrUnsupportedScheme   = sentinel("unsupported_scheme", "signature scheme not valid in a TLS 1.3 CertificateVerify (RFC 9261 §5.2.2: no RSASSA-PKCS1-v1_5) or not supported by seatrx")
	ErrSchemeNotOffered    = sentinel("scheme_not_offered", "CertificateVerify algorithm must be one the request's signature_algorithms offered (RFC 9261 §5.2.2)")
	ErrSchemeKeyMismatch   = sentinel("scheme_key_mismatch", "CertificateVerify algorithm does not match the end-entity key type")
	ErrNoCommonScheme      = sentinel("no_common_scheme", "no offered signature scheme fits the key: no authenticator may be made (RFC 9261 §5.2.2); refuse with an empty authenticator (§6)")
	ErrBadSignature        = sentinel("bad_signature", "CertificateVerify signature does not verify (RFC 9261 §5.2.2; RFC 8446 §4.4.3: decrypt_error)")
	ErrBadFinished         = sentinel("bad_finished", "Finished verify_data does not match (RFC 9261 §5.2.3; RFC 8446 §4.4.4: decrypt_error)")
	ErrEmptyAuthenticator  = sentinel("empty_authenticator", "peer sent an empty authenticator: it refused to authenticate (RFC 9261 §6; §7.4: returned as invalid)")
	ErrCertificateChain    = sentinel("certificate_chain", "the certificate chain was rejected by the chain validator (RFC 9261 §7.4)")
	ErrNotTLS13            = sentinel("not_tls13", "exported authenticators are used only on completed TLS 1.3 connections (seatrx policy)")
	ErrUnsupportedSuite    = sentinel("unsupported_cipher_suite", "cipher suite has no known authenticator hash (RFC 9261 §5.1)")
	ErrExporter            = sentinel("exporter", "TLS exporter failed")
)

var alertFor = map[Code]uint8{
	"decode_error": 50, "trailing_data": 50, "bad_length": 50, "too_large": 50, "bad_extension": 50,
	"cmw_malformed": 50, "unexpected_message": 10, "wrong_direction": 10, "missing_request": 10,
	"missing_signature_algorithms": 109, "duplicate_extension": 47, "extension_not_allowed": 47,
	"cmw_offer_not_empty": 47, "context_mismatch": 47, "context_reused": 47, "context_unknown": 47,
	"extension_not_offered": 110, "cmw_not_first_entry": 47, "empty_certificate": 42,
	"bad_certificate": 42, "unsupported_scheme": 47, "scheme_not_offered": 47,
	"scheme_key_mismatch": 47, "no_common_scheme": 40, "bad_signature": 51, "bad_finished": 51,
	"empty_authenticator": 116, "certificate_chain": 42, "not_tls13": 70, "unsupported_cipher_suite": 71,
	"exporter": 80,
}

// Codes lists every error code this package can return, for documentation and
// for conformance runners that validate vector files.
func Codes() []Code {
	out := make([]Code, 0, len(alertFor))
	for _, e := range allErrors {
		out = append(out, e.Code)
	}
	return out
}

var allErrors = []*Error{
	ErrDecode, ErrTrailingData, ErrBadLength, ErrTooLarge, ErrUnexpectedMessage, ErrWrongDirection,
	ErrMissingRequest, ErrMissingSigAlgs, ErrBadExtension, ErrDuplicateExtension, ErrExtensionNotAllowed,
	ErrExtensionNotOffered, ErrCMWNotFirstEntry, ErrCMWOfferNotEmpty, ErrCMWMalformed, ErrContextMismatch,
	ErrContextReused, ErrContextUnknown, ErrEmptyCertificate, ErrBadCertificate, ErrUnsupportedScheme,
	ErrSchemeNotOffered, ErrSchemeKeyMismatch, ErrNoCommonScheme, ErrBadSignature, ErrBadFinished,
	ErrEmptyAuthenticator, ErrCertificateChain, ErrNotTLS13, ErrUnsupportedSuite, ErrExporter,
}
