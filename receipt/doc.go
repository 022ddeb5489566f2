// Package receipt implements seatrx's profile of PRE-RCT
// (draft-madaras-preauth-receipts-00): signed pre-execution authorization
// receipts issued to TLS peers whose TEE state was attested on the
// connection.
//
// A receipt is a tagged COSE_Sign1 (ES256, ES384 or Ed25519) over a closed,
// Core Deterministic CBOR map holding the ten PRE-RCT fields. action_hash
// and policy_hash commit to deterministic CBOR preimages that travel with the
// receipt in a Bundle; approver_signatures are per-approver COSE_Sign1
// approvals checked against an N-of-M policy held by the verifier;
// execution_token is the public half of a one-time capability;
// hae_attestation_token is a CMW record holding the peer's EAR.
//
// Issue builds a receipt; Verify checks one in online or audit mode and
// returns a per-check Report. The EAR inside is judged by an injected
// EARChecker (package verify wires evidence/ear in, and offers the whole
// offline verification with an issuer's keys document, Keys). Every failure
// is a *FieldError with a stable
// code (namespaced on the wire: "receipt.<code>"). PROFILE.md is the
// specification, conformance/vectors/{receipt,approval}.json the test vectors
// (run by package conformance). This package imports no other seatrx package.
package receipt
