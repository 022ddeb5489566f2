package receipt

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Limits of the action's "requested" member (the client's operation
// parameters), checked before anything is signed. They are the numbers
// PROFILE.md §3.1 documents; a value over one is refused with too_large,
// naming the path of the value and the limit.
const (
	// MaxRequestedDepth bounds the nesting of arrays and maps in requested:
	// with the action map around it, the preimage stays within the 16
	// levels every reader decodes.
	MaxRequestedDepth = 15
	// MaxRequestedArray bounds the elements of one array.
	MaxRequestedArray = 256
	// MaxRequestedMap bounds the members of one map.
	MaxRequestedMap = 64
	// MaxRequestedString bounds one text string, byte string or map key,
	// in bytes (UTF-8 for text).
	MaxRequestedString = 4096
	// MaxRequestedSize bounds the deterministic CBOR encoding of requested,
	// so that the whole action preimage stays within MaxActionSize.
	MaxRequestedSize = MaxActionSize - 1024
	// MaxRequestJSON bounds a JSON document given to RequestedFromJSON or
	// ParseRequestJSON (and a CBOR request to ParseRequestCBOR).
	MaxRequestJSON = 64 << 10
	// MaxAudience bounds the execution token's audience, in bytes.
	MaxAudience = 256
)

// Limit names, as the errors and PROFILE.md §3.1 spell them.
const (
	limitDepth    = "max_depth"
	limitArray    = "max_array"
	limitMap      = "max_map"
	limitString   = "max_string"
	limitSize     = "max_size"
	limitInput    = "max_input"
	limitAudience = "max_audience"
)

// RequestedFromJSON maps a JSON document to the deterministic CBOR of an
// action's "requested" member, exactly (PROFILE.md §3.1): integers stay
// integers up to 64 bits, a number with a fraction or exponent becomes the
// binary64 float that formats back to the same decimal value (encoded in the
// shortest float width that keeps it), and everything that cannot be mapped
// exactly is refused, naming its path ("requested.amount"): integers beyond
// 64 bits, inexact or overflowing decimals, NaN and Infinity, duplicate
// keys, invalid UTF-8, lone surrogates, and values over the limits.
//
// The client (receipt request --action) and the server (JSON receipt
// requests) both call it, so one JSON document has one action_hash.
func RequestedFromJSON(data []byte) ([]byte, error) {
	const path = "requested"
	if len(data) > MaxRequestJSON {
		return nil, limitErr(path, limitInput, MaxRequestJSON, len(data), "bytes of JSON")
	}
	p := &jsonParser{data: data}
	p.skipSpace()
	v, err := p.value(path, 0)
	if err != nil {
		return nil, err
	}
	if err := p.end(path); err != nil {
		return nil, err
	}
	return encodeRequested(path, v)
}

