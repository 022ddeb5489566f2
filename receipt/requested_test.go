package receipt

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

func nest(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func manyMembers(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"k`+strings.Repeat("x", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26))+`":1`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func manyElements(n int) string {
	return "[" + strings.TrimSuffix(strings.Repeat("0,", n), ",") + "]"
}

// The mapping of PROFILE.md §3.1, value by value: exact integers, exact
// floats in their shortest width, and refusals that name the path.
func TestRequestedFromJSON(t *testing.T) {
	tests := []struct {
		name, json string
		cbor       string // hex, when accepted
		code       ErrorCode
		path       string
	}{
		{"2^53+1 stays an integer", `9007199254740993`, "1b0020000000000001", "", ""},
		{"beyond int64 stays an integer", `12345678901234567891`, "1bab54a98ceb1f0ad3", "", ""},
		{"uint64 max", `18446744073709551615`, "1bffffffffffffffff", "", ""},
		{"-2^64 is the last negative", `-18446744073709551616`, "3bffffffffffffffff", "", ""},
		{"int64 min", `-9223372036854775808`, "3b7fffffffffffffff", "", ""},
		{"max_uses 1 is the integer 1", `{"max_uses": 1}`, "a1686d61785f7573657301", "", ""},
		{"1.0 is a float", `1.0`, "f93c00", "", ""},
		{"1 is an integer", `1`, "01", "", ""},
		{"-0 is the integer 0", `-0`, "00", "", ""},
		{"-0.0 is negative zero", `-0.0`, "f98000", "", ""},
		{"0.1 round-trips", `0.1`, "fb3fb999999999999a", "", ""},
		{"1.5 in half precision", `1.5`, "f93e00", "", ""},
		{"100000.0 in single precision", `1e5`, "fa47c35000", "", ""},
		{"trailing zeros are the same value", `2.50`, "f94100", "", ""},
		{"strings and literals", `["a", true, false, null, ""]`, "856161f5f4f660", "", ""},
		{"escapes and a surrogate pair", `"\u00e9\ud83d\ude00\n"`, "67c3a9f09f98800a", "", ""},
		{"keys in deterministic order", `{"bb": 1, "a": 2, "c": 3}`, "a3616102616303626262" + "01", "", ""},
		{"2^64 refused", `18446744073709551616`, "", CodeIntegerRange, "requested"},
		{"-2^64-1 refused", `{"x": [-18446744073709551617]}`, "", CodeIntegerRange, "requested.x[0]"},
		{"2^53+1 as a decimal is inexact", `{"amount": 9007199254740993.0}`, "", CodeInexactNumber, "requested.amount"},
		{"too many digits", `0.30000000000000001`, "", CodeInexactNumber, "requested"},
		{"1e400 overflows", `{"a": {"b": 1e400}}`, "", CodeInexactNumber, "requested.a.b"},
		{"1e-400 underflows", `1e-400`, "", CodeInexactNumber, "requested"},
		{"NaN", `{"v": NaN}`, "", CodeInexactNumber, "requested.v"},
		{"Infinity", `[Infinity]`, "", CodeInexactNumber, "requested[0]"},
		{"-Infinity", `[1, -Infinity]`, "", CodeInexactNumber, "requested[1]"},
		{"duplicate key", `{"a": 1, "b": {"c": 1, "c": 2}}`, "", CodeDuplicateKey, "requested.b.c"},
		{"odd key in path", `{"a b": {"x": {"x": 1, "x": 1}}}`, "", CodeDuplicateKey, `requested["a b"].x.x`},
		{"invalid UTF-8", "{\"k\": \"\xff\"}", "", CodeInvalidUTF8, "requested.k"},
		{"lone high surrogate", `{"k": "\ud800x"}`, "", CodeInvalidUTF8, "requested.k"},
		{"lone low surrogate", `["\udc00"]`, "", CodeInvalidUTF8, "requested[0]"},
		{"depth at the limit", nest("[", "]", MaxRequestedDepth, "1"), "", "", ""},
		{"depth over the limit", nest(`{"a":`, "}", MaxRequestedDepth+1, "1"), "", CodeTooLarge, "requested" + strings.Repeat(".a", MaxRequestedDepth)},
		{"array at the limit", manyElements(MaxRequestedArray), "", "", ""},
		{"array over the limit", `{"list": ` + manyElements(MaxRequestedArray+1) + `}`, "", CodeTooLarge, "requested.list"},
		{"map at the limit", manyMembers(MaxRequestedMap), "", "", ""},
		{"map over the limit", manyMembers(MaxRequestedMap + 1), "", CodeTooLarge, "requested"},
		{"string at the limit", `"` + strings.Repeat("s", MaxRequestedString) + `"`, "", "", ""},
		{"string over the limit", `{"s": "` + strings.Repeat("s", MaxRequestedString+1) + `"}`, "", CodeTooLarge, "requested.s"},
		{"encoding over the size limit", "[" + strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("z", 100)+`",`, 160), ",") + "]", "", CodeTooLarge, "requested"},
		{"input over the size limit", `"` + strings.Repeat(" ", MaxRequestJSON) + `"`, "", CodeTooLarge, "requested"},
		{"empty", ``, "", CodeMalformed, "requested"},
		{"trailing data", `{} {}`, "", CodeTrailingData, "requested"},
		{"leading zero", `01`, "", CodeMalformed, "requested"},
		{"bare dot", `1.`, "", CodeMalformed, "requested"},
		{"bad exponent", `1e`, "", CodeMalformed, "requested"},
		{"plus sign", `+1`, "", CodeMalformed, "requested"},
		{"single quotes", `{'a': 1}`, "", CodeMalformed, "requested"},
		{"trailing comma", `[1,]`, "", CodeMalformed, "requested[1]"},
		{"control character", "\"a\tb\"", "", CodeMalformed, "requested"},
		{"unknown escape", `"\q"`, "", CodeMalformed, "requested"},
		{"short unicode escape", `"\u12"`, "", CodeMalformed, "requested"},
		{"unterminated", `{"a": "b`, "", CodeMalformed, "requested.a"},
		{"missing colon", `{"a" 1}`, "", CodeMalformed, "requested.a"},
		{"non-string key", `{1: 2}`, "", CodeMalformed, "requested"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RequestedFromJSON([]byte(tc.json))
			if tc.code != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Code != tc.code || fe.Field != tc.path {
					t.Fatalf("got %v, want %s at %q", err, tc.code, tc.path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.cbor != "" && hex.EncodeToString(got) != tc.cbor {
				t.Fatalf("got %x, want %s", got, tc.cbor)
			}
			// Whatever is accepted is what every verifier reads back as
			// deterministic, and the CBOR path gives the same bytes.
			if err := checkDeterministicAny("requested", got, MaxActionSize); err != nil {
				t.Fatalf("verifier refuses %x: %v", got, err)
			}
			again, err := CanonicalRequested(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Fatalf("CBOR path: %x, %v", again, err)
			}
		})
	}
}

// An action whose requested is at every limit at once still fits the action
// limits every reader applies.
func TestRequestedAtLimitsFitsTheAction(t *testing.T) {
	for _, js := range []string{
		nest("[", "]", MaxRequestedDepth, "1"),
		nest(`{"a":`, "}", MaxRequestedDepth, "1"),
		"[" + strings.TrimSuffix(strings.Repeat(`"`+strings.Repeat("z", 50)+`",`, MaxRequestedArray), ",") + "]",
	} {
		req, err := RequestedFromJSON([]byte(js))
		if err != nil {
			t.Fatalf("%.40s: %v", js, err)
		}
		a := Action{Type: ActionTypeAttestedSession, PeerKey: SHA256(nil), Binder: bytes.Repeat([]byte{1}, 64),
			CertRequestContext: bytes.Repeat([]byte{2}, 255), ServerCert: SHA256(nil), EvidenceDigest: SHA256(nil), Requested: req}
		pre, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseAction(pre); err != nil {
			t.Fatalf("%.40s: the action does not parse back: %v", js, err)
		}
	}
}

func TestParseRequestJSON(t *testing.T) {
	tests := []struct {
		name, body string
		requested  string
		audience   string
		code       ErrorCode
		path       string
	}{
		{"requested only", `{"requested": {"op": 1}}`, "a1626f7001", "", "", ""},
		{"with audience", `{"audience": "https://exec.example", "requested": [1.0]}`, "81f93c00", "https://exec.example", "", ""},
		{"paths start at requested", `{"requested": {"amount": 12345678901234567891.5}}`, "", "", CodeInexactNumber, "requested.amount"},
		{"missing requested", `{"audience": "x"}`, "", "", CodeMissingField, "requested"},
		{"unknown member", `{"requested": 1, "extra": 2}`, "", "", CodeUnknownField, "request.extra"},
		{"duplicate requested", `{"requested": 1, "requested": 2}`, "", "", CodeDuplicateKey, "request.requested"},
		{"audience not a string", `{"requested": 1, "audience": 5}`, "", "", CodeWrongType, "audience"},
		{"audience over the limit", `{"requested": 1, "audience": "` + strings.Repeat("a", MaxAudience+1) + `"}`, "", "", CodeTooLarge, "audience"},
		{"audience at the limit", `{"requested": 1, "audience": "` + strings.Repeat("a", MaxAudience) + `"}`, "01", strings.Repeat("a", MaxAudience), "", ""},
		{"not an object", `[1]`, "", "", CodeMalformed, "request"},
		{"trailing", `{"requested": 1} x`, "", "", CodeTrailingData, "request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, aud, err := ParseRequestJSON([]byte(tc.body))
			if tc.code != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Code != tc.code || fe.Field != tc.path {
					t.Fatalf("got %v, want %s at %q", err, tc.code, tc.path)
				}
				return
			}
			if err != nil || hex.EncodeToString(req) != tc.requested || aud != tc.audience {
				t.Fatalf("got %x %q %v", req, aud, err)
			}
		})
	}
}

