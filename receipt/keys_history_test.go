package receipt

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// historyKeys is a keys document with a history: the fixture's issuer key
// retired at testNow-1h in favour of a second key, its appraiser and EAR
// verifier keys current.
func historyKeys(t testing.TB) (*Keys, *fixture, *Signer) {
	t.Helper()
	f := newFixture(t, "EdDSA", 1)
	second := mustSigner(t, seedKey("issuer-2"), testIssuer)
	mk := func(role string, pub any, nb, na int64) KeyEntry {
		ck, err := COSEKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		kid, err := Thumbprint(pub)
		if err != nil {
			t.Fatal(err)
		}
		e := KeyEntry{Role: role, Kid: kid, Key: ck, NotBefore: uint64(nb)}
		if na != 0 {
			e.NotAfter = uint64(na)
		}
		return e
	}
	t0 := testNow.Add(-24 * time.Hour).Unix()
	rot := testNow.Add(-time.Hour).Unix()
	k := &Keys{Issuer: testIssuer, PolicyCBOR: f.policy, History: []KeyEntry{
		mk(RoleIssuer, f.issuer.Public(), t0, rot),
		mk(RoleIssuer, second.Public(), rot, 0),
		mk(RoleAppraiser, f.approvers[0].Public(), t0, 0),
		mk(RoleEARVerifier, f.earKey.Public(), t0, 0),
	}}
	return k, f, second
}

func TestKeysHistoryRoundTripAndWindows(t *testing.T) {
	k, f, second := historyKeys(t)
	enc, err := k.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeys(enc)
	if err != nil {
		t.Fatal(err)
	}
	iss, err := back.IssuerKeys()
	if err != nil || len(iss) != 2 {
		t.Fatalf("IssuerKeys: %v %d", err, len(iss))
	}
	if iss[0].NotAfter.Unix() != testNow.Add(-time.Hour).Unix() || iss[1].NotBefore != iss[0].NotAfter || !iss[1].NotAfter.IsZero() || iss[0].Issuer != testIssuer {
		t.Fatalf("windows: %+v", iss)
	}
	if kid, _ := iss[1].Kid(); string(kid) != string(second.KeyID()) {
		t.Fatal("second key differs")
	}
	// The first receipt, stamped at testNow after key 1's retirement and
	// signed with key 1, is refused in audit mode; key 2's passes.
	trust := f.trust(t, 1)
	trust.Issuers = iss
	b, _ := f.issue(t)
	if _, err := Verify(b, VerifyOptions{Mode: ModeAudit, Trust: trust}); !errors.Is(err, ErrOutsideKeyValidity) {
		t.Fatalf("retired key after its window: %v", err)
	}
	b2, _, err := Issue(second, f.in)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(b2, VerifyOptions{Mode: ModeAudit, Trust: trust})
	if err != nil || !rep.OK {
		t.Fatalf("current key: %v", err)
	}
	// The report names every key relied on, with kid and SPKI fingerprint.
	if len(rep.Keys) != 2 || rep.Keys[0].Role != "issuer" || rep.Keys[1].Role != "approver" {
		t.Fatalf("keys used: %+v", rep.Keys)
	}
	der, _ := x509.MarshalPKIXPublicKey(second.Public())
	sum := sha256.Sum256(der)
	if rep.Keys[0].Kid != hex.EncodeToString(second.KeyID()) || rep.Keys[0].SPKISHA256 != hex.EncodeToString(sum[:]) ||
		rep.Keys[0].NotBefore != "2026-10-31T23:00:00Z" || rep.Keys[0].NotAfter != "" {
		t.Fatalf("issuer key use: %+v", rep.Keys[0])
	}
	// Stamped inside key 1's window, key 1 passes.
	f.in.Now = testNow.Add(-2 * time.Hour)
	b1, _ := f.issue(t)
	if _, err := Verify(b1, VerifyOptions{Mode: ModeAudit, Trust: trust}); err != nil {
		t.Fatalf("retired key inside its window: %v", err)
	}
}

