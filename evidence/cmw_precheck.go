package evidence

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/cmw"

	"github.com/seatrx/seatrx/evidence/check"
)

// Structural limits applied before the CMW library sees any input.
const (
	// MaxCMWSize is the largest CMW accepted: cmw_data<1..2^16-1> inside an
	// extension_data<0..2^16-1> leaves 65,533 bytes.
	MaxCMWSize = 65533
	// MaxCMWDepth is the deepest CMW nesting accepted: a collection of records.
	MaxCMWDepth = 2
	// maxLabels bounds the entries of one collection (ours have at most 2).
	maxLabels = 8
	// maxIndicator is the largest meaningful ind value (bits 0..4).
	maxIndicator = 31
)

// shape is what the structural pre-check learnt about a CMW node.
type shape struct {
	collection bool
	ctype      string   // "__cmwc_t", "" when absent
	labels     []string // sorted, collection only
	items      map[string]*shape
	hasInd     bool // record only
}

// preDM decodes CBOR for the pre-check: duplicate keys rejected, nesting and
// element counts capped well below the library's defaults.
var preDM = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  4,
		MaxArrayElements: 16,
		MaxMapPairs:      16,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic("evidence: CBOR pre-check options: " + err.Error())
	}
	return dm
}()

func formatErr(format string, args ...any) error {
	return check.Errorf(check.CMW, check.Format, format, args...)
}

func decodeErr(err error, format string, args ...any) error {
	return check.Wrap(check.CMW, check.Decode, err, format, args...)
}

// where names a node in error details.
func where(label string) string {
	if label == "" {
		return "record"
	}
	return fmt.Sprintf("collection label %q", label)
}

// precheck validates the structure of an untrusted CMW without the CMW
// library: size, serialisation, nesting depth, duplicate or non-text labels,
// record arity, ind != 0, non-empty values, parseable media types, trailing
// bytes. Only input that passes is handed to the library.
func precheck(b []byte) (*shape, error) {
	if len(b) == 0 {
		return nil, decodeErr(nil, "empty CMW")
	}
	if len(b) > MaxCMWSize {
		return nil, decodeErr(nil, "CMW is %d bytes, max %d", len(b), MaxCMWSize)
	}
	switch c := b[0]; {
	case c == '{' || c == '[':
		return precheckJSON(b)
	case c >= 0x80 && c <= 0x9f, c >= 0xa0 && c <= 0xbf, c >= 0xc0 && c <= 0xdb:
		sh, err := precheckCBOR(b, 1, "")
		if err != nil {
			return nil, err
		}
		return sh, checkDeterministic(b)
	default:
		return nil, decodeErr(nil, "first byte 0x%02x starts neither a CBOR nor a JSON CMW", c)
	}
}

func cborMajor(raw []byte) byte { return raw[0] >> 5 }

// detEM is RFC 8949 §4.2.1 core deterministic encoding, what EncodeSNP,
// EncodeTDX and EncodeEAR produce.
var detEM = func() cbor.EncMode {
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("evidence: CBOR deterministic options: " + err.Error())
	}
	return em
}()

// checkDeterministic refuses a CBOR CMW that is not core deterministic
// (unsorted labels, non-shortest lengths or integers, indefinite lengths),
// found by re-encoding it: one content, one CBOR encoding. (A JSON CMW has
// no canonical form; the evidence digest never covers CMW bytes anyway.)
func checkDeterministic(b []byte) error {
	var v any
	if err := preDM.Unmarshal(b, &v); err != nil {
		return decodeErr(err, "bad CBOR")
	}
	re, err := detEM.Marshal(v)
	if err != nil {
		return decodeErr(err, "CBOR re-encoding")
	}
	if !bytes.Equal(re, b) {
		return decodeErr(nil, "CBOR is not core deterministic (RFC 8949 §4.2.1: sorted labels, shortest lengths and integers, definite lengths)")
	}
	return nil
}

// cborView is one CBOR data item of the input, not copied (cbor.RawMessage
// copies): the pre-check only looks at the items of a CMW it holds, so
// viewing them saves copying every record value on every decode.
type cborView []byte

// UnmarshalCBOR keeps the decoder's sub-slice of the input, which the
// pre-check neither changes nor keeps past its return.
func (v *cborView) UnmarshalCBOR(b []byte) error {
	*v = b
	return nil
}

// bstrEmpty reports whether raw, a well-formed CBOR byte string (major type
// 2), is empty, reading its head instead of copying its value; an
// indefinite-length string is decoded to tell.
func bstrEmpty(raw []byte) (bool, error) {
	switch ai := raw[0] & 0x1f; {
	case ai < 24:
		return ai == 0, nil
	case ai <= 27:
		for _, c := range raw[1 : 1+(1<<(ai-24))] {
			if c != 0 {
				return false, nil
			}
		}
		return true, nil
	}
	var v []byte
	if err := preDM.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	return len(v) == 0, nil
}

