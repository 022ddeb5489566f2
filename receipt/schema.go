package receipt

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// The CBOR schema of every closed map of the profile is declared once: by the
// cbor struct tags of its Go type. The tag name is the map key; a member is
// required unless it is tagged omitempty; `cbor:"-"` fields are not on the
// wire. Encoding (marshal) reads the tags through the CBOR library; strict
// decoding (decodeStruct) reads them through a schema derived here, once per
// type at init. A struct type is a closed map unless it is encoded as an
// array (`cbor:",toarray"`, e.g. Hash) or decodes itself (cbor.Unmarshaler,
// e.g. CMWRecord): those are leaves, decoded by the library alone.
//
// Rules decodeStruct applies to every closed map, from the schema alone:
// unknown keys are unknown_field (the smallest one is named), absent required
// keys are missing_field, and an optional member present with an empty value
// ("", empty bytes, array or map) is bad_value, because an encoder following
// the schema omits it. Per-type rules live in the type's validate method,
// which decodeStruct calls after the members of that map are decoded.

// fieldKind says how decodeStruct decodes one member.
type fieldKind int

const (
	kindLeaf        fieldKind = iota // decoded by the CBOR library
	kindObject                       // a closed map: decodeStruct recursively
	kindObjectPtr                    // pointer to a closed map
	kindObjectSlice                  // array of closed maps
)

// schemaField is one member of a closed map.
type schemaField struct {
	name     string
	index    int
	required bool
	kind     fieldKind
	elem     reflect.Type // the struct type of an object member
}

// schema is the derived description of one closed-map type.
type schema struct {
	fields []schemaField
	known  map[string]bool
}

// validator is implemented (on the pointer) by types with rules beyond the
// schema; path names the map in errors.
type validator interface{ validate(path string) error }

var (
	schemas       = map[reflect.Type]*schema{}
	unmarshalerTy = reflect.TypeFor[cbor.Unmarshaler]()
)

func init() {
	for _, t := range []reflect.Type{
		reflect.TypeFor[Receipt](), reflect.TypeFor[Approval](), reflect.TypeFor[Action](),
		reflect.TypeFor[Bundle](), reflect.TypeFor[TrustAnchorsExt](), reflect.TypeFor[Keys](),
		reflect.TypeFor[AuthorizationExt](), reflect.TypeFor[ApproverQuery](),
	} {
		deriveSchema(t)
	}
}

// isObject reports whether struct type t is a closed map (see above).
func isObject(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerTy) {
		return false
	}
	if f, ok := t.FieldByName("_"); ok && slices.Contains(strings.Split(f.Tag.Get("cbor"), ","), "toarray") {
		return false
	}
	return true
}

// deriveSchema builds (once) the schema of t and of the closed maps nested in
// it. A field without a cbor tag name is a programming error and panics at
// init, so that every wire member has an explicit, reviewed name.
func deriveSchema(t reflect.Type) *schema {
	if s, ok := schemas[t]; ok {
		return s
	}
	s := &schema{known: map[string]bool{}}
	schemas[t] = s
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("cbor")
		if tag == "-" || f.Name == "_" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			panic(fmt.Sprintf("receipt: %s.%s has no cbor key name", t.Name(), f.Name))
		}
		sf := schemaField{name: name, index: i, required: !slices.Contains(strings.Split(opts, ","), "omitempty")}
		switch ft := f.Type; {
		case isObject(ft):
			sf.kind, sf.elem = kindObject, ft
		case ft.Kind() == reflect.Pointer && isObject(ft.Elem()):
			sf.kind, sf.elem = kindObjectPtr, ft.Elem()
		case ft.Kind() == reflect.Slice && isObject(ft.Elem()):
			sf.kind, sf.elem = kindObjectSlice, ft.Elem()
		}
		if sf.elem != nil {
			deriveSchema(sf.elem)
		}
		s.fields = append(s.fields, sf)
		s.known[name] = true
	}
	return s
}

// decodeStruct strictly decodes the closed map data into *v (a pointer to a
// struct with a derived schema), naming path in errors, then runs v's
// validate method if it has one.
func decodeStruct(data []byte, path string, v any) error {
	if err := decodeInto(data, path, v); err != nil {
		return err
	}
	if val, ok := v.(validator); ok {
		return val.validate(path)
	}
	return nil
}

// decodeInto is decodeStruct without v's own validate (its members' still
// run), for a caller that applies a variant of v's rules.
func decodeInto(data []byte, path string, v any) error {
	rv := reflect.ValueOf(v).Elem()
	s, ok := schemas[rv.Type()]
	if !ok {
		panic(fmt.Sprintf("receipt: no schema for %s", rv.Type()))
	}
	var m map[string]cbor.RawMessage
	if err := unmarshal(path, data, &m); err != nil {
		return err
	}
	var unknown []string
	for k := range m {
		if !s.known[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		k := slices.Min(unknown) // the smallest, for a stable message
		return ferr(join(path, k), CodeUnknownField, "unknown key %q", k)
	}
	for _, f := range s.fields {
		p := join(path, f.name)
		raw, ok := m[f.name]
		if !ok {
			if f.required {
				return ferr(p, CodeMissingField, "required key %q absent", f.name)
			}
			continue
		}
		if err := decodeMember(raw, p, f, rv.Field(f.index)); err != nil {
			return err
		}
	}
	return nil
}

// decodeMember decodes one present member into fv.
func decodeMember(raw cbor.RawMessage, path string, f schemaField, fv reflect.Value) error {
	switch f.kind {
	case kindObject:
		return decodeStruct(raw, path, fv.Addr().Interface())
	case kindObjectPtr:
		p := reflect.New(f.elem)
		if err := decodeStruct(raw, path, p.Interface()); err != nil {
			return err
		}
		fv.Set(p)
		return nil
	case kindObjectSlice:
		var items []cbor.RawMessage
		if err := unmarshal(path, raw, &items); err != nil {
			return err
		}
		out := reflect.MakeSlice(fv.Type(), len(items), len(items))
		for i, it := range items {
			if err := decodeStruct(it, fmt.Sprintf("%s[%d]", path, i), out.Index(i).Addr().Interface()); err != nil {
				return err
			}
		}
		fv.Set(out)
		return nil
	}
	if err := unmarshal(path, raw, fv.Addr().Interface()); err != nil {
		return err
	}
	if !f.required && isEmpty(fv) {
		return ferr(path, CodeBadValue, "optional member present but empty (an encoder omits it)")
	}
	return nil
}

// isEmpty reports an empty text, byte string, array or map.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String, reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}