// ParseRequestJSON reads a JSON receipt request,
// {"requested": any, ? "audience": tstr}, with the same mapping and limits
// as RequestedFromJSON. It returns requested as deterministic CBOR.
func ParseRequestJSON(body []byte) (requested []byte, audience string, err error) {
	if len(body) > MaxRequestJSON {
		return nil, "", limitErr("request", limitInput, MaxRequestJSON, len(body), "bytes of JSON")
	}
	p := &jsonParser{data: body}
	p.skipSpace()
	if !p.consume('{') {
		return nil, "", p.syntax("request", "want a JSON object {\"requested\": ..., \"audience\": ...}")
	}
	var req any
	seen := map[string]bool{}
	err = p.members("request", func(key, path string) error {
		if seen[key] {
			return ferr(path, CodeDuplicateKey, "duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "requested":
			v, err := p.value("requested", 0)
			req = v
			return err
		case "audience":
			v, err := p.value("audience", 0)
			if err != nil {
				return err
			}
			s, ok := v.(string)
			if !ok {
				return ferr("audience", CodeWrongType, "audience must be a string")
			}
			audience = s
			return nil
		}
		return ferr(path, CodeUnknownField, "unknown key %q (want requested, audience)", key)
	})
	if err != nil {
		return nil, "", err
	}
	if err := p.end("request"); err != nil {
		return nil, "", err
	}
	if !seen["requested"] {
		return nil, "", ferr("requested", CodeMissingField, `"requested" is required: it describes the operation being authorized`)
	}
	if err := CheckAudience(audience); err != nil {
		return nil, "", err
	}
	requested, err = encodeRequested("requested", req)
	return requested, audience, err
}

// ParseRequestCBOR reads a CBOR receipt request,
// {"requested": any, ? "audience": tstr}, and returns requested in
// deterministic CBOR under the same limits as the JSON path. Floats must be
// finite; tags, indefinite lengths, duplicate keys and invalid UTF-8 are
// refused.
func ParseRequestCBOR(body []byte) (requested []byte, audience string, err error) {
	if len(body) > MaxRequestJSON {
		return nil, "", limitErr("request", limitInput, MaxRequestJSON, len(body), "bytes of CBOR")
	}
	var m map[string]cbor.RawMessage
	if err := reqDecMode.Unmarshal(body, &m); err != nil {
		return nil, "", classify("request", err)
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k != "requested" && k != "audience" {
			return nil, "", ferr(k, CodeUnknownField, "unknown key %q (want requested, audience)", k)
		}
	}
	raw, ok := m["requested"]
	if !ok {
		return nil, "", ferr("requested", CodeMissingField, `"requested" is required: it describes the operation being authorized`)
	}
	if a, ok := m["audience"]; ok {
		if err := reqDecMode.Unmarshal(a, &audience); err != nil {
			return nil, "", classify("audience", err)
		}
	}
	if err := CheckAudience(audience); err != nil {
		return nil, "", err
	}
	requested, err = CanonicalRequested(raw)
	return requested, audience, err
}

// CanonicalRequested checks a CBOR "requested" value against the limits and
// rules of PROFILE.md §3.1 and returns its deterministic encoding.
func CanonicalRequested(data []byte) ([]byte, error) {
	const path = "requested"
	if len(data) > MaxRequestJSON {
		return nil, limitErr(path, limitInput, MaxRequestJSON, len(data), "bytes of CBOR")
	}
	if len(data) == 0 {
		return nil, ferr(path, CodeMalformed, "empty CBOR item")
	}
	var v any
	if err := reqDecMode.Unmarshal(data, &v); err != nil {
		return nil, classify(path, err)
	}
	if err := checkRequestedValue(path, v, 0); err != nil {
		return nil, err
	}
	return encodeRequested(path, v)
}

// CheckAudience applies MaxAudience to an execution token audience.
func CheckAudience(aud string) error {
	if len(aud) > MaxAudience {
		return limitErr("audience", limitAudience, MaxAudience, len(aud), "bytes")
	}
	if !utf8.ValidString(aud) {
		return ferr("audience", CodeInvalidUTF8, "audience is not UTF-8")
	}
	return nil
}

// reqDecMode decodes CBOR requests. Its structural limits are loose bounds
// on allocation; the profile's limits are checked afterwards, by path.
var reqDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
		MaxNestedLevels:  MaxRequestedDepth + 2,
		MaxArrayElements: 4 * MaxRequestedArray,
		MaxMapPairs:      4 * MaxRequestedArray,
		DefaultMapType:   reflect.TypeOf(map[any]any(nil)),
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("receipt: request dec mode: %v", err))
	}
	return dm
}()