func precheckCBOR(raw []byte, depth int, label string) (*shape, error) {
	if depth > MaxCMWDepth {
		return nil, formatErr("%s: nesting depth %d exceeds %d", where(label), depth, MaxCMWDepth)
	}
	switch cborMajor(raw) {
	case 4: // array: record
		var a []cborView
		if err := preDM.Unmarshal(raw, &a); err != nil {
			return nil, decodeErr(err, "%s: bad CBOR record", where(label))
		}
		return precheckCBORRecord(a, label)
	case 5: // map: collection
		var m map[any]cborView
		if err := preDM.Unmarshal(raw, &m); err != nil {
			return nil, decodeErr(err, "%s: bad CBOR collection", where(label))
		}
		return precheckCBORCollection(m, depth, label)
	case 6:
		return nil, formatErr("%s: CBOR tag CMW not supported (no media type of this profile has a Content-Format)", where(label))
	default:
		return nil, formatErr("%s: want a CBOR record (array) or collection (map)", where(label))
	}
}

func precheckCBORRecord(a []cborView, label string) (*shape, error) {
	w := where(label)
	if len(a) < 2 || len(a) > 3 {
		return nil, formatErr("%s: %d elements, want 2 or 3", w, len(a))
	}
	switch cborMajor(a[0]) {
	case 3:
		var mt string
		if err := preDM.Unmarshal(a[0], &mt); err != nil {
			return nil, decodeErr(err, "%s: type", w)
		}
		if _, _, err := mime.ParseMediaType(mt); err != nil {
			return nil, formatErr("%s: type %q is not a media type", w, mt)
		}
	case 0:
		var cf uint64
		if err := preDM.Unmarshal(a[0], &cf); err != nil {
			return nil, decodeErr(err, "%s: type", w)
		}
		return nil, formatErr("%s: Content-Format %d not allowed (no media type of this profile has one)", w, cf)
	default:
		return nil, formatErr("%s: type must be a media type string", w)
	}
	if cborMajor(a[1]) != 2 {
		return nil, formatErr("%s: value must be a byte string", w)
	}
	empty, err := bstrEmpty(a[1])
	if err != nil {
		return nil, decodeErr(err, "%s: value", w)
	}
	if empty {
		return nil, formatErr("%s: empty value", w)
	}
	s := &shape{}
	if len(a) == 3 {
		if cborMajor(a[2]) != 0 {
			return nil, formatErr("%s: ind must be an unsigned integer", w)
		}
		var ind uint64
		if err := preDM.Unmarshal(a[2], &ind); err != nil {
			return nil, decodeErr(err, "%s: ind", w)
		}
		if err := checkIndicator(ind, w); err != nil {
			return nil, err
		}
		s.hasInd = true
	}
	return s, nil
}

func checkIndicator(ind uint64, w string) error {
	if ind == 0 {
		return formatErr("%s: ind is 0 (must be non-zero or absent)", w)
	}
	if ind > maxIndicator {
		return formatErr("%s: ind %d has unassigned bits", w, ind)
	}
	return nil
}

func precheckCBORCollection(m map[any]cborView, depth int, label string) (*shape, error) {
	w := where(label)
	s := &shape{collection: true, items: map[string]*shape{}}
	// Visit keys in a fixed order so that the same input always yields the
	// same diagnostic (Go map iteration order is random).
	keys := make([]any, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	for _, k := range keys {
		v := m[k]
		switch key := k.(type) {
		case string:
			if key == cmw.CmwCType {
				if cborMajor(v) != 3 {
					return nil, formatErr("%s: %s must be a text string", w, cmw.CmwCType)
				}
				if err := preDM.Unmarshal(v, &s.ctype); err != nil {
					return nil, decodeErr(err, "%s: %s", w, cmw.CmwCType)
				}
				continue
			}
			s.labels = append(s.labels, key)
		case int64, uint64:
			return nil, formatErr("%s: label %v: integer labels not allowed in this profile", w, key)
		default:
			return nil, formatErr("%s: label of CBOR type %T not allowed", w, k)
		}
	}
	if err := checkLabels(s, w); err != nil {
		return nil, err
	}
	for _, l := range s.labels {
		child, err := precheckCBOR(m[l], depth+1, l)
		if err != nil {
			return nil, err
		}
		s.items[l] = child
	}
	return s, nil
}

func checkLabels(s *shape, w string) error {
	if len(s.labels) == 0 {
		return formatErr("%s: empty collection", w)
	}
	if len(s.labels) > maxLabels {
		return formatErr("%s: %d labels, max %d", w, len(s.labels), maxLabels)
	}
	sort.Strings(s.labels)
	for _, l := range s.labels {
		if l == "" || !utf8.ValidString(l) {
			return formatErr("%s: empty or invalid label %q", w, l)
		}
	}
	return nil
}

// precheckJSON walks the JSON tokens (encoding/json's Decoder checks the
// syntax) so that duplicate labels, depth and trailing data are seen, which
// json.Unmarshal into a map would hide.
func precheckJSON(b []byte) (*shape, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	s, err := jsonNode(dec, 1, "")
	if err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, decodeErr(err, "trailing data after the CMW (%v)", tok)
	}
	return s, nil
}

