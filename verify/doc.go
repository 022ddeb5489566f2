// Package verify verifies seatrx receipts offline: a Go program that holds a
// receipt bundle and the issuer's keys document (GET /v1/keys) checks it in a
// few lines:
//
//	keys, err := receipt.ParseKeys(keysDoc)
//	...
//	rep, err := verify.Bundle(bundle, keys, verify.Options{Mode: receipt.ModeAudit})
//
// Package receipt checks the receipt itself; the EAR inside it is judged by
// evidence/ear, the same code that judges EARs on the wire. receipt does not
// import evidence: the EAR check is injected as a receipt.EARChecker, built
// here (NewEARChecker). Trust decisions (which roots, approvers, EAR signers
// and time windows) come from Options and the verifier's own policy, never
// from the receipt.
package verify
