package receipt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256", "ES384"} {
		for _, mode := range []Mode{ModeOnline, ModeAudit} {
			t.Run(alg+"/"+mode.String(), func(t *testing.T) {
				f := newFixture(t, alg, 1)
				b, secret := f.issue(t)
				opts := f.online(t, 1)
				opts.Mode = mode
				rep, err := Verify(b, opts)
				if err != nil {
					t.Fatalf("Verify: %v\n%+v", err, rep.Checks)
				}
				if !rep.OK {
					t.Fatalf("report not OK: %+v", rep.Checks)
				}
				wantComplete := mode == ModeOnline
				if rep.Complete != wantComplete {
					t.Fatalf("Complete = %v, want %v: %+v", rep.Complete, wantComplete, rep.Checks)
				}
				r := rep.Receipt
				if r.Issuer != testIssuer || r.Alg != f.issuer.Algorithm() || !bytes.Equal(r.KeyID, f.issuer.KeyID()) {
					t.Fatalf("header fields: iss %q alg %d", r.Issuer, r.Alg)
				}
				if r.Timestamp != uint64(testNow.Unix()) || len(r.ReceiptID) != 16 {
					t.Fatalf("timestamp %d id %x", r.Timestamp, r.ReceiptID)
				}
				if !r.ExecutionToken.Digest.Matches(secret) {
					t.Fatal("token digest does not match the returned secret")
				}
				if bytes.Contains(b.Receipt, secret) {
					t.Fatal("receipt contains the token secret")
				}
				if got := rep.Status(CheckActionHash); got != StatusPass {
					t.Fatalf("action_hash status %q", got)
				}
			})
		}
	}
}

func TestVerifyTwiceIsReplay(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	opts := f.online(t, 1)
	if _, err := Verify(b, opts); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	rep, err := Verify(b, opts)
	if !errors.Is(err, ErrReplayed) || rep.Status(CheckReplay) != StatusFail || rep.OK {
		t.Fatalf("second Verify: err %v, replay %q", err, rep.Status(CheckReplay))
	}
}

func TestVerifyOnlineNeedsClockAndCache(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	for _, tc := range []struct {
		name string
		mut  func(*VerifyOptions)
	}{
		{"no-now", func(o *VerifyOptions) { o.Now = time.Time{} }},
		{"no-replay-cache", func(o *VerifyOptions) { o.Replay = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := f.online(t, 1)
			tc.mut(&opts)
			if _, err := Verify(b, opts); Code(err) != CodeConfig {
				t.Fatalf("err = %v, want code %s", err, CodeConfig)
			}
		})
	}
	if _, err := Verify(nil, f.online(t, 1)); Code(err) != CodeMissingField {
		t.Fatalf("nil bundle: %v", err)
	}
}

