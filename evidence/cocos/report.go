package cocos

import (
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/snp"
)

const reportField = "evidence.claims." + claimReport

// Report returns the platform evidence inside e in the form seatrx's
// verifiers take (evidence.Verifier.VerifyRaw): for platform_type "SNP" the
// go-sev-guest sevsnp.Attestation protobuf is turned back into the
// 1184-byte ABI report the AMD-SP signed and a GHCB certificate table of
// its VCEK/VLEK, ASK and ARK (ASK and ARK are not trusted by the verifier,
// which takes roots only from its configuration); for "TDX" raw_report is
// the quote itself. SNP-vTPM, vTPM, Azure and NoCC are refused as
// cocos.unsupported; any other platform_type as cocos.format.
// platform_type only selects the parser: a lie makes parsing or
// verification fail.
func (e *EAT) Report() (*evidence.Decoded, error) {
	switch e.PlatformType {
	case PlatformSNP:
		return snpReport(e.RawReport)
	case PlatformTDX:
		return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: e.RawReport}, nil
	case PlatformSNPvTPM, PlatformVTPM, PlatformAzure, PlatformNoCC:
		return nil, fieldErr(check.Unsupported, "evidence.claims."+claimPlatform, "%q evidence is not supported (seatrx verifies cocos SNP and TDX evidence only)", e.PlatformType)
	}
	return nil, fieldErr(check.Format, "evidence.claims."+claimPlatform, "unknown platform type %q", e.PlatformType)
}

func snpReport(raw []byte) (*evidence.Decoded, error) {
	var att spb.Attestation
	if err := (proto.UnmarshalOptions{RecursionLimit: 8}).Unmarshal(raw, &att); err != nil {
		return nil, &check.Error{Platform: check.Cocos, Check: check.Decode, Field: reportField, Detail: "not a sevsnp.Attestation protobuf", Err: err}
	}
	if att.GetReport() == nil {
		return nil, fieldErr(check.Decode, reportField+".report", "absent")
	}
	type part struct {
		name string
		m    protoreflect.ProtoMessage
	}
	parts := []part{{"", &att}, {".report", att.GetReport()}}
	if c := att.GetCertificateChain(); c != nil {
		parts = append(parts, part{".certificate_chain", c})
	}
	for _, p := range parts {
		if len(p.m.ProtoReflect().GetUnknown()) > 0 {
			return nil, fieldErr(check.Decode, reportField+p.name, "fields unknown to go-sev-guest v0.15.0 (a newer report format cannot be turned back into the signed bytes)")
		}
	}
	report, err := abi.ReportToAbiBytes(att.GetReport())
	if err != nil {
		return nil, &check.Error{Platform: check.Cocos, Check: check.Decode, Field: reportField + ".report", Detail: "not a valid SEV-SNP report", Err: err}
	}
	table := &abi.CertTable{}
	c := att.GetCertificateChain()
	for _, ent := range []struct {
		guid string
		der  []byte
	}{{abi.VcekGUID, c.GetVcekCert()}, {abi.VlekGUID, c.GetVlekCert()}, {abi.AskGUID, c.GetAskCert()}, {abi.ArkGUID, c.GetArkCert()}} {
		if len(ent.der) > 0 {
			table.Entries = append(table.Entries, abi.CertTableEntry{GUID: uuid.MustParse(ent.guid), RawCert: ent.der})
		}
	}
	return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP, Evidence: report, Endorsements: table.Marshal()}, nil
}

// NewEAT returns the EAT claims cocos's attestation service would make for
// d (seatrx's own evidence: an SNP report and its certificate table, or a
// TDX quote), with nonce as eat_nonce (cocos: SHA-256 of the binder's
// exported value). SNP evidence becomes a deterministic sevsnp.Attestation
// protobuf {report, certificate_chain}; the optional product member is left
// out (the verifier takes the product line from the report or the VCEK).
func NewEAT(d *evidence.Decoded, nonce []byte) (*EAT, error) {
	switch {
	case d == nil || d.Kind != evidence.KindEvidence:
		return nil, fieldErr(check.Format, "evidence", "only platform evidence goes into a cocos EAT")
	case d.Platform == evidence.PlatformTDX:
		return &EAT{PlatformType: PlatformTDX, Nonce: nonce, RawReport: d.Evidence}, nil
	case d.Platform != evidence.PlatformSNP:
		return nil, fieldErr(check.Format, "evidence", "no cocos platform type for %q evidence", d.Platform)
	}
	rep, err := abi.ReportToProto(d.Evidence)
	if err != nil {
		return nil, &check.Error{Platform: check.Cocos, Check: check.Decode, Field: reportField + ".report", Detail: "SEV-SNP report", Err: err}
	}
	t, err := snp.ParseCertTable(d.Endorsements)
	if err != nil {
		return nil, err
	}
	att := &spb.Attestation{Report: rep, CertificateChain: &spb.CertificateChain{VcekCert: t.VCEK, VlekCert: t.VLEK, AskCert: t.ASK, ArkCert: t.ARK}}
	raw, err := proto.MarshalOptions{Deterministic: true}.Marshal(att)
	if err != nil {
		return nil, &check.Error{Platform: check.Cocos, Check: check.Decode, Field: reportField, Detail: "encode sevsnp.Attestation", Err: err}
	}
	if len(raw) > MaxRawReportSize {
		return nil, fieldErr(check.Decode, reportField, "%d bytes exceeds %d", len(raw), MaxRawReportSize)
	}
	return &EAT{PlatformType: PlatformSNP, Nonce: nonce, RawReport: raw}, nil
}
