package receipt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestCheckTokenSecret(t *testing.T) {
	secret := bytes.Repeat([]byte{7}, TokenSecretSize)
	peer := sha256.Sum256([]byte("peer"))
	cnf := Hash{Alg: HashSHA256, Value: peer[:]}
	tok := ExecutionToken{ID: make([]byte, 16), Digest: SHA256(secret), Audience: "aud", NotBefore: 1000, Expires: 1300, MaxUses: 1, Cnf: &cnf}
	at := time.Unix(1100, 0)
	tests := []struct {
		name   string
		tok    func(ExecutionToken) ExecutionToken
		secret []byte
		aud    string
		now    time.Time
		peer   []byte
		code   ErrorCode
	}{
		{"ok", nil, secret, "aud", at, peer[:], ""},
		{"ok-at-nbf", nil, secret, "aud", time.Unix(1000, 0), peer[:], ""},
		{"wrong-secret", nil, bytes.Repeat([]byte{8}, 32), "aud", at, peer[:], CodeTokenMismatch},
		{"short-secret", nil, secret[:16], "aud", at, peer[:], CodeTokenMismatch},
		{"wrong-audience", nil, secret, "other", at, peer[:], CodeTokenAudience},
		{"before-nbf", nil, secret, "aud", time.Unix(999, 0), peer[:], CodeTokenNotYetValid},
		{"at-exp", nil, secret, "aud", time.Unix(1300, 0), peer[:], CodeTokenExpired},
		{"wrong-peer", nil, secret, "aud", at, make([]byte, 32), CodeTokenCnf},
		{"no-peer-hash", nil, secret, "aud", at, nil, CodeTokenCnf},
		{"unbound-token", func(x ExecutionToken) ExecutionToken { x.Cnf = nil; return x }, secret, "aud", at, nil, ""},
		{"max-uses-2", func(x ExecutionToken) ExecutionToken { x.MaxUses = 2; return x }, secret, "aud", at, peer[:], CodeBadValue},
		{"bad-id", func(x ExecutionToken) ExecutionToken { x.ID = x.ID[:3]; return x }, secret, "aud", at, peer[:], CodeBadLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk := tok
			if tc.tok != nil {
				tk = tc.tok(tok)
			}
			err := CheckTokenSecret(tk, tc.secret, tc.aud, tc.now, tc.peer)
			if Code(err) != tc.code {
				t.Fatalf("err = %v, want code %q", err, tc.code)
			}
		})
	}
	ledger := NewMemoryTokenLedger()
	if err := Redeem(tok, secret, "aud", at, peer[:], ledger); err != nil {
		t.Fatalf("first redeem: %v", err)
	}
	if err := Redeem(tok, secret, "aud", at, peer[:], ledger); !errors.Is(err, ErrTokenConsumed) {
		t.Fatalf("second redeem: %v", err)
	}
	if err := Redeem(tok, secret, "aud", at, peer[:], nil); Code(err) != CodeConfig {
		t.Fatalf("nil ledger: %v", err)
	}
}