func TestTwoOfThreeWithOneBadApproval(t *testing.T) {
	f := newFixture(t, "EdDSA", 3)
	b, _ := f.issue(t)
	r := mustParse(t, b.Receipt)
	sig := append([]byte(nil), r.ApproverSignatures[2]...)
	sig[len(sig)-1] ^= 1
	r.ApproverSignatures[2] = sig
	b.Receipt = f.forge(t, r)
	rep, err := Verify(b, f.online(t, 2))
	if !errors.Is(err, ErrBadSignature) {
		t.Fatalf("err = %v, want bad_signature", err)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "approver_signatures[2]" {
		t.Fatalf("field = %v, want approver_signatures[2]", err)
	}
	if rep.Status(CheckApprovals) != StatusFail || rep.Status(CheckSignature) != StatusPass {
		t.Fatalf("statuses: %+v", rep.Checks)
	}
}

func TestPartialQuorumWithThresholdTwo(t *testing.T) {
	f := newFixture(t, "EdDSA", 3)
	f.in.Approvers = f.approvers[1:2] // one of the three approves
	b, _ := f.issue(t)
	_, err := Verify(b, f.online(t, 2))
	if !errors.Is(err, ErrApprovalsBelow) {
		t.Fatalf("err = %v, want approvals_below_threshold", err)
	}
}

func TestSaltedDigestHidesChipID(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	f.in.Masking = MaskSaltedDigest
	b, _ := f.issue(t)
	if bytes.Contains(b.Receipt, f.chipID) {
		t.Fatal("masked receipt contains the chip id")
	}
	if f.in.Snapshot.Identifiers == nil {
		t.Fatal("Issue modified the caller's snapshot")
	}
	rep, err := Verify(b, f.online(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Receipt
	if r.ContextSnapshot.Identifiers != nil || len(r.ContextSnapshot.MaskedIdentifiers) != 1 {
		t.Fatalf("snapshot identifiers %v masked %v", r.ContextSnapshot.Identifiers, r.ContextSnapshot.MaskedIdentifiers)
	}
	if err := b.CheckDisclosure(r, "chip_id", f.chipID); err != nil {
		t.Fatalf("CheckDisclosure(right value): %v", err)
	}
	tests := []struct {
		name  string
		b     *Bundle
		id    string
		value []byte
		code  ErrorCode
	}{
		{"wrong-value", b, "chip_id", []byte("not the chip"), CodeMaskMismatch},
		{"unknown-identifier", b, "ppid", f.chipID, CodeMissingField},
		{"no-salt", &Bundle{Receipt: b.Receipt}, "chip_id", f.chipID, CodeMissingField},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.b.CheckDisclosure(r, tc.id, tc.value); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	plain := newFixture(t, "EdDSA", 1)
	pb, _ := plain.issue(t)
	if !bytes.Contains(pb.Receipt, plain.chipID) {
		t.Fatal("mask:none receipt should carry the chip id in clear")
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		mut  func(*fixture)
		code ErrorCode
	}{
		{"no-time", func(f *fixture) { f.in.Now = time.Time{} }, CodeConfig},
		{"no-audience", func(f *fixture) { f.in.Audience = "" }, CodeConfig},
		{"no-approvers", func(f *fixture) { f.in.Approvers = nil }, CodeApprovalCount},
		{"issuer-approves", func(f *fixture) { f.in.Approvers = []*Signer{f.issuer} }, CodeDuplicateApprover},
		{"same-approver-twice", func(f *fixture) { f.in.Approvers = []*Signer{f.approvers[0], f.approvers[0]} }, CodeDuplicateApprover},
		{"empty-ear", func(f *fixture) { f.in.EAR = nil }, CodeBadLength},
		{"bad-hash-alg", func(f *fixture) { f.in.HashAlg = -44 }, CodeHashAlg},
		{"bad-action-type", func(f *fixture) { f.in.Action.Type = "other" }, CodeActionType},
		{"short-peer-key-hash", func(f *fixture) { f.in.Action.PeerKey.Value = f.in.Action.PeerKey.Value[:4] }, CodeHashLength},
		{"non-deterministic-policy", func(f *fixture) { f.in.PolicyCBOR = []byte{0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02} }, CodeNonDeterministic},
		{"policy-trailing-bytes", func(f *fixture) { f.in.PolicyCBOR = []byte{0x01, 0x02} }, CodeTrailingData},
		{"unknown-masking", func(f *fixture) { f.in.Masking = "urn:x" }, CodeMaskingProfile},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "EdDSA", 2)
			tc.mut(f)
			if _, _, err := Issue(f.issuer, f.in); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestES384HashAndPolicyRestriction(t *testing.T) {
	f := newFixture(t, "ES384", 1)
	f.in.HashAlg = HashSHA384
	b, _ := f.issue(t)
	r := mustParse(t, b.Receipt)
	if r.ActionHash.Alg != HashSHA384 || len(r.ActionHash.Value) != 48 {
		t.Fatalf("action hash %d/%d", r.ActionHash.Alg, len(r.ActionHash.Value))
	}
	opts := f.online(t, 1)
	if _, err := Verify(b, opts); err != nil {
		t.Fatal(err)
	}
	opts = f.online(t, 1)
	opts.Trust.HashAlgs = []int64{HashSHA256}
	if _, err := Verify(b, opts); Code(err) != CodeHashAlg {
		t.Fatalf("err = %v, want hash_alg", err)
	}
}

func TestSentinelsAndCodes(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", ferr("approver_signatures[1]", CodeHashMismatch, "x"))
	if !errors.Is(err, ErrHashMismatch) || errors.Is(err, ErrBadSignature) {
		t.Fatal("errors.Is does not match by code")
	}
	if Code(err) != CodeHashMismatch || Code(errors.New("x")) != "" {
		t.Fatal("Code")
	}
	if got := err.Error(); got != "wrapped: receipt: approver_signatures[1]: hash_mismatch: x" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestNewSignerRejectsKeys(t *testing.T) {
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]crypto.Signer{"p521": p521, "rsa": rsaKey} {
		if _, err := NewSigner(k, "x"); Code(err) != CodeAlgNotAllowed {
			t.Fatalf("%s: err = %v, want alg_not_allowed", name, err)
		}
	}
	if _, err := NewSigner(seedKey("x"), ""); Code(err) != CodeConfig {
		t.Fatalf("empty name: %v", err)
	}
}

// TestThumbprintRFC9679 checks the thumbprint against the example of
// RFC 9679 §6 (EC2 P-256 key; expected SHA-256 thumbprint).
func TestThumbprintRFC9679(t *testing.T) {
	x, _ := hex.DecodeString("65eda5a12577c2bae829437fe338701a10aaa375e1bb5b5de108de439c08551d")
	y, _ := hex.DecodeString("1e52ed75701163f7f9e40ddf9f341b3dc9ba860af7e0ca7ca7e9eecd0084d19c")
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	const want = "496bd8afadf307e5b08c64b0421bf9dc01528a344a43bda88fadd1669da253ec"
	if hex.EncodeToString(tp) != want {
		t.Fatalf("thumbprint %x, want %s", tp, want)
	}
}

func TestJSONAndDiagnose(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	rep, err := Verify(b, f.online(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	js, err := rep.Receipt.JSONWithReport(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"receipt_id", "action_hash", "policy_hash", "approver_identities", "approver_signatures",
		"timestamp", "timestamp_rfc3339", "execution_token", "hae_masking_profile_id", "hae_attestation_token", "context_snapshot", "extensions", "verification"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	// One spelling of the receipt id: lowercase hex, as the API and logs.
	if m["receipt_id"] != hex.EncodeToString(rep.Receipt.ReceiptID) || m["receipt_id_uuid"] != nil {
		t.Errorf("receipt_id = %v (uuid %v)", m["receipt_id"], m["receipt_id_uuid"])
	}
	if m["timestamp_rfc3339"] != "2026-11-01T00:00:00Z" {
		t.Errorf("timestamp_rfc3339 = %v", m["timestamp_rfc3339"])
	}
	if ah := m["action_hash"].(map[string]any); ah["alg"] != "sha-256" {
		t.Errorf("action_hash.alg = %v", ah["alg"])
	}
	d, err := Diagnose(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"18(", `"receipt_id"`, `"application/pre-rct+cbor"`} {
		if !strings.Contains(d, want) {
			t.Errorf("diagnostic lacks %s", want)
		}
	}
	if _, err := Diagnose([]byte{0xff}); Code(err) != CodeMalformed {
		t.Fatalf("Diagnose(garbage) = %v", err)
	}
}

// IssueReceipt returns exactly the receipt that parsing the signed bytes gives.
func TestIssueReceiptMatchesParse(t *testing.T) {
	f := newFixture(t, "ES256", 1)
	b, r, _, err := IssueReceipt(f.issuer, f.in)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParseReceipt(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	rj, _ := r.JSON()
	pj, _ := p.JSON()
	if string(rj) != string(pj) {
		t.Fatalf("IssueReceipt's model differs from the parsed receipt:\n%s\n%s", rj, pj)
	}
}

// Header failures are reported under the header check, structural ones
// under structure, decided by the error's type, not its field text.
func TestStructureVersusHeaderFailure(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	e, err := parseEnvelope("cose", b.Receipt, MaxReceiptSize, ReceiptType, true)
	if err != nil {
		t.Fatal(err)
	}
	wrongTyp, err := signEnvelope(f.issuer, ApprovalType, e.sub, e.payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name              string
		cose              []byte
		structure, header string
		code              ErrorCode
	}{
		{"wrong-typ", wrongTyp, StatusPass, StatusFail, CodeWrongTyp},
		{"trailing-byte", append(bytes.Clone(b.Receipt), 0), StatusFail, "", CodeTrailingData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := VerifyReceipt(tc.cose, f.online(t, 1))
			if rep.Status(CheckStructure) != tc.structure || rep.Status(CheckHeader) != tc.header || Code(err) != tc.code {
				t.Fatalf("structure %q header %q err %v", rep.Status(CheckStructure), rep.Status(CheckHeader), err)
			}
		})
	}
}