// checkRequestedValue walks a decoded CBOR value, checking the limits and
// refusing non-finite floats; depth counts the arrays and maps around v.
func checkRequestedValue(path string, v any, depth int) error {
	switch x := v.(type) {
	case string:
		return checkStringLen(path, len(x))
	case []byte:
		return checkStringLen(path, len(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ferr(path, CodeInexactNumber, "NaN and Infinity have no JSON form and are refused")
		}
	case float32:
		return checkRequestedValue(path, float64(x), depth)
	case []any:
		if depth+1 > MaxRequestedDepth {
			return limitErr(path, limitDepth, MaxRequestedDepth, depth+1, "levels of nesting")
		}
		if len(x) > MaxRequestedArray {
			return limitErr(path, limitArray, MaxRequestedArray, len(x), "elements")
		}
		for i, e := range x {
			if err := checkRequestedValue(fmt.Sprintf("%s[%d]", path, i), e, depth+1); err != nil {
				return err
			}
		}
	case map[any]any:
		if depth+1 > MaxRequestedDepth {
			return limitErr(path, limitDepth, MaxRequestedDepth, depth+1, "levels of nesting")
		}
		if len(x) > MaxRequestedMap {
			return limitErr(path, limitMap, MaxRequestedMap, len(x), "members")
		}
		keys := make([]any, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// A stable order, so that the same input names the same offender.
		slices.SortFunc(keys, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			kp := keyPath(path, k)
			if err := checkRequestedValue(kp, k, depth+1); err != nil {
				return err
			}
			if err := checkRequestedValue(kp, x[k], depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// encodeRequested encodes a mapped value deterministically and applies
// MaxRequestedSize to the result.
func encodeRequested(path string, v any) ([]byte, error) {
	b, err := marshal(v)
	if err != nil {
		return nil, fwrap(path, CodeMalformed, err)
	}
	if len(b) > MaxRequestedSize {
		return nil, limitErr(path, limitSize, MaxRequestedSize, len(b), "bytes of deterministic CBOR")
	}
	return b, nil
}

func checkStringLen(path string, n int) error {
	if n > MaxRequestedString {
		return limitErr(path, limitString, MaxRequestedString, n, "bytes")
	}
	return nil
}

// limitErr is the too_large error of one named limit.
func limitErr(path, limit string, max, got int, unit string) *FieldError {
	return ferr(path, CodeTooLarge, "%d %s exceeds %s = %d", got, unit, limit, max)
}

func keyPath(path string, k any) string {
	if s, ok := k.(string); ok {
		return memberPath(path, s)
	}
	return fmt.Sprintf("%s[%v]", path, k)
}

// memberPath names member key of the map at path: path.key for keys made of
// letters, digits, '_' and '-' (not starting with a digit), else
// path["key"] in JSON quoting.
func memberPath(path, key string) string {
	plain := key != ""
	for i, r := range key {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return path + "." + key
	}
	return path + "[" + jsonQuote(key) + "]"
}

// jsonQuote quotes s as a JSON string (for paths in errors).
func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// jsonParser is a strict RFC 8259 parser that maps as it reads: it keeps
// every number's literal text (encoding/json would round it) and sees
// duplicate keys, invalid UTF-8 and lone surrogates (which encoding/json
// silently accepts or replaces).
type jsonParser struct {
	data []byte
	pos  int
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) consume(c byte) bool {
	if p.pos < len(p.data) && p.data[p.pos] == c {
		p.pos++
		p.skipSpace()
		return true
	}
	return false
}

func (p *jsonParser) syntax(path, format string, args ...any) *FieldError {
	return ferr(path, CodeMalformed, "JSON syntax at byte %d: %s", p.pos, fmt.Sprintf(format, args...))
}

// end checks that only whitespace follows the document.
func (p *jsonParser) end(path string) error {
	p.skipSpace()
	if p.pos != len(p.data) {
		return ferr(path, CodeTrailingData, "bytes follow the JSON document at byte %d", p.pos)
	}
	return nil
}

// value parses one JSON value at path; depth counts the arrays and objects
// around it. Numbers become uint64, int64, *big.Int (below -2^63) or float64.
func (p *jsonParser) value(path string, depth int) (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.syntax(path, "unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth+1 > MaxRequestedDepth {
			return nil, limitErr(path, limitDepth, MaxRequestedDepth, depth+1, "levels of nesting")
		}
		p.pos++
		p.skipSpace()
		m := map[string]any{}
		err := p.members(path, func(key, kpath string) error {
			if _, dup := m[key]; dup {
				return ferr(kpath, CodeDuplicateKey, "duplicate key %q", key)
			}
			if len(m) == MaxRequestedMap {
				return limitErr(path, limitMap, MaxRequestedMap, len(m)+1, "members")
			}
			v, err := p.value(kpath, depth+1)
			m[key] = v
			return err
		})
		return m, err
	case c == '[':
		if depth+1 > MaxRequestedDepth {
			return nil, limitErr(path, limitDepth, MaxRequestedDepth, depth+1, "levels of nesting")
		}
		p.pos++
		p.skipSpace()
		a := []any{}
		if p.consume(']') {
			return a, nil
		}
		for {
			if len(a) == MaxRequestedArray {
				return nil, limitErr(path, limitArray, MaxRequestedArray, len(a)+1, "elements")
			}
			v, err := p.value(fmt.Sprintf("%s[%d]", path, len(a)), depth+1)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
			if p.consume(']') {
				return a, nil
			}
			if !p.consume(',') {
				return nil, p.syntax(path, "want ',' or ']' in array")
			}
		}
	case c == '"':
		s, err := p.str(path)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		return s, nil
	case c == '-' || c >= '0' && c <= '9':
		return p.number(path)
	}
	for _, lit := range []struct {
		word string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if bytes.HasPrefix(p.data[p.pos:], []byte(lit.word)) {
			p.pos += len(lit.word)
			p.skipSpace()
			return lit.v, nil
		}
	}
	for _, w := range []string{"NaN", "Infinity", "-Infinity", "+Infinity", "inf", "nan"} {
		if bytes.HasPrefix(p.data[p.pos:], []byte(w)) {
			return nil, ferr(path, CodeInexactNumber, "%s is not a JSON number and has no exact value", w)
		}
	}
	return nil, p.syntax(path, "unexpected %q", p.data[p.pos])
}

// members parses the members of an object whose '{' is consumed, calling
// member for each key with the key's path; member parses the value.
func (p *jsonParser) members(path string, member func(key, kpath string) error) error {
	if p.consume('}') {
		return nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.syntax(path, "want a string key in object")
		}
		key, err := p.str(path)
		if err != nil {
			return err
		}
		kpath := memberPath(path, key)
		if len(key) > MaxRequestedString {
			return limitErr(kpath, limitString, MaxRequestedString, len(key), "bytes")
		}
		p.skipSpace()
		if !p.consume(':') {
			return p.syntax(kpath, "want ':' after key")
		}
		if err := member(key, kpath); err != nil {
			return err
		}
		if p.consume('}') {
			return nil
		}
		if !p.consume(',') {
			return p.syntax(path, "want ',' or '}' in object")
		}
	}
}

// str parses a JSON string at p.pos (the opening quote).
func (p *jsonParser) str(path string) (string, error) {
	p.pos++
	var b strings.Builder
	for {
		if p.pos >= len(p.data) {
			return "", p.syntax(path, "unterminated string")
		}
		if b.Len() > MaxRequestedString {
			return "", limitErr(path, limitString, MaxRequestedString, b.Len(), "bytes or more")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if b.Len() > MaxRequestedString {
				return "", limitErr(path, limitString, MaxRequestedString, b.Len(), "bytes")
			}
			return b.String(), nil
		case c == '\\':
			r, err := p.escape(path)
			if err != nil {
				return "", err
			}
			b.WriteRune(r)
		case c < 0x20:
			return "", p.syntax(path, "control character 0x%02x in string", c)
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, n := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && n <= 1 {
				return "", ferr(path, CodeInvalidUTF8, "invalid UTF-8 at byte %d", p.pos)
			}
			b.WriteRune(r)
			p.pos += n
		}
	}
}

// escape parses one escape sequence (at its backslash), joining surrogate
// pairs and refusing lone surrogates, which no UTF-8 string can hold.
func (p *jsonParser) escape(path string) (rune, error) {
	if p.pos+1 >= len(p.data) {
		return 0, p.syntax(path, "unterminated escape")
	}
	c := p.data[p.pos+1]
	p.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, err := p.hex4(path)
		if err != nil {
			return 0, err
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r >= 0xdc00 {
			return 0, ferr(path, CodeInvalidUTF8, "lone low surrogate \\u%04x", r)
		}
		if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
			p.pos += 2
			lo, err := p.hex4(path)
			if err != nil {
				return 0, err
			}
			if lo >= 0xdc00 && lo <= 0xdfff {
				return utf16.DecodeRune(r, lo), nil
			}
		}
		return 0, ferr(path, CodeInvalidUTF8, "lone high surrogate \\u%04x", r)
	}
	return 0, p.syntax(path, "unknown escape \\%c", c)
}

func (p *jsonParser) hex4(path string) (rune, error) {
	if p.pos+4 > len(p.data) {
		return 0, p.syntax(path, "short \\u escape")
	}
	n, err := strconv.ParseUint(string(p.data[p.pos:p.pos+4]), 16, 16)
	if err != nil {
		return 0, p.syntax(path, "bad \\u escape %q", p.data[p.pos:p.pos+4])
	}
	p.pos += 4
	return rune(n), nil
}

// number parses a JSON number literal and maps it exactly (PROFILE.md §3.1).
func (p *jsonParser) number(path string) (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 {
		if bytes.HasPrefix(p.data[p.pos:], []byte("Infinity")) {
			return nil, ferr(path, CodeInexactNumber, "-Infinity is not a JSON number and has no exact value")
		}
		return nil, p.syntax(path, "want digits in number")
	} else if n > 1 && p.data[intStart] == '0' {
		return nil, p.syntax(path, "leading zero in number")
	}
	isInt := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		isInt = false
		p.pos++
		if digits() == 0 {
			return nil, p.syntax(path, "want digits after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		isInt = false
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.syntax(path, "want digits in exponent")
		}
	}
	lit := string(p.data[start:p.pos])
	p.skipSpace()
	if isInt {
		return mapInteger(path, lit)
	}
	return mapDecimal(path, lit)
}

// mapInteger maps an integer literal to a CBOR integer (major type 0 or 1):
// uint64 for 0..2^64-1, int64 down to -2^63, *big.Int down to -2^64 (which
// the deterministic encoder writes as major type 1). -0 is the integer 0.
func mapInteger(path, lit string) (any, error) {
	neg := lit[0] == '-'
	digits := strings.TrimPrefix(lit, "-")
	if len(digits) > 20 {
		return nil, intRange(path, lit)
	}
	if !neg {
		u, err := strconv.ParseUint(digits, 10, 64)
		if err != nil {
			return nil, intRange(path, lit)
		}
		return u, nil
	}
	n, ok := new(big.Int).SetString(lit, 10)
	if !ok || n.Cmp(minCBORInt) < 0 {
		return nil, intRange(path, lit)
	}
	if n.Sign() == 0 {
		return uint64(0), nil
	}
	if n.IsInt64() {
		return n.Int64(), nil
	}
	return n, nil
}

var minCBORInt = new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), 64))

