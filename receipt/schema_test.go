package receipt

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestSchemaFromTags pins the closed maps derived from the struct tags to the
// CDDL of PROFILE.md: which keys exist and which are required.
func TestSchemaFromTags(t *testing.T) {
	tests := []struct {
		typ      reflect.Type
		required []string
		optional []string
	}{
		{reflect.TypeFor[Receipt](), []string{"profile", "receipt_id", "action_hash", "policy_hash", "approver_identities",
			"approver_signatures", "timestamp", "execution_token", "hae_masking_profile_id", "hae_attestation_token"},
			[]string{"context_snapshot", "extensions"}},
		{reflect.TypeFor[ExecutionToken](), []string{"id", "digest", "aud", "nbf", "exp", "max_uses"}, []string{"cnf"}},
		{reflect.TypeFor[Approver](), []string{"id", "kid"}, []string{"role"}},
		{reflect.TypeFor[ContextSnapshot](), []string{"tls_version", "cipher_suite", "cert_request_context", "binder", "peer_key",
			"evidence_digest", "collateral", "trust_anchors", "simulated"},
			// transport and binder_*: required in profile v2, absent in v1 (Receipt.validate).
			[]string{"sni", "transport", "binder_profile", "binder_label", "platform", "identifiers", "masked_identifiers", "mutual", "not_evaluated"}},
		{reflect.TypeFor[Collateral](), []string{"name", "digest"}, nil},
		{reflect.TypeFor[MutualResult](), []string{"platform", "evidence_digest", "status"}, nil},
		{reflect.TypeFor[Action](), []string{"type", "peer_key", "binder", "cert_request_context", "server_cert", "evidence_digest"}, []string{"requested"}},
		{reflect.TypeFor[Approval](), []string{"receipt_id", "action_hash", "policy_hash", "attestation_digest", "approver", "decision", "nonce", "iat", "exp", "aud"}, nil},
		{reflect.TypeFor[Bundle](), []string{"receipt"}, []string{"action", "policy", "salts"}},
		{reflect.TypeFor[TrustAnchorsExt](), []string{"fingerprints", "simulated"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.typ.Name(), func(t *testing.T) {
			s, ok := schemas[tc.typ]
			if !ok {
				t.Fatal("no schema derived")
			}
			var req, opt []string
			for _, f := range s.fields {
				if f.required {
					req = append(req, f.name)
				} else {
					opt = append(opt, f.name)
				}
			}
			if !slices.Equal(req, tc.required) || !slices.Equal(opt, tc.optional) {
				t.Fatalf("required %v optional %v, want %v and %v", req, opt, tc.required, tc.optional)
			}
		})
	}
	for _, leaf := range []reflect.Type{reflect.TypeFor[Hash](), reflect.TypeFor[CMWRecord]()} {
		if isObject(leaf) {
			t.Errorf("%s must be a leaf (array / own decoder), not a closed map", leaf.Name())
		}
	}
}

// An optional member that an encoder would omit must not be sent empty.
func TestOptionalMemberPresentButEmpty(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	e, err := parseEnvelope("cose", b.Receipt, MaxReceiptSize, ReceiptType, true)
	if err != nil {
		t.Fatal(err)
	}
	kvs := payloadKVs(t, e.payload)
	snap := payloadKVs(t, kvGet(kvs, "context_snapshot"))
	approvers := []any{map[string]any{"id": "urn:x", "kid": []byte{1}, "role": ""}}
	tests := []struct {
		name, field string
		payload     []byte
	}{
		{"empty-sni", "context_snapshot.sni", encodeKVs(t, setKV(kvs, "context_snapshot", encodeKVs(t, setKV(snap, "sni", mustCBOR(t, "")))))},
		{"empty-identifiers", "context_snapshot.identifiers", encodeKVs(t, setKV(kvs, "context_snapshot", encodeKVs(t, setKV(snap, "identifiers", []byte{0xa0}))))},
		{"empty-not-evaluated", "context_snapshot.not_evaluated", encodeKVs(t, setKV(kvs, "context_snapshot", encodeKVs(t, setKV(snap, "not_evaluated", []byte{0x80}))))},
		{"empty-role", "approver_identities[0].role", encodeKVs(t, setKV(kvs, "approver_identities", mustCBOR(t, approvers)))},
		{"empty-extensions", "extensions", encodeKVs(t, setKV(kvs, "extensions", []byte{0xa0}))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeReceiptPayload(tc.payload)
			fe, ok := err.(*FieldError)
			if !ok || fe.Code != CodeBadValue || fe.Field != tc.field {
				t.Fatalf("err = %v, want bad_value at %s", err, tc.field)
			}
		})
	}
}

