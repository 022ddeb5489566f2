package receipt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// PreimageView is one preimage of a bundle as an auditor reads it: the
// value itself in CBOR diagnostic notation (EDN, RFC 8610 Appendix G),
// exact (integers of any size as written, floats as floats, byte strings
// as h'..'), and whether it is the preimage of the receipt's hash.
type PreimageView struct {
	// Name is "action" or "policy"; Hash the receipt member it commits to.
	Name string `json:"name"`
	Hash string `json:"hash"`
	// Status is PreimageMatches, PreimageMismatch or PreimageAbsent.
	Status string `json:"status"`
	// Diagnostic is the decoded preimage; empty when absent.
	Diagnostic string `json:"diagnostic,omitempty"`
}

// Preimage statuses.
const (
	PreimageMatches  = "matches"
	PreimageMismatch = "DOES NOT MATCH"
	PreimageAbsent   = "absent"
)

// Preimages renders the bundle's action and policy preimages for r, the
// receipt it carries, each marked as matching its hash or not.
func (b *Bundle) Preimages(r *Receipt) []PreimageView {
	out := []PreimageView{}
	for _, p := range []struct {
		name, hash string
		h          Hash
		data       []byte
	}{{"action", "action_hash", r.ActionHash, b.Action}, {"policy", "policy_hash", r.PolicyHash, b.Policy}} {
		v := PreimageView{Name: p.name, Hash: p.hash, Status: PreimageAbsent}
		if p.data != nil {
			v.Status = PreimageMismatch
			if verifyPreimage(p.hash, p.h, p.data) == nil {
				v.Status = PreimageMatches
			}
			d, err := RenderCBOR(p.data)
			if err != nil {
				d = "(does not decode: " + err.Error() + ")"
			}
			v.Diagnostic = d
		}
		out = append(out, v)
	}
	return out
}

// renderDecMode decodes preimages for display: strict (no tags, as in every
// preimage of the profile), integers kept exact (big ones as *big.Int), maps
// with any keys.
var renderDecMode = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		UTF8:             cbor.UTF8RejectInvalid,
		MaxNestedLevels:  32,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		DefaultMapType:   reflect.TypeOf(map[any]any(nil)),
		IntDec:           cbor.IntDecConvertNone,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("receipt: render dec mode: %v", err))
	}
	return dm
}()

// RenderCBOR renders one CBOR item in diagnostic notation, indented where a
// line would pass 80 columns, map members in the order of their deterministic
// encoding. Input is bounded by MaxPolicySize.
func RenderCBOR(data []byte) (string, error) {
	if len(data) > MaxPolicySize {
		return "", ferr("cbor", CodeTooLarge, "%d bytes exceeds limit %d", len(data), MaxPolicySize)
	}
	var v any
	if err := renderDecMode.Unmarshal(data, &v); err != nil {
		return "", classify("cbor", err)
	}
	var b strings.Builder
	writeEDN(&b, v, "")
	return b.String(), nil
}

// writeEDN writes v at the given indentation.
func writeEDN(b *strings.Builder, v any, indent string) {
	if s, ok := scalarEDN(v); ok {
		b.WriteString(s)
		return
	}
	if flat := flatEDN(v); len(flat)+len(indent) <= 80 {
		b.WriteString(flat)
		return
	}
	inner := indent + "  "
	switch x := v.(type) {
	case []any:
		b.WriteString("[\n")
		for i, e := range x {
			b.WriteString(inner)
			writeEDN(b, e, inner)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case map[any]any:
		b.WriteString("{\n")
		keys := sortedKeys(x)
		for i, k := range keys {
			b.WriteString(inner)
			writeEDN(b, k, inner)
			b.WriteString(": ")
			writeEDN(b, x[k], inner)
			if i < len(keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	}
}

// flatEDN renders v on one line.
func flatEDN(v any) string {
	if s, ok := scalarEDN(v); ok {
		return s
	}
	var parts []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			parts = append(parts, flatEDN(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[any]any:
		for _, k := range sortedKeys(x) {
			parts = append(parts, flatEDN(k)+": "+flatEDN(x[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprintf("%v", v)
}

// scalarEDN renders a non-container value exactly.
func scalarEDN(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "null", true
	case bool:
		return strconv.FormatBool(x), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case big.Int:
		return x.String(), true
	case *big.Int:
		return x.String(), true
	case float64:
		return floatEDN(x), true
	case float32:
		return floatEDN(float64(x)), true
	case string:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(x)
		return strings.TrimSuffix(b.String(), "\n"), true
	case []byte:
		return "h'" + hex.EncodeToString(x) + "'", true
	case cbor.ByteString:
		return "h'" + hex.EncodeToString([]byte(x)) + "'", true
	case cbor.SimpleValue:
		return fmt.Sprintf("simple(%d)", x), true
	}
	if reflect.ValueOf(v).Kind() == reflect.Slice || reflect.ValueOf(v).Kind() == reflect.Map {
		return "", false
	}
	return fmt.Sprintf("%v", v), true
}

// floatEDN writes a float so that it reads as a float: 1.0, 0.1, -0.0,
// 1.0e+21, NaN, Infinity.
func floatEDN(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	if i := strings.IndexAny(s, "e"); i >= 0 && !strings.Contains(s[:i], ".") {
		s = s[:i] + ".0" + s[i:]
	}
	return s
}

// sortedKeys orders map keys as the deterministic encoding does (bytewise
// by their encodings).
func sortedKeys(m map[any]any) []any {
	type kv struct {
		k   any
		enc []byte
	}
	var ks []kv
	for k := range m {
		e, _ := marshal(k)
		ks = append(ks, kv{k, e})
	}
	slices.SortFunc(ks, func(a, b kv) int { return bytes.Compare(a.enc, b.enc) })
	out := make([]any, len(ks))
	for i, x := range ks {
		out[i] = x.k
	}
	return out
}
