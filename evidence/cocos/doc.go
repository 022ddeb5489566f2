// Package cocos reads and writes the cmw_data of the cocos interop profile:
// the JSON "payload" of ultravioletrs/cocos pkg/atls (not a CMW), the EAT
// (a COSE_Sign1 over a CBOR claims map) in its "evidence" member, and the
// platform report inside that EAT (raw_report: a go-sev-guest
// sevsnp.Attestation protobuf for SEV-SNP, a raw quote for TDX).
//
// It only parses and converts. Nothing here is trusted: the payload's
// binder members and the EAT's COSE signature are unsigned or signed by an
// unanchored key, so the relying party (tlsbind) recomputes the binder from
// its own connection and verifies the platform report with seatrx's own
// evidence verifiers (Report returns it as evidence.Decoded for that).
// Every failure is a *check.Error in the "cocos" namespace whose Field names
// the member concerned: cocos.decode (not well-formed), cocos.format
// (well-formed but not what this profile accepts) or cocos.unsupported (a
// cocos variant seatrx does not verify: SNP-vTPM, vTPM, Azure, NoCC, GPU
// evidence, attestation_results). docs/PROTOCOL.md describes the format.
package cocos
