// Package expat implements RFC 9261 Exported Authenticators extended with the
// cmw_attestation extension of draft-fossati-seat-expat.
//
// It is a pure message layer: it builds and parses Authenticator Requests
// (CertificateRequest, type 13, made by a server; ClientCertificateRequest,
// type 17, made by a client) and Authenticators (Certificate, CertificateVerify,
// Finished), and validates them against every MUST of RFC 9261 and of the
// draft. It needs only a TLS 1.3 keying-material Exporter (a
// *tls.ConnectionState after the handshake, or an OfflineExporter computed from
// an exporter_master_secret) and the cipher suite, so vectors and key-log
// captures can be checked without a live connection.
//
// Every failure is an *Error carrying a stable Code (context_mismatch,
// bad_finished, ...) and a message naming the rule that was broken. Callers
// branch with errors.Is(err, ErrXxx) or errors.As; on the wire (problem
// details, conformance vectors) the code is namespaced by ProblemCode:
// "expat.bad_finished".
package expat
