package authz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/seatrx/seatrx/receipt"
)

var (
	testNow     = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	testExpires = testNow.Add(time.Hour)
	testID      = bytes.Repeat([]byte{0x42}, 16)
)

func testRecord() *Record {
	return &Record{
		Action: []byte{0xa0}, PolicyID: "p", PolicyHash: receipt.SHA256([]byte("policy")), EAR: []byte("ear.jwt.sig"),
		Issuer: "urn:seatrx:issuer:test", Audience: "urn:seatrx:issuer:test", TokenDigest: bytes.Repeat([]byte{7}, 32),
		Rule: "r", Appraiser: "appraiser", Approvers: []Approver{{ID: "alice", Role: "cfo", Kid: []byte{1}}, {ID: "bob", Kid: []byte{2}}},
	}
}

func signer(t testing.TB, name string) *receipt.Signer {
	t.Helper()
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, err := receipt.NewSigner(k, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// statement signs alice's decision on testRecord, altered by mod.
func statement(t testing.TB, s *receipt.Signer, decision string, mod func(*receipt.Approval)) []byte {
	t.Helper()
	rec := testRecord()
	st, err := NewStatement(testID, HashesOf(rec, []byte("policy")), s.Name(), decision, rec.Issuer, testNow.Unix(), testExpires.Unix())
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(st)
	}
	b, err := receipt.SignDecision(s, st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	rec := testRecord()
	b, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != RecordVersion || got.Approver("alice").Role != "cfo" || got.Approver("carol") != nil || !bytes.Equal(got.TokenDigest, rec.TokenDigest) {
		t.Fatalf("round trip: %+v", got)
	}
	bad := testRecord()
	bad.EAR = nil
	b2, _ := bad.Encode()
	for name, data := range map[string][]byte{"garbage": {0xff}, "no EAR": b2, "trailing": append(bytes.Clone(b), 0)} {
		if _, err := DecodeRecord(data); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	v2 := bytes.Replace(b, []byte{0x61, 'v', 0x01}, []byte{0x61, 'v', 0x02}, 1)
	if _, err := DecodeRecord(v2); err == nil {
		t.Fatal("a record of another version was read")
	}
}

// Malformed decision bodies are refused as malformed_approval, naming the
// field and the receipt rule; approve and deny parse.
func TestParseApproval(t *testing.T) {
	s := signer(t, "alice")
	good := statement(t, s, receipt.DecisionApprove, nil)
	deny := statement(t, s, receipt.DecisionDeny, nil)
	for _, b := range [][]byte{good, deny} {
		if sa, err := ParseApproval(b); err != nil || sa.Approver != "alice" {
			t.Fatalf("parse: %v", err)
		}
	}
	q, _ := receipt.SignApproverQuery(s, &receipt.ApproverQuery{Approver: "alice", Audience: "x", Nonce: make([]byte, 16)})
	for _, tc := range []struct {
		name, field, rule string
		body              []byte
	}{
		{"empty", "approval", "receipt.malformed", nil},
		{"untagged", "approval", "receipt.untagged", good[1:]},
		{"trailing", "approval", "receipt.trailing_data", append(bytes.Clone(good), 0)},
		{"a query", "approval.protected.typ", "receipt.wrong_typ", q},
		{"over the limit", "", "", make([]byte, MaxApprovalBody+1)},
		{"bit flip in the payload", "", "", flipPayload(good)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseApproval(tc.body)
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeMalformed || e.ProblemCode() != "authz.malformed_approval" {
				t.Fatalf("err = %v", err)
			}
			if tc.rule != "" && (e.Detail != tc.rule || e.Field != tc.field) {
				t.Fatalf("field %q rule %q, want %q %q", e.Field, e.Detail, tc.field, tc.rule)
			}
		})
	}
}

// flipPayload changes one letter of the first "approve" in the signed
// payload (the key "approver"): still well-formed CBOR, but a statement
// with a key the profile does not know.
func flipPayload(b []byte) []byte {
	out := bytes.Clone(b)
	i := bytes.Index(out, []byte("approve"))
	out[i+6] = 'f'
	return out
}

// A decision binds exactly one authorization, its hashes, the issuer, and
// times that cover the wait.
func TestCheckBinding(t *testing.T) {
	s := signer(t, "alice")
	rec := testRecord()
	h := HashesOf(rec, []byte("policy"))
	for _, tc := range []struct {
		name  string
		mod   func(*receipt.Approval)
		code  Code
		field string
	}{
		{"ok", nil, "", ""},
		{"iat now", func(a *receipt.Approval) { a.IssuedAt = uint64(testNow.Unix()) }, "", ""},
		{"exp beyond expiry", func(a *receipt.Approval) { a.Expires += 3600 }, "", ""},
		{"other id", func(a *receipt.Approval) { a.ReceiptID = make([]byte, 16) }, CodeWrongPayload, "payload.receipt_id"},
		{"other action", func(a *receipt.Approval) { a.ActionHash = receipt.SHA256([]byte("x")) }, CodeWrongPayload, "payload.action_hash"},
		{"action as SHA-384", func(a *receipt.Approval) { a.ActionHash, _ = receipt.ComputeHash(receipt.HashSHA384, rec.Action) }, CodeWrongPayload, "payload.action_hash"},
		{"other policy", func(a *receipt.Approval) { a.PolicyHash = receipt.SHA256([]byte("x")) }, CodeWrongPayload, "payload.policy_hash"},
		{"other attestation", func(a *receipt.Approval) { a.AttestationDigest = receipt.SHA256([]byte("x")) }, CodeWrongPayload, "payload.attestation_digest"},
		{"other issuer", func(a *receipt.Approval) { a.Audience = "urn:other" }, CodeWrongPayload, "payload.aud"},
		{"iat in the future", func(a *receipt.Approval) { a.IssuedAt = uint64(testNow.Unix() + 1) }, CodeApprovalTime, "payload.iat"},
		{"exp before expiry", func(a *receipt.Approval) { a.Expires = uint64(testExpires.Unix() - 1) }, CodeApprovalTime, "payload.exp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sa, err := ParseApproval(statement(t, s, receipt.DecisionApprove, tc.mod))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckBinding(sa, testID, rec, h, testNow, testExpires)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("err = %v, want %s at %s", err, tc.code, tc.field)
			}
		})
	}
	if _, err := NewStatement(testID, h, "alice", receipt.DecisionApprove, "aud", 10, 10); err == nil {
		t.Fatal("a statement for an expired authorization")
	}
}

func TestCodesDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Codes() {
		pc := (&Error{Code: c}).ProblemCode()
		if seen[pc] || pc != "authz."+string(c) {
			t.Fatalf("code %q: %q", c, pc)
		}
		seen[pc] = true
	}
	if len(seen) != 18 {
		t.Fatalf("%d codes", len(seen))
	}
}

// FuzzParseApproval: the parser of POST /v1/authorizations/{id}/approvals
// either refuses with malformed_approval or returns a decision that is
// valid, approve or deny, naming an approver.
func FuzzParseApproval(f *testing.F) {
	s := signer(f, "alice")
	f.Add(statement(f, s, receipt.DecisionApprove, nil))
	f.Add(statement(f, s, receipt.DecisionDeny, nil))
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40})
	f.Fuzz(func(t *testing.T, body []byte) {
		sa, err := ParseApproval(body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeMalformed {
				t.Fatalf("untyped or wrong refusal: %v", err)
			}
			return
		}
		if (sa.Decision != receipt.DecisionApprove && sa.Decision != receipt.DecisionDeny) || sa.Approver == "" || len(sa.ReceiptID) != 16 || len(sa.Nonce) != 16 || len(sa.KeyID) == 0 {
			t.Fatalf("accepted %+v", sa)
		}
	})
}
