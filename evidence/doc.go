// Package evidence turns TEE evidence into appraisals: it encodes and decodes the
// cmw_attestation payload (a RATS Conceptual Message Wrapper, seatrx profile),
// wraps the platform attesters so that they emit that payload, and dispatches
// verification to the SEV-SNP and TDX verifiers before appraising the result
// against the loaded policy.
//
// Every failure is a *check.Error whose Code names the failed check.
package evidence
