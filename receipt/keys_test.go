package receipt

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

func testKeys(t testing.TB) (*Keys, *fixture) {
	t.Helper()
	f := newFixture(t, "ES256", 1)
	ik, err := COSEKey(f.issuer.Public())
	if err != nil {
		t.Fatal(err)
	}
	ak, err := COSEKey(f.approvers[0].Public())
	if err != nil {
		t.Fatal(err)
	}
	vk, err := COSEKey(f.earKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &Keys{Issuer: testIssuer, IssuerKey: ik, Appraiser: ak, Verifier: vk, PolicyCBOR: f.policy, PassportVerifiers: [][]byte{ak}}, f
}

func TestKeysRoundTrip(t *testing.T) {
	k, f := testKeys(t)
	enc, err := k.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeys(enc)
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	if back.Issuer != k.Issuer || !bytes.Equal(back.PolicyCBOR, k.PolicyCBOR) || len(back.PassportVerifiers) != 1 {
		t.Fatal("round trip lost data")
	}
	iss, err := back.IssuerKeys()
	if err != nil || len(iss) != 1 || iss[0].Issuer != testIssuer {
		t.Fatalf("IssuerKeys: %v %+v", err, iss)
	}
	if tp, _ := Thumbprint(iss[0].Key); !bytes.Equal(tp, f.issuer.KeyID()) {
		t.Fatal("issuer key differs")
	}
	appr, err := back.ApproverKeys()
	if err != nil || len(appr) != 1 || appr[0].ID != AppraiserID {
		t.Fatalf("ApproverKeys: %v %+v", err, appr)
	}
	ears, err := back.EARVerifierKeys()
	if err != nil || len(ears) != 2 {
		t.Fatalf("EARVerifierKeys: %v %d", err, len(ears))
	}
	// A document written in struct order by a generic encoder (as servers
	// before this version did) is not deterministic, and need not be: a keys
	// document is not signed.
	type legacy Keys
	old, err := cbor.Marshal((*legacy)(k))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseKeys(old); err != nil {
		t.Fatalf("legacy encoding: %v", err)
	}
}

func TestParseKeysRejects(t *testing.T) {
	k, _ := testKeys(t)
	enc, err := k.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	kvs := payloadKVs(t, enc)
	tests := []struct {
		name, field string
		data        []byte
		code        ErrorCode
	}{
		{"empty", "keys", nil, CodeMalformed},
		{"not-cbor", "keys", []byte{0xff}, CodeMalformed},
		{"too-large", "keys", make([]byte, MaxKeysSize+1), CodeTooLarge},
		{"not-a-map", "keys", []byte{0x80}, CodeWrongType},
		{"unknown-key", "keys.colour", encodeKVs(t, append(kvs, kv{"colour", mustCBOR(t, "blue")})), CodeUnknownField},
		{"duplicate-key", "keys", encodeKVs(t, append(kvs, kv{"issuer", mustCBOR(t, "again")})), CodeDuplicateKey},
		{"missing-issuer-key", "keys.issuer_key", encodeKVs(t, dropKV(kvs, "issuer_key")), CodeMissingField},
		{"bad-issuer-key", "keys.issuer_key", encodeKVs(t, setKV(kvs, "issuer_key", mustCBOR(t, []byte{0xa0}))), CodeMalformed},
		{"bad-passport-key", "keys.passport_verifiers[0]", encodeKVs(t, setKV(kvs, "passport_verifiers", mustCBOR(t, [][]byte{{1}}))), CodeMalformed},
		{"empty-passport-list", "keys.passport_verifiers", encodeKVs(t, setKV(kvs, "passport_verifiers", []byte{0x80})), CodeBadValue},
		{"empty-issuer", "keys.issuer", encodeKVs(t, setKV(kvs, "issuer", mustCBOR(t, ""))), CodeBadValue},
		{"policy-not-deterministic", "keys.policy", encodeKVs(t, setKV(kvs, "policy", mustCBOR(t, []byte{0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02}))), CodeNonDeterministic},
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
