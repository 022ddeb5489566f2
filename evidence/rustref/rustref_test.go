package rustref

import (
	"bytes"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
)

func TestRoundTrip(t *testing.T) {
	b, err := Encode([]byte("quote"))
	if err != nil {
		t.Fatal(err)
	}
	// [text(86), bytes(5)]: the shape the Rust reference code writes.
	if b[0] != 0x82 || b[1] != 0x78 || int(b[2]) != len(MediaTypeTDXQuote) {
		t.Fatalf("record % x", b[:3])
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if d.Platform != evidence.PlatformTDX || d.Kind != evidence.KindEvidence || string(d.Evidence) != "quote" {
		t.Fatalf("decoded %+v", d)
	}
	// Parameters compare as media types do: case and spacing aside.
	spaced, _ := cbor.Marshal([]any{`Application/TDX-Quote;version=1.0;  PROFILE="https://trustedcomputinggroup.org/tdx/v1"`, []byte{1}})
	if _, err := Decode(spaced); err != nil {
		t.Fatalf("equivalent media type refused: %v", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	mk := func(v any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		chk   check.Check
		field string
	}{
		{"empty", nil, check.Decode, "record"},
		{"too large", make([]byte, MaxRecordSize+1), check.Decode, "record"},
		{"not CBOR", []byte{0xff}, check.Decode, "record"},
		{"a map", mk(map[string]int{"a": 1}), check.Decode, "record"},
		{"with an indicator", mk([]any{MediaTypeTDXQuote, []byte{1}, 1}), check.Decode, "record"},
		{"type as a CoAP content format", mk([]any{10000, []byte{1}}), check.Decode, "record.type"},
		{"value as text", mk([]any{MediaTypeTDXQuote, "quote"}), check.Decode, "record.value"},
		{"empty value", mk([]any{MediaTypeTDXQuote, []byte{}}), check.Decode, "record.value"},
		{"SNP media type", mk([]any{"application/vnd.amd.sev-snp.attestation-report", []byte{1}}), check.Format, "record.type"},
		{"other TDX profile", mk([]any{`application/tdx-quote; version=1.0`, []byte{1}}), check.Format, "record.type"},
		{"indefinite length", append([]byte{0x9f}, append(mk(MediaTypeTDXQuote), 0x41, 0x01, 0xff)...), check.Decode, "record"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			var ce *check.Error
			if !errors.As(err, &ce) || ce.Platform != check.CMW || ce.Check != tc.chk || ce.Field != tc.field {
				t.Fatalf("got %v, want cmw.%s on %q", err, tc.chk, tc.field)
			}
		})
	}
	if _, err := Encode(nil); err == nil {
		t.Fatal("empty quote encoded")
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode(bytes.Repeat([]byte{1}, 16))
	f.Add(good)
	f.Add([]byte{0x82, 0x60, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			var ce *check.Error
			if !errors.As(err, &ce) || ce.Platform != check.CMW || ce.Field == "" {
				t.Fatalf("untyped refusal: %v", err)
			}
			return
		}
		again, err := Encode(d.Evidence)
		if err != nil {
			t.Fatal(err)
		}
		if d2, err := Decode(again); err != nil || !bytes.Equal(d2.Evidence, d.Evidence) {
			t.Fatalf("re-encoded record differs: %v", err)
		}
	})
}