func TestParseRequestCBOR(t *testing.T) {
	enc := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	deep := any(1)
	for range MaxRequestedDepth + 1 {
		deep = []any{deep}
	}
	tests := []struct {
		name      string
		body      []byte
		requested string
		code      ErrorCode
		path      string
	}{
		{"canonicalised", mustHex("a169726571756573746564a2626262016161f93c00"), "a26161f93c0062626201", "", ""},
		{"big integers kept", enc(map[string]any{"requested": []any{uint64(12345678901234567891)}}), "811bab54a98ceb1f0ad3", "", ""},
		{"NaN refused", enc(map[string]any{"requested": map[string]any{"v": 0.0}}), "", "", ""},
		{"depth over the limit", enc(map[string]any{"requested": deep}), "", CodeTooLarge, "requested" + strings.Repeat("[0]", MaxRequestedDepth)},
		{"array over the limit", enc(map[string]any{"requested": make([]int, MaxRequestedArray+1)}), "", CodeTooLarge, "requested"},
		{"tag refused", mustHex("a169726571756573746564c11a00000001"), "", CodeTagForbidden, "request"},
		{"duplicate key", mustHex("a2617201617201"), "", CodeDuplicateKey, "request"},
		{"unknown key", enc(map[string]any{"requested": 1, "x": 2}), "", CodeUnknownField, "x"},
		{"missing requested", enc(map[string]any{"audience": "a"}), "", CodeMissingField, "requested"},
		{"audience over the limit", enc(map[string]any{"requested": 1, "audience": strings.Repeat("a", MaxAudience+1)}), "", CodeTooLarge, "audience"},
		{"not CBOR", []byte{0xff}, "", CodeMalformed, "request"},
	}
	tests[2].body = mustHex("a169726571756573746564a16176f97e00")
	tests[2].code, tests[2].path = CodeInexactNumber, "requested.v"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _, err := ParseRequestCBOR(tc.body)
			if tc.code != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Code != tc.code || fe.Field != tc.path {
					t.Fatalf("got %v, want %s at %q", err, tc.code, tc.path)
				}
				return
			}
			if err != nil || hex.EncodeToString(req) != tc.requested {
				t.Fatalf("got %x %v", req, err)
			}
		})
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzRequestedFromJSON: never a panic or an untyped error; whatever is
// accepted is deterministic CBOR within the limits, mapped identically by
// the CBOR path, and a valid UTF-8 JSON document that encoding/json reads
// as the same numbers.
func FuzzRequestedFromJSON(f *testing.F) {
	for _, s := range []string{`{"max_uses": 1}`, `9007199254740993`, `12345678901234567891`, `-0`, `1.0`, `1e400`,
		`{"a": 1, "a": 2}`, "\"\xff\"", `"\ud800"`, `[[[[1]]]]`, `{"x": [true, null, "s", 0.1, -2.5e-3]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := RequestedFromJSON(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if len(out) > MaxRequestedSize {
			t.Fatalf("%d bytes over the limit", len(out))
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8: %q", data)
		}
		if err := checkDeterministicAny("requested", out, MaxActionSize); err != nil {
			t.Fatalf("not deterministic: %v", err)
		}
		again, err := CanonicalRequested(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("CBOR path differs: %x vs %x (%v)", again, out, err)
		}
	})
}

// FuzzParseRequestCBOR: never a panic or an untyped error; the output is a
// fixed point of the CBOR path.
func FuzzParseRequestCBOR(f *testing.F) {
	f.Add(mustHex("a169726571756573746564a2626262016161f93c00"))
	f.Add(mustHex("a169726571756573746564c11a00000001"))
	f.Add(mustHex("a269726571756573746564016861756469656e63656161"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, _, err := ParseRequestCBOR(data)
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		again, err := CanonicalRequested(req)
		if err != nil || !bytes.Equal(again, req) {
			t.Fatalf("not a fixed point: %x vs %x (%v)", again, req, err)
		}
	})
}
