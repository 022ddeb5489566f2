package evidence

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/cmw"

	"github.com/seatrx/seatrx/evidence/check"
)

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

// mustCBOR encodes v deterministically, as the decoder requires of valid input.
func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := detEM.Marshal(v)
	if err != nil {
		t.Fatalf("cbor.Marshal: %v", err)
	}
	return b
}

// wantCheck asserts that err is a *check.Error with code and a detail containing sub.
func wantCheck(t *testing.T, err error, code, sub string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s containing %q", code, sub)
	}
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
	if !strings.Contains(err.Error(), sub) {
		t.Fatalf("error %q does not contain %q", err.Error(), sub)
	}
}

func TestRoundTrip(t *testing.T) {
	report, table := fill(1184, 0x11), fill(3000, 0x22)
	quote, coll := fill(5000, 0x33), []byte(`{"tcb_info":{}}`)
	quoteV5 := append([]byte{5, 0}, fill(4000, 0x55)...)
	jwt := []byte("eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln")

	tests := []struct {
		name string
		enc  func() ([]byte, error)
		want Decoded
	}{
		{"snp", func() ([]byte, error) { return EncodeSNP(report, table) },
			Decoded{Kind: KindEvidence, Platform: PlatformSNP, Evidence: report, Endorsements: table}},
		{"snp-no-table", func() ([]byte, error) { return EncodeSNP(report, nil) },
			Decoded{Kind: KindEvidence, Platform: PlatformSNP, Evidence: report}},
		{"tdx", func() ([]byte, error) { return EncodeTDX(quote, coll) },
			Decoded{Kind: KindEvidence, Platform: PlatformTDX, Evidence: quote, Endorsements: coll}},
		{"tdx-no-collateral", func() ([]byte, error) { return EncodeTDX(quote, nil) },
			Decoded{Kind: KindEvidence, Platform: PlatformTDX, Evidence: quote}},
		{"tdx-v5", func() ([]byte, error) { return EncodeTDX(quoteV5, nil) },
			Decoded{Kind: KindEvidence, Platform: PlatformTDX, Evidence: quoteV5}},
		{"ear", func() ([]byte, error) { return EncodeEAR(jwt) },
			Decoded{Kind: KindAttestationResult, EAR: jwt}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.enc()
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if f := cmw.Sniff(b); f != cmw.FormatCBORCollection && f != cmw.FormatCBORRecord {
				t.Fatalf("encoded form sniffs as %v", f)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(CBOR): %v", err)
			}
			assertDecoded(t, got, &tc.want)

			// The same CMW in its JSON serialisation decodes to the same content.
			var c cmw.CMW
			if err := c.Deserialize(b); err != nil {
				t.Fatalf("library Deserialize: %v", err)
			}
			js, err := c.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			got, err = Decode(js)
			if err != nil {
				t.Fatalf("Decode(JSON %s): %v", js[:min(len(js), 120)], err)
			}
			assertDecoded(t, got, &tc.want)
		})
	}
}

func assertDecoded(t *testing.T, got, want *Decoded) {
	t.Helper()
	if got.Kind != want.Kind || got.Platform != want.Platform {
		t.Fatalf("kind/platform = %s/%s, want %s/%s", got.Kind, got.Platform, want.Kind, want.Platform)
	}
	for _, f := range []struct {
		name      string
		got, want []byte
	}{
		{"Evidence", got.Evidence, want.Evidence}, {"Endorsements", got.Endorsements, want.Endorsements},
		{"EAR", got.EAR, want.EAR},
	} {
		if !bytes.Equal(f.got, f.want) {
			t.Fatalf("%s: got %d bytes, want %d bytes (or different content)", f.name, len(f.got), len(f.want))
		}
	}
}

// Media types are compared as media types, not strings.
func TestDecodeMediaTypeEquivalence(t *testing.T) {
	b := mustCBOR(t, map[string]any{
		"__cmwc_t": CollectionType,
		"evidence": []any{"Application/VND.intel.tdx.quote;Version=4", []byte{1, 2, 3}},
	})
	d, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if d.Platform != PlatformTDX || !bytes.Equal(d.Evidence, []byte{1, 2, 3}) {
		t.Fatalf("decoded %+v", d)
	}
}

func TestEncodeErrors(t *testing.T) {
	_, err := EncodeSNP(nil, []byte{1})
	wantCheck(t, err, "cmw.format", "empty evidence")
	_, err = EncodeTDX(fill(MaxCMWSize+1, 1), nil)
	wantCheck(t, err, "cmw.format", "max CMW size")
	_, err = EncodeEAR(nil)
	wantCheck(t, err, "cmw.format", "empty EAR")
	_, err = EncodeSNP(fill(MaxCMWSize-40, 1), nil) // fits as input, not once wrapped
	wantCheck(t, err, "cmw.format", "encode: CMW is")
}

