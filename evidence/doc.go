// Package evidence turns TEE evidence into appraisals: it encodes and decodes the
// cmw_attestation payload (a RATS Conceptual Message Wrapper, seatrx profile),
// wraps quoters (the guest attesters of evidence/attest, or the simulator) so
// that they emit that payload, and verifies evidence through one platform
// verifier per TEE (evidence/snp, evidence/tdx) before appraising the result
// against an AppraisalPolicy (composed from the policy document by package
// policy; this layer takes its values and never reads the document).
//
// An Appraisal describes verified evidence in platform-neutral Claims
// (measurements, identifiers and collateral digests by name, trust anchor,
// simulated, debug, TCB status, the checks that could not be made), so that
// callers handle every TEE alike; its EvidenceDigest is over the evidence's
// canonical form (EvidenceDigest).
// Verify returns an Appraisal or an error, never both: a failed check is a
// *check.Error; evidence that verified but that the policy refused is an
// *AppraisalError carrying the contraindicated Appraisal and wrapping the
// *check.Error.
package evidence
