package credential

import "fmt"

// Code names a credential refusal. On the wire it is namespaced:
// "credential." + Code.
type Code string

// Namespace is the wire namespace of the credential codes.
const Namespace = "credential"

// The credential codes. The server sends each with the HTTP status noted.
const (
	// CodeNoWorkloadIdentity: the attested workload's reference values map
	// to no workload name in the policy (403); there is no default name.
	CodeNoWorkloadIdentity Code = "no_workload_identity"
	// CodeNotConfigured: the server's policy has no credentials section (403).
	CodeNotConfigured Code = "not_configured"
	// CodeAttestationUsed: this attestation already has its credential;
	// renew by re-attesting on the connection (403).
	CodeAttestationUsed Code = "attestation_used"
	// CodeBadCSR: the request body is not one DER PKCS#10 request within
	// MaxCSRSize with a valid self-signature, or has the wrong media type (400).
	CodeBadCSR Code = "bad_csr"
	// CodeCSRKeyMismatch: the CSR carries another key than the one the
	// connection attested (400).
	CodeCSRKeyMismatch Code = "csr_key_mismatch"
	// CodeCSRIdentity: the CSR asks for a URI SAN other than the SPIFFE ID
	// the policy gives this workload (400).
	CodeCSRIdentity Code = "csr_identity"
	// CodeBadSVID: a client certificate presented over mTLS is not a valid
	// X.509-SVID of this server's trust domain (any longer) (403).
	CodeBadSVID Code = "bad_svid"
	// CodeBadSummary: an attestation summary extension that does not decode
	// (readers of SVIDs; never sent by the server).
	CodeBadSummary Code = "bad_summary"
)

// Codes lists every credential code (documentation is checked against it).
var Codes = []Code{CodeNoWorkloadIdentity, CodeNotConfigured, CodeAttestationUsed, CodeBadCSR, CodeCSRKeyMismatch, CodeCSRIdentity, CodeBadSVID, CodeBadSummary}

// Error is a credential refusal: its code, the field or part concerned, and
// what is wrong.
type Error struct {
	Code   Code
	Field  string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	s := "credential: " + string(e.Code)
	if e.Field != "" {
		s += ": " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ProblemCode returns the namespaced wire code, e.g.
// "credential.no_workload_identity".
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

func errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Detail: fmt.Sprintf(format, args...)}
}