func malformedCases(t testing.TB) []struct {
	name string
	in   []byte
	code string
	sub  string
} {
	snpRec := []any{MediaTypeSNPReport, []byte{1}, uint64(cmw.Evidence)}
	tblRec := []any{MediaTypeSNPCertTable, []byte{2}, uint64(cmw.Endorsements)}
	col := func(kv ...any) []byte {
		m := map[any]any{"__cmwc_t": CollectionType}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return mustCBOR(t, m)
	}
	valid := col("evidence", snpRec)
	return []struct {
		name string
		in   []byte
		code string
		sub  string
	}{
		{"empty", nil, "cmw.decode", "empty CMW"},
		{"oversize", append([]byte{0xa1}, make([]byte, MaxCMWSize)...), "cmw.decode", "max 65533"},
		{"not-cmw", []byte("hello"), "cmw.decode", "first byte 0x68"},
		{"leading-space-json", []byte(` ["a/b","AQ"]`), "cmw.decode", "first byte 0x20"},
		{"trailing-cbor", append(bytes.Clone(valid), 0x00), "cmw.decode", "extraneous data"},
		{"trailing-json", []byte(`["application/eat+jwt","AQ"] x`), "cmw.decode", "trailing data"},
		{"truncated-cbor", valid[:len(valid)-1], "cmw.decode", "bad CBOR collection"},
		{"ind-zero", col("evidence", []any{MediaTypeSNPReport, []byte{1}, 0}), "cmw.format",
			`collection label "evidence": ind is 0`},
		{"ind-unassigned-bits", col("evidence", []any{MediaTypeSNPReport, []byte{1}, 64}), "cmw.format",
			`ind 64 has unassigned bits`},
		{"ind-mismatch", col("evidence", []any{MediaTypeSNPReport, []byte{1}, uint64(cmw.Endorsements)}), "cmw.format",
			`collection label "evidence": ind 2 does not match`},
		{"empty-collection", mustCBOR(t, map[string]any{}), "cmw.format", "record: empty collection"},
		{"only-ctype", mustCBOR(t, map[string]any{"__cmwc_t": CollectionType}), "cmw.format", "empty collection"},
		{"unknown-label", col("evidence", snpRec, "extra", tblRec), "cmw.format", `collection label "extra": unknown label`},
		{"negative-int-label", col("evidence", snpRec, int64(-1), tblRec, int64(-2), tblRec), "cmw.format",
			"label -1: integer labels not allowed"},
		{"uint-label", col("evidence", snpRec, uint64(7), tblRec), "cmw.format", "label 7: integer labels"},
		{"wrong-media-type", col("evidence", []any{"text/plain", []byte{1}}), "cmw.format",
			`collection label "evidence": media type "text/plain" not allowed`},
		{"endorsement-under-evidence", col("evidence", tblRec), "cmw.format",
			`collection label "evidence": media type "application/vnd.amd.sev-snp.cert-table" not allowed under this label`},
		{"platform-mix", col("evidence", snpRec, "endorsements", []any{MediaTypeTDXCollateral, []byte("{}")}), "cmw.format",
			"tdx endorsements with sev-snp evidence"},
		{"evidence-missing", col("endorsements", tblRec), "cmw.format", `collection label "evidence": missing`},
		{"wrong-collection-type", mustCBOR(t, map[string]any{"__cmwc_t": "tag:example.com,2026:x", "evidence": snpRec}),
			"cmw.format", `__cmwc_t "tag:example.com,2026:x"`},
		{"no-collection-type", mustCBOR(t, map[string]any{"evidence": snpRec}), "cmw.format", `__cmwc_t ""`},
		{"ctype-not-text", mustCBOR(t, map[string]any{"__cmwc_t": 5, "evidence": snpRec}), "cmw.format",
			"__cmwc_t must be a text string"},
		{"empty-value", col("evidence", []any{MediaTypeSNPReport, []byte{}}), "cmw.format",
			`collection label "evidence": empty value`},
		{"value-not-bytes", col("evidence", []any{MediaTypeSNPReport, "text"}), "cmw.format", "value must be a byte string"},
		{"record-arity", col("evidence", []any{MediaTypeSNPReport}), "cmw.format", "1 elements, want 2 or 3"},
		{"content-format-type", col("evidence", []any{uint64(264), []byte{1}}), "cmw.format",
			"Content-Format 264 not allowed"},
		{"bad-media-type", col("evidence", []any{"not a media type", []byte{1}}), "cmw.format", "is not a media type"},
		{"deep-nesting", col("evidence", map[string]any{"inner": snpRec}), "cmw.format",
			`collection label "inner": nesting depth 3 exceeds 2`},
		{"very-deep-nesting", bytes.Repeat([]byte{0x81}, 40), "cmw.decode", "exceeded max nested level"},
		{"nested-collection-json", []byte(`{"__cmwc_t":"` + CollectionType + `","evidence":{"x":["a/b","AQ"]}}`),
			"cmw.format", `collection label "x": nesting depth 3 exceeds 2`},
		{"cbor-tag", []byte{0xda, 0x63, 0x74, 0x01, 0x01, 0x41, 0x00}, "cmw.format", "CBOR tag CMW not supported"},
		{"duplicate-cbor-label", []byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}, "cmw.decode", "duplicate map key"},
		{"json-numeric-type", []byte(`{"__cmwc_t":"` + CollectionType + `","evidence":[264,"AQ",4]}`), "cmw.format",
			`collection label "evidence": JSON record type must be a media type string, got a number`},
		{"json-value-number", []byte(`["application/eat+jwt",1]`), "cmw.format",
			"JSON record value must be a base64url string, got a number"},
		{"json-padded-base64", []byte(`["application/eat+jwt","AQ=="]`), "cmw.format", "not unpadded base64url"},
		{"json-duplicate-label", []byte(`{"__cmwc_t":"` + CollectionType + `","evidence":["a/b","AQ"],"evidence":["a/b","AQ"]}`),
			"cmw.format", `duplicate label "evidence"`},
		{"json-empty-value", []byte(`["application/eat+jwt",""]`), "cmw.format", "record: empty value"},
		{"json-negative-ind", []byte(`["application/eat+jwt","AQ",-8]`), "cmw.format", "ind -8 is not an unsigned integer"},
		{"json-bad-syntax", []byte(`["application/eat+jwt" "AQ"]`), "cmw.decode", "bad JSON"},
		{"evidence-as-single-record", mustCBOR(t, snpRec), "cmw.format", "not allowed as a single record"},
		{"unsorted-labels", unsorted(t, valid), "cmw.decode", "not core deterministic"},
		{"tdx-v5-typed-v4", col("evidence", []any{MediaTypeTDXQuote, []byte{5, 0, 2, 0}}), "cmw.format",
			"media type says TDX quote version 4, the quote header says 5"},
		{"tdx-v4-typed-v5", col("evidence", []any{MediaTypeTDXQuoteV5, []byte{4, 0, 2, 0}}), "cmw.format",
			"media type says TDX quote version 5, the quote header says 4"},
		{"long-form-length", cat([]byte{0x82, 0x78, byte(len(earMT))}, []byte(earMT), []byte{0x41, 1}), "cmw.decode", "not core deterministic"},
		{"indefinite-bytes", cat([]byte{0x82, 0x60 + byte(len(earMT))}, []byte(earMT), []byte{0x5f, 0x41, 1, 0xff}), "cmw.decode", "not core deterministic"},
	}
}