func intRange(path, lit string) *FieldError {
	return ferr(path, CodeIntegerRange, "%s is outside the 64-bit CBOR integer range [-18446744073709551616, 18446744073709551615]; send it as a string", lit)
}

// mapDecimal maps a literal with a fraction or exponent to the binary64
// float nearest to it, if that float's shortest round-trip decimal has the
// same value as the literal (1.5, 0.1, 1e2, -0.0); otherwise the literal
// cannot be signed as written and is refused.
func mapDecimal(path, lit string) (any, error) {
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, ferr(path, CodeInexactNumber, "%s overflows binary64; send it as a string", lit)
	}
	a, okA := normDecimal(lit)
	b, okB := normDecimal(strconv.FormatFloat(f, 'e', -1, 64))
	if !okA || !okB || a != b {
		return nil, ferr(path, CodeInexactNumber, "%s has no exact binary64 value (nearest: %s); send it as a string", lit, strconv.FormatFloat(f, 'g', -1, 64))
	}
	return f, nil
}

// normDecimal writes a decimal literal's value canonically: sign, the
// significant digits, and the power of ten of the last one ("-15e-1" for
// -1.50). Zero is "0" or "-0". ok is false for an exponent too large to be
// exact anyway.
func normDecimal(lit string) (string, bool) {
	neg := strings.HasPrefix(lit, "-")
	lit = strings.TrimPrefix(lit, "-")
	mant, exp := lit, 0
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		mant = lit[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(lit[i+1:], "+"))
		if err != nil || e > 1<<20 || e < -(1<<20) {
			return "", false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	exp += len(digits) - len(trimmed)
	sign := ""
	if neg {
		sign = "-"
	}
	if trimmed == "" {
		return sign + "0", true
	}
	return fmt.Sprintf("%s%se%d", sign, trimmed, exp), true
}
