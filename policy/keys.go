package policy

import (
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// yamlUnmarshaler is implemented by types that read their own node (Duration).
var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// unknownKey walks the document against the Policy type and returns the
// first mapping key that names no field, with its dotted path and line. The
// decoder's KnownFields(true) refuses such keys too, but reports them only
// as text; this walk names the key without reading that text.
func unknownKey(n *yaml.Node) (key string, line int, found bool) {
	return walkKeys(n, reflect.TypeFor[Policy](), "", 0)
}

func walkKeys(n *yaml.Node, t reflect.Type, path string, depth int) (string, int, bool) {
	if depth > 32 { // policies are shallow; leave pathological nesting to the decoder
		return "", 0, false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		return "", 0, false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if k, l, ok := walkKeys(c, t, path, depth+1); ok {
				return k, l, ok
			}
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return "", 0, false // a type mismatch: the decoder reports it
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			name := n.Content[i].Value
			p := name
			if path != "" {
				p = path + "." + name
			}
			ft, ok := fields[name]
			if !ok {
				return p, n.Content[i].Line, true
			}
			if k, l, ok := walkKeys(n.Content[i+1], ft, p, depth+1); ok {
				return k, l, ok
			}
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return "", 0, false
		}
		for i, c := range n.Content {
			if k, l, ok := walkKeys(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", depth+1); ok {
				return k, l, ok
			}
		}
	}
	return "", 0, false
}

// yamlFields maps the YAML key of each exported field of struct t to its type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		m[name] = f.Type
	}
	return m
}
