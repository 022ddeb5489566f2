// Package rustref reads and writes the cmw_data of the rust-ref interop
// profile: the CBOR CMW record that tls-attestation/attestation-exported-
// authenticators (the Rust reference code of draft-fossati-seat-expat)
// carries in cmw_attestation, [media-type, TDX quote] without an indicator.
// Only TDX is defined there. Failures are *check.Error in the cmw namespace
// (cmw.decode, cmw.format) with Field naming the element.
package rustref

import (
	"fmt"
	"maps"
	"mime"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
)

// MediaTypeTDXQuote is the record type the Rust reference code writes for a
// TDX quote (its dcap_tdx module).
const MediaTypeTDXQuote = `application/tdx-quote; version=1.0; profile="https://trustedcomputinggroup.org/tdx/v1"`

// MaxRecordSize is the largest record: all of cmw_data (65,533 bytes).
const MaxRecordSize = 65533

var (
	dec = func() cbor.DecMode {
		dm, err := cbor.DecOptions{
			DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
			MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16, UTF8: cbor.UTF8RejectInvalid,
		}.DecMode()
		if err != nil {
			panic("rustref: CBOR options: " + err.Error())
		}
		return dm
	}()
	enc = func() cbor.EncMode {
		em, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic("rustref: CBOR options: " + err.Error())
		}
		return em
	}()
	wantType, wantParams = func() (string, map[string]string) {
		t, p, err := mime.ParseMediaType(MediaTypeTDXQuote)
		if err != nil {
			panic("rustref: bad media type constant")
		}
		return t, p
	}()
)

func fieldErr(chk check.Check, field, format string, args ...any) *check.Error {
	return &check.Error{Platform: check.CMW, Check: chk, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// Encode wraps a TDX quote as the rust-ref record.
func Encode(quote []byte) ([]byte, error) {
	if len(quote) == 0 {
		return nil, fieldErr(check.Format, "record.value", "empty quote")
	}
	b, err := enc.Marshal([]any{MediaTypeTDXQuote, quote})
	if err != nil {
		return nil, fmt.Errorf("rustref: encode record: %w", err)
	}
	if len(b) > MaxRecordSize {
		return nil, fieldErr(check.Decode, "record", "%d bytes exceeds %d", len(b), MaxRecordSize)
	}
	return b, nil
}

// Decode reads the rust-ref record strictly (a CBOR array of exactly a text
// media type and a non-empty byte string; size checked first) and returns
// its quote as TDX evidence for seatrx's verifier. A record of another media
// type is cmw.format: the Rust reference code defines TDX only (and its
// verifier lets any other type pass unchecked; seatrx does not).
func Decode(b []byte) (*evidence.Decoded, error) {
	if len(b) == 0 || len(b) > MaxRecordSize {
		return nil, fieldErr(check.Decode, "record", "%d bytes; allowed 1..%d", len(b), MaxRecordSize)
	}
	var parts []cbor.RawMessage
	if err := dec.Unmarshal(b, &parts); err != nil {
		return nil, &check.Error{Platform: check.CMW, Check: check.Decode, Field: "record", Detail: "not a CBOR array", Err: err}
	}
	if len(parts) != 2 {
		return nil, fieldErr(check.Decode, "record", "%d elements; the rust-ref record is [type, value] without an indicator", len(parts))
	}
	var mt string
	if err := dec.Unmarshal(parts[0], &mt); err != nil {
		return nil, fieldErr(check.Decode, "record.type", "not a text string")
	}
	var quote []byte
	if err := dec.Unmarshal(parts[1], &quote); err != nil || len(quote) == 0 {
		return nil, fieldErr(check.Decode, "record.value", "not a non-empty byte string")
	}
	t, p, err := mime.ParseMediaType(mt)
	if err != nil || t != wantType || !maps.Equal(p, wantParams) {
		return nil, fieldErr(check.Format, "record.type", "%q; the rust-ref profile carries only %s", mt, MediaTypeTDXQuote)
	}
	return &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote}, nil
}
