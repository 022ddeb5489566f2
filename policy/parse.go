package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is matched (errors.Is) by every error Parse, Load and Validate
// return for a bad policy.
var ErrInvalid = errors.New("invalid policy")

// Error reports one problem in a policy: the file, the line (0 when unknown),
// the dotted key path (e.g. "snp.min_tcb.snp", "receipts.approvers[1].id") and
// what is wrong. Err is the underlying error, if any.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
	Err  error
}

// Error renders "file:line: key: message", leaving out what is unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap lets errors.Is match ErrInvalid and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalid, e.Err}
	}
	return []error{ErrInvalid}
}

// Load reads and parses the policy file at path (at most MaxFileSize bytes).
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("policy: read %s: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes a YAML or JSON policy, fills in defaults and validates it.
// name is used in error messages ("policy.yaml:7: snp.min_tcb.snp: ...").
func Parse(data []byte, name string) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file exceeds %d bytes", MaxFileSize)}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(name, err)
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return nil, &Error{File: name, Msg: "empty policy"}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Content[0].Line, Msg: "policy must be a mapping (YAML) or object (JSON)"}
	}
	keys := indexKeys(&root)
	if key, line, ok := unknownKey(&root); ok {
		return nil, &Error{File: name, Line: line, Key: key, Msg: "unknown key"}
	}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return nil, decodeError(name, err, keys)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: name, Line: extra.Line, Msg: "more than one YAML document"}
	}
	p.ApplyDefaults()
	if err := p.Validate(); err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			pe.File = name
			pe.Line = keys.line(pe.Key)
			return nil, pe
		}
		return nil, &Error{File: name, Msg: err.Error(), Err: err}
	}
	return &p, nil
}

// keyIndex maps dotted key paths to their line, and lines back to the
// deepest key on them, so that every error can name both.
type keyIndex struct {
	lines  map[string]int
	byLine map[int]string
}

func (k keyIndex) line(key string) int {
	for key != "" {
		if l, ok := k.lines[key]; ok {
			return l
		}
		// fall back to the parent ("a.b[2]" -> "a.b", "a.b" -> "a")
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

func indexKeys(root *yaml.Node) keyIndex {
	k := keyIndex{lines: map[string]int{}, byLine: map[int]string{}}
	var walk func(n *yaml.Node, path string, depth int)
	walk = func(n *yaml.Node, path string, depth int) {
		if depth > 32 { // policies are shallow; do not follow pathological nesting
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				k.lines[p] = n.Content[i].Line
				k.byLine[n.Content[i].Line] = p
				walk(n.Content[i+1], p, depth+1)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				k.lines[p] = c.Line
				if _, ok := k.byLine[c.Line]; !ok || c.Kind == yaml.ScalarNode {
					k.byLine[c.Line] = p
				}
				walk(c, p, depth+1)
			}
		}
	}
	walk(root, "", 0)
	return k
}

// yamlLineRe splits yaml.v3's "line N: ..." messages, its only way of saying
// where a problem is. Only the position is read from the text: what kind of
// problem it is comes from the error's type, and unknown keys are found
// before decoding (unknownKey).
var yamlLineRe = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxError(name string, err error) error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		l, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: l, Msg: m[2], Err: err}
	}
	return &Error{File: name, Msg: strings.TrimPrefix(msg, "yaml: "), Err: err}
}

// decodeError turns yaml.v3's "line N: ..." messages into Errors naming the key.
func decodeError(name string, err error, keys keyIndex) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return syntaxError(name, err)
	}
	// Report the first problem; the file is fixed one problem at a time.
	m := yamlLineRe.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return &Error{File: name, Msg: te.Errors[0], Err: err}
	}
	l, _ := strconv.Atoi(m[1])
	return &Error{File: name, Line: l, Key: keys.byLine[l], Msg: m[2], Err: err}
}
