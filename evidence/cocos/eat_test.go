package cocos

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/google/go-sev-guest/abi"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"google.golang.org/protobuf/proto"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

func wantCheck(t *testing.T, err error, chk check.Check, field string) {
	t.Helper()
	var ce *check.Error
	if !errors.As(err, &ce) || ce.Platform != check.Cocos || ce.Check != chk || ce.Field != field {
		t.Fatalf("got %v, want cocos.%s on %q", err, chk, field)
	}
}

func p256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestEATRoundTrip(t *testing.T) {
	nonce := bytes.Repeat([]byte{0x49}, 32)
	in := &EAT{PlatformType: PlatformTDX, Nonce: nonce, RawReport: []byte("quote")}
	b, err := in.Sign(p256(t), time.Unix(1_800_000_000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0xd2, 0x84}) {
		t.Fatalf("not a tagged 4-element COSE_Sign1: % x", b[:2])
	}
	got, err := ParseEAT(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.PlatformType != PlatformTDX || !bytes.Equal(got.Nonce, nonce) || string(got.RawReport) != "quote" {
		t.Fatalf("parsed %+v", got)
	}
}

// sign1 builds a tagged COSE_Sign1 from raw parts, to break one rule at a time.
func sign1(t *testing.T, tag uint64, parts ...any) []byte {
	t.Helper()
	b, err := cbor.Marshal(cbor.Tag{Number: tag, Content: parts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func claims(t *testing.T, m map[any]any) []byte {
	t.Helper()
	b, err := cbor.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseEATRefusesMalformed(t *testing.T) {
	good := map[any]any{uint64(10): bytes.Repeat([]byte{1}, 32), "platform_type": "SNP", "raw_report": []byte{1}}
	with := func(k any, v any) map[any]any {
		m := map[any]any{}
		for a, b := range good {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	ph := claims(t, map[any]any{1: -7})
	msg := func(c map[any]any) []byte { return sign1(t, 18, ph, map[any]any{}, claims(t, c), []byte{1}) }
	if _, err := ParseEAT(msg(good)); err != nil {
		t.Fatalf("well-formed EAT refused: %v", err)
	}
	tests := []struct {
		name  string
		in    []byte
		chk   check.Check
		field string
	}{
		{"empty", nil, check.Decode, "evidence"},
		{"too large", make([]byte, MaxPayloadSize+1), check.Decode, "evidence"},
		{"not CBOR", []byte("evidence"), check.Decode, "evidence"},
		{"untagged (a bare claims map, which cocos also reads)", claims(t, good), check.Decode, "evidence"},
		{"COSE_Sign1 tag 98 (COSE_Sign)", sign1(t, 98, ph, map[any]any{}, claims(t, good), []byte{1}), check.Decode, "evidence"},
		{"three elements", sign1(t, 18, ph, map[any]any{}, claims(t, good)), check.Decode, "evidence"},
		{"protected not a map", sign1(t, 18, []byte{1}, map[any]any{}, claims(t, good), []byte{1}), check.Decode, "evidence.protected"},
		{"unprotected not a map", sign1(t, 18, ph, []byte{}, claims(t, good), []byte{1}), check.Decode, "evidence.unprotected"},
		{"detached payload", sign1(t, 18, ph, map[any]any{}, nil, []byte{1}), check.Decode, "evidence.payload"},
		{"claims not a map", sign1(t, 18, ph, map[any]any{}, []byte{1}, []byte{1}), check.Decode, "evidence.payload"},
		{"signature not bytes", sign1(t, 18, ph, map[any]any{}, claims(t, good), "sig"), check.Decode, "evidence.signature"},
		{"duplicate claim", sign1(t, 18, ph, map[any]any{}, append([]byte{0xa2, 0x0a, 0x41, 0x01}, 0x0a, 0x41, 0x02), []byte{1}), check.Decode, "evidence.payload"},
		{"nonce absent", msg(with(uint64(10), nil)), check.Decode, "evidence.claims.10"},
		{"nonce too short", msg(with(uint64(10), []byte{1})), check.Decode, "evidence.claims.10"},
		{"nonce not bytes", msg(with(uint64(10), "n")), check.Decode, "evidence.claims.10"},
		{"raw_report absent", msg(with("raw_report", nil)), check.Decode, "evidence.claims.raw_report"},
		{"raw_report too large", msg(with("raw_report", make([]byte, MaxRawReportSize+1))), check.Decode, "evidence.claims.raw_report"},
		{"platform_type absent", msg(with("platform_type", nil)), check.Decode, "evidence.claims.platform_type"},
		{"platform_type not text", msg(with("platform_type", 1)), check.Decode, "evidence.claims.platform_type"},
		{"GPU evidence", msg(with("x-cocos-gpu", map[any]any{"nonce": []byte{1}})), check.Unsupported, "evidence.claims.x-cocos-gpu"},
		{"submodules", msg(with(uint64(266), map[any]any{"gpu": []byte{1}})), check.Unsupported, "evidence.claims.266"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseEAT(tc.in)
			wantCheck(t, err, tc.chk, tc.field)
		})
	}
}

var testPKI = func() *sim.PKI {
	p, err := sim.Generate(time.Now().Add(-time.Hour))
	if err != nil {
		panic(err)
	}
	return p
}()

func verifier(t *testing.T) *evidence.Verifier {
	t.Helper()
	pol := evidence.AppraisalPolicy{ID: "cocos-test", Digest: sha256.Sum256([]byte("cocos-test")), SNP: &snp.Policy{}, TDX: &tdx.Policy{}}
	v, err := evidence.NewVerifier(evidence.Config{SNPRoots: []*snp.Roots{testPKI.SNP.Roots()}, TDXRoots: []*tdx.Roots{testPKI.TDX.Roots()}, Policy: pol})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seatrx's own evidence, carried the cocos way, is verified by seatrx's own
// verifiers after the round trip through the EAT: the protobuf report
// turns back into exactly the bytes the (simulated) AMD-SP signed.
func TestReportRoundTripVerifies(t *testing.T) {
	rd := [64]byte{1, 2, 3}
	for _, a := range []evidence.Attester{
		evidence.NewSNPAttester(testPKI.SNP.Guest(sim.SNPGuestConfig{})),
		evidence.NewSNPAttester(testPKI.SNP.Guest(sim.SNPGuestConfig{Version: 2})),
		evidence.NewSNPAttester(testPKI.SNP.Guest(sim.SNPGuestConfig{Version: 5})),
		evidence.NewTDXAttester(testPKI.TDX.Guest(sim.TDXGuestConfig{})),
	} {
		t.Run(string(a.Platform()), func(t *testing.T) {
			cmw, err := a.Attest(context.Background(), rd)
			if err != nil {
				t.Fatal(err)
			}
			d, err := evidence.Decode(cmw)
			if err != nil {
				t.Fatal(err)
			}
			e, err := NewEAT(d, bytes.Repeat([]byte{9}, 32))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := e.Sign(p256(t), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := ParseEAT(signed)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parsed.Report()
			if err != nil {
				t.Fatal(err)
			}
			if got.Platform != d.Platform || !bytes.Equal(got.Evidence, d.Evidence) {
				t.Fatalf("report changed in the round trip")
			}
			if _, err := verifier(t).VerifyRaw(context.Background(), got, evidence.VerifyOptions{Now: time.Now(), ReportData: rd}); err != nil {
				t.Fatalf("round-tripped evidence does not verify: %v", err)
			}
			other := rd
			other[0] ^= 1
			_, err = verifier(t).VerifyRaw(context.Background(), got, evidence.VerifyOptions{Now: time.Now(), ReportData: other})
			var ce *check.Error
			if !errors.As(err, &ce) || ce.Check != check.ReportData {
				t.Fatalf("REPORTDATA not checked: %v", err)
			}
		})
	}
}

// The recorded real Milan report survives the protobuf round trip byte for
// byte (go-sev-guest's ReportToProto and ReportToAbiBytes are inverse on a
// real version 2 report).
func TestRealReportRoundTrip(t *testing.T) {
	raw, err := os.ReadFile("../snp/testdata/attestation.bin")
	if err != nil {
		t.Fatal(err)
	}
	vcek, err := os.ReadFile("../snp/testdata/vcek.testcer")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := abi.ReportToProto(raw)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proto.Marshal(&spb.Attestation{Report: rep, CertificateChain: &spb.CertificateChain{VcekCert: vcek}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := (&EAT{PlatformType: PlatformSNP, RawReport: pb}).Report()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Evidence, raw) {
		t.Fatal("real report changed in the protobuf round trip")
	}
	tbl, err := snp.ParseCertTable(d.Endorsements)
	if err != nil || !bytes.Equal(tbl.VCEK, vcek) {
		t.Fatalf("certificate table: %v", err)
	}
	_, err = snp.Verify(d.Evidence, d.Endorsements, snp.VerifyOptions{Now: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Roots: snp.ProductionRoots(), SkipReportData: true})
	if err != nil {
		t.Fatalf("real report from a cocos raw_report does not verify: %v", err)
	}
}

func TestReportRefuses(t *testing.T) {
	unknown := append(protoOK(t), 0xfa, 0x07, 0x01, 0x00) // field 127, length-delimited, 1 byte
	tests := []struct {
		name  string
		eat   EAT
		chk   check.Check
		field string
	}{
		{"SNP-vTPM", EAT{PlatformType: PlatformSNPvTPM, RawReport: []byte{1}}, check.Unsupported, "evidence.claims.platform_type"},
		{"vTPM", EAT{PlatformType: PlatformVTPM, RawReport: []byte{1}}, check.Unsupported, "evidence.claims.platform_type"},
		{"Azure", EAT{PlatformType: PlatformAzure, RawReport: []byte{1}}, check.Unsupported, "evidence.claims.platform_type"},
		{"NoCC", EAT{PlatformType: PlatformNoCC, RawReport: []byte{1}}, check.Unsupported, "evidence.claims.platform_type"},
		{"unknown platform", EAT{PlatformType: "snp", RawReport: []byte{1}}, check.Format, "evidence.claims.platform_type"},
		{"SNP not a protobuf", EAT{PlatformType: PlatformSNP, RawReport: []byte{0xff, 0xff}}, check.Decode, "evidence.claims.raw_report"},
		{"SNP without a report", EAT{PlatformType: PlatformSNP, RawReport: []byte{0x12, 0x00}}, check.Decode, "evidence.claims.raw_report.report"},
		{"SNP with unknown fields", EAT{PlatformType: PlatformSNP, RawReport: unknown}, check.Decode, "evidence.claims.raw_report"},
		{"SNP report with bad sizes", EAT{PlatformType: PlatformSNP, RawReport: mustProto(t, &spb.Attestation{Report: &spb.Report{Version: 2}})}, check.Decode, "evidence.claims.raw_report.report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.eat.Report()
			wantCheck(t, err, tc.chk, tc.field)
		})
	}
}

func mustProto(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func protoOK(t testing.TB) []byte {
	raw, err := os.ReadFile("../snp/testdata/attestation.bin")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := abi.ReportToProto(raw)
	if err != nil {
		t.Fatal(err)
	}
	return mustProto(t, &spb.Attestation{Report: rep})
}
