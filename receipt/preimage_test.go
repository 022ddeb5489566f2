package receipt

import (
	"strings"
	"testing"
)

// The auditor sees the preimages themselves, exact, and whether each is
// the one the receipt's hash commits to.
func TestBundlePreimages(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	req, err := RequestedFromJSON([]byte(`{"amount": 9007199254740993, "big": 12345678901234567891, "max_uses": 1, "rate": 1.0}`))
	if err != nil {
		t.Fatal(err)
	}
	f.in.Action.Requested = req
	b, _ := f.issue(t)
	r := mustParse(t, b.Receipt)
	views := b.Preimages(r)
	if len(views) != 2 || views[0].Status != PreimageMatches || views[1].Status != PreimageMatches {
		t.Fatalf("%+v", views)
	}
	for _, want := range []string{`"amount": 9007199254740993`, `"big": 12345678901234567891`, `"max_uses": 1`, `"rate": 1.0`,
		`"type": "seatrx/attested-session/v1"`, "h'" + strings.Repeat("", 0)} {
		if !strings.Contains(views[0].Diagnostic, want) {
			t.Errorf("action rendering lacks %s:\n%s", want, views[0].Diagnostic)
		}
	}
	if !strings.Contains(views[1].Diagnostic, `"trust_anchors"`) {
		t.Errorf("policy rendering:\n%s", views[1].Diagnostic)
	}
	// Another action in the bundle: shown, and marked as not matching.
	other := *b
	other.Action = append([]byte(nil), b.Action...)
	other.Action[len(other.Action)-1] ^= 1
	if v := other.Preimages(r); v[0].Status != PreimageMismatch || v[1].Status != PreimageMatches {
		t.Fatalf("tampered action: %+v", v)
	}
	other.Policy = nil
	if v := other.Preimages(r); v[1].Status != PreimageAbsent || v[1].Diagnostic != "" {
		t.Fatalf("absent policy: %+v", v[1])
	}
}

func TestRenderCBOR(t *testing.T) {
	tests := []struct {
		name, hex, want string
		code            ErrorCode
	}{
		{"big unsigned", "1bab54a98ceb1f0ad3", "12345678901234567891", ""},
		{"smallest negative", "3bffffffffffffffff", "-18446744073709551616", ""},
		{"half float one", "f93c00", "1.0", ""},
		{"negative zero", "f98000", "-0.0", ""},
		{"double", "fb3fb999999999999a", "0.1", ""},
		{"large float", "fb7e37e43c8800759c", "1.0e+300", ""},
		{"infinity", "f97c00", "Infinity", ""},
		{"bytes and text", "824201026161", `[h'0102', "a"]`, ""},
		{"int keys in encoding order", "a3010220036161f5", `{1: 2, -1: 3, "a": true}`, ""},
		{"simple and null", "82f0f6", "[simple(16), null]", ""},
		{"tag", "c11a00000001", "", CodeTagForbidden},
		{"empty", "", "", CodeMalformed},
		{"truncated", "82", "", CodeMalformed},
		{"duplicate key", "a2616101616102", "", CodeDuplicateKey},
		{"bad utf-8", "61ff", "", CodeInvalidUTF8},
		{"indefinite", "9fff", "", CodeIndefiniteLength},
		{"trailing", "0101", "", CodeTrailingData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RenderCBOR(mustHex(tc.hex))
			if tc.code != "" {
				if Code(err) != tc.code {
					t.Fatalf("got %q %v, want %s", got, err, tc.code)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q %v, want %q", got, err, tc.want)
			}
		})
	}
	if _, err := RenderCBOR(make([]byte, MaxPolicySize+1)); Code(err) != CodeTooLarge {
		t.Fatalf("over the limit: %v", err)
	}
}

// FuzzRenderCBOR: never a panic or an untyped error, and every accepted
// item renders without a Go-syntax fallback.
func FuzzRenderCBOR(f *testing.F) {
	for _, h := range []string{"1bab54a98ceb1f0ad3", "a3010220036161f5", "f93c00", "c11a00000001", "824201026161"} {
		f.Add(mustHex(h))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := RenderCBOR(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if strings.Contains(s, "map[") || strings.Contains(s, "%!") {
			t.Fatalf("Go syntax in %q", s)
		}
	})
}