func jsonToken(dec *json.Decoder, w string) (json.Token, error) {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, decodeErr(err, "%s: bad JSON", w)
	}
	return tok, nil
}

func jsonNode(dec *json.Decoder, depth int, label string) (*shape, error) {
	w := where(label)
	tok, err := jsonToken(dec, w)
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('['):
		if depth > MaxCMWDepth {
			return nil, formatErr("%s: nesting depth %d exceeds %d", w, depth, MaxCMWDepth)
		}
		return jsonRecord(dec, w)
	case json.Delim('{'):
		if depth > MaxCMWDepth {
			return nil, formatErr("%s: nesting depth %d exceeds %d", w, depth, MaxCMWDepth)
		}
		return jsonCollection(dec, depth, w)
	default:
		return nil, formatErr("%s: want a JSON record (array) or collection (object)", w)
	}
}

func jsonRecord(dec *json.Decoder, w string) (*shape, error) {
	tok, err := jsonToken(dec, w)
	if err != nil {
		return nil, err
	}
	mt, ok := tok.(string)
	if !ok {
		return nil, formatErr("%s: JSON record type must be a media type string, got %s", w, jsonKind(tok))
	}
	if _, _, err := mime.ParseMediaType(mt); err != nil {
		return nil, formatErr("%s: type %q is not a media type", w, mt)
	}
	if tok, err = jsonToken(dec, w); err != nil {
		return nil, err
	}
	v, ok := tok.(string)
	if !ok {
		return nil, formatErr("%s: JSON record value must be a base64url string, got %s", w, jsonKind(tok))
	}
	if v == "" {
		return nil, formatErr("%s: empty value", w)
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(v); err != nil {
		return nil, formatErr("%s: value is not unpadded base64url: %v", w, err)
	}
	s := &shape{}
	if tok, err = jsonToken(dec, w); err != nil {
		return nil, err
	}
	if tok != json.Delim(']') {
		n, ok := tok.(json.Number)
		if !ok {
			return nil, formatErr("%s: ind must be an unsigned integer, got %s", w, jsonKind(tok))
		}
		ind, err := strconv.ParseUint(n.String(), 10, 64)
		if err != nil {
			return nil, formatErr("%s: ind %s is not an unsigned integer", w, n)
		}
		if err := checkIndicator(ind, w); err != nil {
			return nil, err
		}
		s.hasInd = true
		if tok, err = jsonToken(dec, w); err != nil {
			return nil, err
		}
		if tok != json.Delim(']') {
			return nil, formatErr("%s: more than 3 elements", w)
		}
	}
	return s, nil
}

func jsonCollection(dec *json.Decoder, depth int, w string) (*shape, error) {
	s := &shape{collection: true, items: map[string]*shape{}}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := jsonToken(dec, w)
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok { // unreachable: encoding/json only yields string keys
			return nil, decodeErr(nil, "%s: non-string key", w)
		}
		if seen[key] {
			return nil, formatErr("%s: duplicate label %q", w, key)
		}
		seen[key] = true
		if len(seen) > maxLabels+1 {
			return nil, formatErr("%s: more than %d labels", w, maxLabels)
		}
		if key == cmw.CmwCType {
			if tok, err = jsonToken(dec, w); err != nil {
				return nil, err
			}
			if s.ctype, ok = tok.(string); !ok {
				return nil, formatErr("%s: %s must be a string", w, cmw.CmwCType)
			}
			continue
		}
		child, err := jsonNode(dec, depth+1, key)
		if err != nil {
			return nil, err
		}
		s.labels = append(s.labels, key)
		s.items[key] = child
	}
	if _, err := jsonToken(dec, w); err != nil { // the closing '}'
		return nil, err
	}
	if err := checkLabels(s, w); err != nil {
		return nil, err
	}
	return s, nil
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	case json.Delim:
		return fmt.Sprintf("%q", tok)
	default:
		return fmt.Sprintf("%T", tok)
	}
}