// earMT is a short media type (the record type test cases use it).
const earMT = "application/eat+jwt"

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// unsorted re-encodes a two-label collection with its labels in the reverse
// of deterministic order.
func unsorted(t testing.TB, det []byte) []byte {
	t.Helper()
	var m map[string]cbor.RawMessage
	if err := cbor.Unmarshal(det, &m); err != nil || len(m) != 2 {
		t.Fatalf("want a two-label collection: %v", err)
	}
	keys := []string{"evidence", "__cmwc_t"} // deterministic order puts "__cmwc_t" first (same length, '_' < 'e')
	out := []byte{0xa2}
	for _, k := range keys {
		out = append(out, mustCBOR(t, k)...)
		out = append(out, m[k]...)
	}
	return out
}

func TestDecodeMalformed(t *testing.T) {
	cases := malformedCases(t)
	if len(cases) < 12 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode(tc.in)
			if d != nil {
				t.Fatalf("Decode returned %+v with error %v", d, err)
			}
			wantCheck(t, err, tc.code, tc.sub)
		})
	}
}

// The library panics on a JSON record whose value is a one-character
// non-string; the pre-check refuses it, and recover() turns any panic that
// gets past the pre-check into cmw.decode instead of a crash.
func TestLibraryPanicIsContained(t *testing.T) {
	in := []byte(`["application/eat+jwt",1]`)
	_, err := libDeserialize(in)
	wantCheck(t, err, "cmw.decode", "CMW library panicked")

	_, err = Decode(in)
	wantCheck(t, err, "cmw.format", "JSON record value must be a base64url string")
}

func TestDecodeJSONDetail(t *testing.T) {
	// A JSON collection is accepted with the same rules.
	rec, _ := json.Marshal([]any{MediaTypeSNPReport, "AQ", 4})
	in := []byte(`{"__cmwc_t":"` + CollectionType + `","evidence":` + string(rec) + `}`)
	d, err := Decode(in)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if d.Platform != PlatformSNP || !bytes.Equal(d.Evidence, []byte{1}) {
		t.Fatalf("decoded %+v", d)
	}
}
