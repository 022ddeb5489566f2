// Package credential issues X.509-SVIDs (the SPIFFE X509-SVID standard) to
// workloads that attested over a seat-expat connection, and reads what it
// issues: a leaf certificate for exactly the attested key, naming the
// workload by one SPIFFE ID URI SAN and carrying an attestation summary
// extension (OIDAttestationSummary); the workload CA's self-signed
// certificate; the trust bundle as a SPIFFE bundle (JWKS) and as PEM; and
// the optional PKCS#10 request a workload may send.
//
// It decides nothing about who gets which identity (the policy's workload
// mapping does) and keeps no keys (the key directory's workload-ca role
// does). SPIFFE IDs and SVIDs are parsed and verified with go-spiffe, never
// here.
package credential