func TestDeriveSchemaNeedsKeyNames(t *testing.T) {
	type unnamed struct {
		A string `cbor:",omitempty"`
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a field without a cbor key name was accepted")
		}
		delete(schemas, reflect.TypeFor[unnamed]())
	}()
	deriveSchema(reflect.TypeFor[unnamed]())
}

// not_evaluated came with profile v2's reader and is a v2 member: a v1
// receipt carrying it is refused as the v1 reader always refused keys it
// did not define (unknown_field naming it), while the same snapshot under
// v2 parses.
func TestNotEvaluatedIsV2Only(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, _ := f.issue(t)
	for _, tc := range []struct {
		profile string
		want    string // "" = parses
	}{{ProfileID, ""}, {ProfileIDV1, "context_snapshot.not_evaluated"}} {
		r := mustParse(t, b.Receipt)
		r.Profile = tc.profile
		if tc.profile == ProfileIDV1 {
			r.ContextSnapshot.Transport, r.ContextSnapshot.BinderProfile, r.ContextSnapshot.BinderLabel = "", "", ""
		}
		r.ContextSnapshot.NotEvaluated = []string{"revocation"}
		_, err := ParseReceipt(f.forge(t, r))
		var fe *FieldError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.profile, err)
		case tc.want != "" && (!errors.As(err, &fe) || fe.Field != tc.want || fe.Code != CodeUnknownField):
			t.Errorf("%s: %v, want unknown_field at %s", tc.profile, err, tc.want)
		}
		// Without it, the v1 snapshot is v1's and parses.
		r.ContextSnapshot.NotEvaluated = nil
		if _, err := ParseReceipt(f.forge(t, r)); err != nil {
			t.Errorf("%s without not_evaluated: %v", tc.profile, err)
		}
	}
}

// TestSnapshotNotEvaluated: the checks an appraisal could not make travel in
// the snapshot, are shown by RenderJSON, and are bounded and distinct.
func TestSnapshotNotEvaluated(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	f.in.Snapshot.NotEvaluated = []string{"tcb_status", "revocation"}
	b, _ := f.issue(t)
	r, err := ParseReceipt(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.ContextSnapshot.NotEvaluated; len(got) != 2 || got[0] != "tcb_status" || got[1] != "revocation" {
		t.Fatalf("not_evaluated %v", got)
	}
	js, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"not_evaluated": [`)) || !bytes.Contains(js, []byte(`"tcb_status"`)) {
		t.Fatalf("receipt show does not display not_evaluated:\n%s", js)
	}
	for _, tc := range []struct {
		names []string
		field string
		code  ErrorCode
	}{
		{[]string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}, "context_snapshot.not_evaluated", CodeBadLength},
		{[]string{"revocation", ""}, "context_snapshot.not_evaluated[1]", CodeBadLength},
		{[]string{strings.Repeat("x", 65)}, "context_snapshot.not_evaluated[0]", CodeBadLength},
		{[]string{"revocation", "revocation"}, "context_snapshot.not_evaluated[1]", CodeBadValue},
	} {
		f.in.Snapshot.NotEvaluated = tc.names
		_, _, err := Issue(f.issuer, f.in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Code != tc.code {
			t.Fatalf("%v: %v, want %s at %s", tc.names, err, tc.code, tc.field)
		}
	}
}