func TestUnmarshalBundle(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	f.in.Masking = MaskSaltedDigest
	b, _ := f.issue(t)
	enc, err := b.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalBundle(enc)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if !bytes.Equal(back.Receipt, b.Receipt) || !bytes.Equal(back.Action, b.Action) || !bytes.Equal(back.Policy, b.Policy) || len(back.Salts) != 1 {
		t.Fatal("round trip lost data")
	}
	kvs := payloadKVs(t, enc)
	tests := []struct {
		name string
		data []byte
		code ErrorCode
	}{
		{"empty", nil, CodeMalformed},
		{"too-large", make([]byte, MaxBundleSize+1), CodeTooLarge},
		{"not-a-map", []byte{0x80}, CodeWrongType},
		{"missing-receipt", encodeKVs(t, dropKV(kvs, "receipt")), CodeMissingField},
		{"unknown-key", encodeKVs(t, append(kvs, kv{"zz", mustCBOR(t, 1)})), CodeUnknownField},
		{"duplicate-key", encodeKVs(t, append(kvs, kv{"policy", mustCBOR(t, []byte{1})})), CodeDuplicateKey},
		{"short-salt", encodeKVs(t, setKV(kvs, "salts", mustCBOR(t, map[string][]byte{"chip_id": {1, 2}}))), CodeBadLength},
		{"empty-salts", encodeKVs(t, setKV(kvs, "salts", []byte{0xa0})), CodeBadValue},
		{"empty-action", encodeKVs(t, setKV(kvs, "action", []byte{0x40})), CodeBadValue},
		{"oversized-action", encodeKVs(t, setKV(kvs, "action", mustCBOR(t, make([]byte, MaxActionSize+1)))), CodeTooLarge},
		{"unsorted", encodeKVs(t, []kv{kvs[1], kvs[0], kvs[2], kvs[3]}), CodeNonDeterministic},
		{"trailing", append(bytes.Clone(enc), 0), CodeTrailingData},
		{"indefinite-map", append(append([]byte{0xbf}, enc[1:]...), 0xff), CodeIndefiniteLength},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnmarshalBundle(tc.data); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestParseAction(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	enc, err := f.in.Action.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAction(enc)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if !bytes.Equal(a.Binder, f.binder) || !bytes.Equal(a.Requested, f.in.Action.Requested) {
		t.Fatal("round trip lost data")
	}
	kvs := payloadKVs(t, enc)
	tests := []struct {
		name string
		data []byte
		code ErrorCode
		// field is the expected FieldError.Field.
		field string
	}{
		{"too-large", make([]byte, MaxActionSize+1), CodeTooLarge, "action"},
		{"unknown-key", encodeKVs(t, append(kvs, kv{"extra", mustCBOR(t, 1)})), CodeUnknownField, "action.extra"},
		{"missing-binder", encodeKVs(t, dropKV(kvs, "binder")), CodeMissingField, "action.binder"},
		{"wrong-type", encodeKVs(t, setKV(kvs, "type", mustCBOR(t, "seatrx/other"))), CodeActionType, "action.type"},
		{"binder-as-text", encodeKVs(t, setKV(kvs, "binder", mustCBOR(t, "text"))), CodeWrongType, "action.binder"},
		{"hash-3-elements", encodeKVs(t, setKV(kvs, "peer_key", mustCBOR(t, []any{-16, make([]byte, 32), 1}))), CodeWrongType, "action.peer_key"},
		{"hash-wrong-len", encodeKVs(t, setKV(kvs, "server_cert", mustCBOR(t, []any{-16, make([]byte, 20)}))), CodeHashLength, "action.server_cert"},
		{"empty-binder", encodeKVs(t, setKV(kvs, "binder", []byte{0x40})), CodeBadLength, "action.binder"},
		{"requested-unsorted", encodeKVs(t, setKV(kvs, "requested", []byte{0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02})), CodeNonDeterministic, "action.requested"},
		{"tag-in-requested", encodeKVs(t, setKV(kvs, "requested", []byte{0xc1, 0x01})), CodeTagForbidden, "action"},
		{"deep-nesting", encodeKVs(t, setKV(kvs, "requested", append(bytes.Repeat([]byte{0x81}, 40), 0x01))), CodeTooLarge, "action"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAction(tc.data)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Code != tc.code || fe.Field != tc.field {
				t.Fatalf("err = %v, want %s at %s", err, tc.code, tc.field)
			}
		})
	}
}

func TestCMWRecordStrict(t *testing.T) {
	good := mustCBOR(t, CMWRecord{MediaType: EARMediaType, Value: []byte("jwt")})
	var c CMWRecord
	if err := unmarshal("t", good, &c); err != nil || c.MediaType != EARMediaType {
		t.Fatalf("good record: %v", err)
	}
	tests := []struct {
		name string
		data []byte
		code ErrorCode
	}{
		{"three-elements", mustCBOR(t, []any{EARMediaType, []byte("x"), 8}), CodeWrongType},
		{"empty-value", mustCBOR(t, []any{EARMediaType, []byte{}}), CodeMalformed},
		{"bad-media-type", mustCBOR(t, []any{"not a media type", []byte("x")}), CodeMalformed},
		{"numeric-type", mustCBOR(t, []any{264, []byte("x")}), CodeWrongType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c CMWRecord
			if err := unmarshal("hae_attestation_token", tc.data, &c); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
}
