package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/receipt"
)

// jsonActionCases are the json-action vectors (receipt/PROFILE.md §3.1):
// each value the issue of exact values names, and inputs at and over each
// documented limit.
func jsonActionCases(t *testing.T) []Case {
	base := func(op string, doc []byte, text bool) *jsonActionInputs {
		in := &jsonActionInputs{Op: op, PeerKey: bytes.Repeat([]byte{0x11}, 32), Binder: bytes.Repeat([]byte{0xb1}, 32),
			CertRequestContext: bytes.Repeat([]byte{0xc1}, 32), ServerCert: bytes.Repeat([]byte{0x22}, 32), EvidenceDigest: bytes.Repeat([]byte{0x33}, 32)}
		if text {
			s := string(doc)
			in.JSON = &s
		} else {
			in.JSONHex = doc
		}
		return in
	}
	nest := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	members := func(n int) string {
		var p []string
		for i := range n {
			p = append(p, fmt.Sprintf(`"k%02d": %d`, i, i))
		}
		return "{" + strings.Join(p, ", ") + "}"
	}
	elements := func(n int) string { return "[" + strings.TrimSuffix(strings.Repeat("7,", n), ",") + "]" }
	// 59 strings of 254 bytes and one of last bytes: the array encodes to
	// 15360 bytes (max_size) with last = 252.
	sized := func(last int) string {
		var p []string
		for range 59 {
			p = append(p, `"`+strings.Repeat("s", 254)+`"`)
		}
		return "[" + strings.Join(append(p, `"`+strings.Repeat("s", last)+`"`), ",") + "]"
	}
	type c struct {
		name, desc, op string
		doc            []byte
		text           bool
	}
	js := func(name, desc, doc string) c { return c{name, desc, "", []byte(doc), true} }
	cases := []c{
		js("integer-2-53-plus-1", "9007199254740993 (2^53+1) stays the integer, not 9007199254740992.0", `{"amount": 9007199254740993}`),
		js("integer-beyond-int64", "12345678901234567891 > 2^63 stays a major-type-0 integer", `{"big": 12345678901234567891}`),
		js("max-uses-1-is-an-integer", `"max_uses": 1 is the integer 1 (01), never 1.0`, `{"max_uses": 1}`),
		js("uint64-max", "2^64-1, the largest integer", `18446744073709551615`),
		js("negative-2-64", "-2^64, the smallest integer (major type 1, argument 2^64-1)", `-18446744073709551616`),
		js("minus-zero-integer", "-0 has no fraction: it is the integer 0", `-0`),
		js("minus-zero-float", "-0.0 is the float negative zero (f98000)", `-0.0`),
		js("one-point-zero-is-a-float", "1.0 is a float (f93c00), distinct from the integer 1", `[1.0, 1]`),
		js("exact-decimals", "0.1, 2.50 and 1e5 read back as written: double, half and single precision", `[0.1, 2.50, 1e5]`),
		js("object-key-order", "keys in Core Deterministic order, not the document's", `{"zz": 1, "a": {"c": true, "b": null}, "m": "x"}`),
		js("escapes-and-surrogate-pair", "escapes and a valid surrogate pair become UTF-8", `"\u00e9\ud83d\ude00\n"`),
		js("integer-2-64-refused", "2^64 is beyond 64 bits: refused, not a bignum", `{"n": 18446744073709551616}`),
		js("inexact-decimal-refused", "9007199254740993.0 has no exact binary64 value", `{"amount": 9007199254740993.0}`),
		js("too-many-digits-refused", "0.30000000000000001 reads back as 0.3: refused", `{"rate": 0.30000000000000001}`),
		js("overflow-1e400-refused", "1e400 overflows binary64", `{"x": [1e400]}`),
		js("underflow-1e-400-refused", "1e-400 underflows binary64", `{"x": 1e-400}`),
		js("nan-refused", "NaN is not JSON and has no exact value", `{"v": NaN}`),
		js("infinity-refused", "-Infinity is not JSON", `{"v": -Infinity}`),
		js("duplicate-key-refused", "a duplicate key, named by its path", `{"a": {"b": 1, "b": 2}}`),
		{"invalid-utf8-refused", "invalid UTF-8 in a string (given as json_hex)", "", []byte("{\"s\": \"a\xffb\"}"), false},
		js("lone-surrogate-refused", "a lone UTF-16 surrogate escape cannot be UTF-8", `{"s": "\udead"}`),
		js("trailing-data-refused", "a second document after the first", `{} []`),
		js("depth-at-limit", "15 nested arrays (max_depth)", nest(receipt.MaxRequestedDepth)),
		js("depth-over-limit", "16 nested arrays", nest(receipt.MaxRequestedDepth+1)),
		js("array-at-limit", "256 elements (max_array)", elements(receipt.MaxRequestedArray)),
		js("array-over-limit", "257 elements", `{"list": `+elements(receipt.MaxRequestedArray+1)+`}`),
		js("map-at-limit", "64 members (max_map)", members(receipt.MaxRequestedMap)),
		js("map-over-limit", "65 members", members(receipt.MaxRequestedMap+1)),
		js("string-at-limit", "a 4096-byte string (max_string)", `"`+strings.Repeat("x", receipt.MaxRequestedString)+`"`),
		js("string-over-limit", "a 4097-byte string", `{"s": "`+strings.Repeat("x", receipt.MaxRequestedString+1)+`"}`),
		js("size-at-limit", "requested encodes to exactly 15360 bytes (max_size)", sized(252)),
		js("size-over-limit", "requested encodes to 15361 bytes", sized(253)),
		js("input-over-limit", "a 65537-byte document (max_input)", `"`+strings.Repeat("i", receipt.MaxRequestJSON-1)+`"`),
		{"request-with-audience", "a whole JSON receipt request", "request", []byte(`{"requested": {"op": "deploy", "replicas": 3}, "audience": "https://executor.example"}`), true},
		{"request-audience-at-limit", "a 256-byte audience (max_audience)", "request", []byte(`{"requested": 1, "audience": "` + strings.Repeat("a", receipt.MaxAudience) + `"}`), true},
		{"request-audience-over-limit", "a 257-byte audience", "request", []byte(`{"requested": 1, "audience": "` + strings.Repeat("a", receipt.MaxAudience+1) + `"}`), true},
		{"request-unknown-member", "a request member other than requested and audience", "request", []byte(`{"requested": 1, "aud": "x"}`), true},
	}
	var out []Case
	for _, tc := range cases {
		in := base(tc.op, tc.doc, tc.text)
		var exp obj
		res, err := jsonAction(in)
		if err != nil {
			fe, ok := err.(*receipt.FieldError)
			if !ok {
				t.Fatalf("%s: %v", tc.name, err)
			}
			exp = obj{"error": fe.ProblemCode(), "path": fe.Field}
		} else {
			exp = obj{"requested": res.Requested, "action": res.Action, "action_hash": res.ActionHash}
			if res.Audience != nil {
				exp["audience"] = *res.Audience
			}
		}
		if strings.HasSuffix(tc.name, "-refused") || strings.HasSuffix(tc.name, "-over-limit") || tc.name == "request-unknown-member" {
			if err == nil {
				t.Fatalf("%s: accepted", tc.name)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out = append(out, mkCase(tc.name, tc.desc, must(structToObj(in)), exp))
	}
	return out
}

func structToObj(in *jsonActionInputs) (obj, error) {
	o := obj{"peer_key": in.PeerKey, "binder": in.Binder, "cert_request_context": in.CertRequestContext,
		"server_cert": in.ServerCert, "evidence_digest": in.EvidenceDigest}
	if in.Op != "" {
		o["op"] = in.Op
	}
	if in.JSON != nil {
		o["json"] = *in.JSON
	} else {
		o["json_hex"] = in.JSONHex
	}
	return o, nil
}

// TestJSONActionVectorsCurrent regenerates the json-action cases in memory
// and checks that the published file holds exactly them (with -update, it
// writes the file).
func TestJSONActionVectorsCurrent(t *testing.T) {
	cases := jsonActionCases(t)
	if *update {
		writeVectors(t, KindJSONAction, cases)
	}
	f, err := LoadFile("vectors/" + KindJSONAction + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != len(cases) {
		t.Fatalf("file has %d cases, generator %d: run go test ./conformance -run TestJSONActionVectorsCurrent -update", len(f.Cases), len(cases))
	}
	for i, c := range cases {
		if f.Cases[i].Name != c.Name || !bytes.Equal(compact(t, f.Cases[i].Expected), compact(t, c.Expected)) {
			t.Errorf("case %s differs from the generator's", c.Name)
		}
	}
}

func compact(t *testing.T, raw []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A json-action case with a wrong byte, a wrong code or a wrong path FAILS.
func TestJSONActionRunnerReportsMismatch(t *testing.T) {
	const in = `"inputs":{"json":%q,"peer_key":"11","binder":"b1","cert_request_context":"","server_cert":"22","evidence_digest":"33"}`
	for _, tc := range []struct{ name, json, expected string }{
		{"wrong-bytes", `1`, `{"requested":"02","action":"00","action_hash":"00"}`},
		{"wrong-code", `1.00000000000000001`, `{"error":"receipt.integer_range","path":"requested"}`},
		{"wrong-path", `{"a": NaN}`, `{"error":"receipt.inexact_number","path":"requested"}`},
		{"success-expected-error", `1`, `{"error":"receipt.inexact_number","path":"requested"}`},
	} {
		f, err := Load(strings.NewReader(`{"schema":"seatrx-vectors/v2","kind":"json-action","cases":[{"name":"` + tc.name + `","description":"",` +
			fmt.Sprintf(in, tc.json) + `,"expected":` + tc.expected + `}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if r := f.Run(); r[0].Err == nil {
			t.Errorf("%s passed, want FAIL", tc.name)
		}
	}
}