func TestKeysHistoryRejects(t *testing.T) {
	k, _, _ := historyKeys(t)
	mut := func(f func(k *Keys)) []byte {
		c := *k
		c.History = append([]KeyEntry(nil), k.History...)
		f(&c)
		b, err := marshal((*keysWire)(&c))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name, field string
		data        []byte
		code        ErrorCode
	}{
		{"unknown-role", "keys.keys[0].role", mut(func(k *Keys) { k.History[0].Role = "root" }), CodeBadValue},
		{"kid-not-thumbprint", "keys.keys[1].kid", mut(func(k *Keys) { k.History[1].Kid = k.History[0].Kid }), CodeBadValue},
		{"same-key-twice", "keys.keys[4].kid", mut(func(k *Keys) { k.History = append(k.History, k.History[0]) }), CodeBadValue},
		{"window-backwards", "keys.keys[0].not_after", mut(func(k *Keys) { k.History[0].NotAfter = k.History[0].NotBefore - 1 }), CodeBadValue},
		{"two-current", "keys.keys", mut(func(k *Keys) { k.History[0].NotAfter = 0 }), CodeBadValue},
		{"role-missing", "keys.keys", mut(func(k *Keys) { k.History = k.History[:3] }), CodeMissingField},
		{"bad-cose-key", "keys.keys[2].key", mut(func(k *Keys) { k.History[2].Key = []byte{0xa0} }), CodeMalformed},
		{"history-and-first-form", "keys.keys", mut(func(k *Keys) { k.IssuerKey = k.History[0].Key }), CodeBadValue},
		{"beyond-9999", "keys.keys[1]", mut(func(k *Keys) { k.History[1].NotAfter = maxUnix + 1 }), CodeBadValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys(tc.data)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Code != tc.code || fe.Field != tc.field {
				t.Fatalf("err = %v, want %s at %s", err, tc.code, tc.field)
			}
		})
	}
}

func TestMergeKeys(t *testing.T) {
	k, _, _ := historyKeys(t)
	// An older document: key 1 still current, key 2 unknown.
	old := *k
	old.History = []KeyEntry{k.History[0], k.History[2], k.History[3]}
	old.History[0].NotAfter = 0
	m, err := MergeKeys(&old, k)
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := m.IssuerKeys()
	if len(iss) != 2 || iss[0].NotAfter.IsZero() {
		t.Fatalf("merged: %+v", iss)
	}
	// A first-form document of the same keys merges in too.
	first := &Keys{Issuer: k.Issuer, PolicyCBOR: k.PolicyCBOR, IssuerKey: k.History[0].Key, Appraiser: k.History[2].Key, Verifier: k.History[3].Key}
	if _, err := MergeKeys(first, k); err != nil {
		t.Fatalf("first form: %v", err)
	}
	other := *k
	other.Issuer = "https://other.example"
	if _, err := MergeKeys(k, &other); Code(err) != CodeIssuerMismatch {
		t.Fatalf("two issuers: %v", err)
	}
	conflict := *k
	conflict.History = append([]KeyEntry(nil), k.History...)
	conflict.History[0].NotAfter++
	if _, err := MergeKeys(k, &conflict); Code(err) != CodeBadValue {
		t.Fatalf("two retirements: %v", err)
	}
	if _, err := MergeKeys(); Code(err) != CodeMissingField {
		t.Fatalf("none: %v", err)
	}
}

// A one-shot online verifier says it could not judge replay.
func TestVerifyNoReplayIsSkipped(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	opts := f.online(t, 1)
	opts.Replay, opts.NoReplay = nil, true
	rep, err := Verify(b, opts)
	if err != nil || rep.Status(CheckReplay) != StatusSkipped || rep.Complete {
		t.Fatalf("%v %q complete=%v", err, rep.Status(CheckReplay), rep.Complete)
	}
}
