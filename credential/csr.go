package credential

import (
	"crypto"
	"crypto/x509"
	"slices"
)

// MaxCSRSize bounds a PKCS#10 request body, checked before parsing: a CSR
// for one EC or Ed25519 key is a few hundred bytes.
const MaxCSRSize = 8 << 10

// MediaTypeCSR is the media type of a CSR body (RFC 5967: DER PKCS#10).
const MediaTypeCSR = "application/pkcs10"

// ParseCSR reads one DER PKCS#10 certification request (RFC 2986) of at
// most MaxCSRSize bytes, with nothing after it, and checks its
// self-signature: the proof that whoever made it holds the key. Errors are
// *Error with CodeBadCSR.
func ParseCSR(der []byte) (*x509.CertificateRequest, error) {
	if len(der) == 0 {
		return nil, errorf(CodeBadCSR, "body", "empty; send no body at all to use the attested key without a CSR")
	}
	if len(der) > MaxCSRSize {
		return nil, errorf(CodeBadCSR, "body", "%d bytes, limit %d", len(der), MaxCSRSize)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, &Error{Code: CodeBadCSR, Field: "body", Detail: "not a DER PKCS#10 request: " + err.Error(), Err: err}
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, &Error{Code: CodeBadCSR, Field: "signature", Detail: "the request's self-signature does not verify: " + err.Error(), Err: err}
	}
	return csr, nil
}

// CheckCSR checks that csr asks for nothing the connection did not prove:
// its key must be attested (the key the authenticator's CertificateVerify
// proved), and any URI SAN it names must be exactly spiffeID. Its subject
// and other names are ignored: the SVID's contents come from the policy.
func CheckCSR(csr *x509.CertificateRequest, attested crypto.PublicKey, spiffeID string) error {
	eq, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !eq.Equal(attested) {
		return errorf(CodeCSRKeyMismatch, "subjectPKInfo", "the CSR's key is not the key this connection attested; request the credential for the attested key (or send no CSR)")
	}
	if len(csr.URIs) > 0 {
		uris := make([]string, len(csr.URIs))
		for i, u := range csr.URIs {
			uris[i] = u.String()
		}
		if !slices.Equal(uris, []string{spiffeID}) {
			return errorf(CodeCSRIdentity, "subjectAltName", "the CSR asks for %v; the policy gives this workload %s", uris, spiffeID)
		}
	}
	return nil
}
