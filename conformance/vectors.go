// Package conformance holds seatrx's published test vectors and the runner
// that checks them. The same JSON schema ("seatrx-vectors/v2", documented in
// README.md beside this file) is how other implementations of RFC 9261,
// draft-fossati-seat-expat and the seatrx receipt profile publish vectors for
// us and read ours. Expected errors are namespaced wire codes
// ("expat.bad_signature"); files of the older v1 schema, whose codes carry no
// namespace, are still read.
package conformance

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// Schema is the schema identifier of the vector files seatrx writes.
const Schema = "seatrx-vectors/v2"

// SchemaV1 is the previous schema, still accepted: its "error" members are
// bare codes, read as the kind's namespace + "." + code (README.md, "Changes
// from v1").
const SchemaV1 = "seatrx-vectors/v1"

// MaxFileSize bounds a vector file.
const MaxFileSize = 16 << 20

// File is one vector file: a kind and its cases.
type File struct {
	Schema string `json:"schema"`
	Kind   string `json:"kind"`
	Cases  []Case `json:"cases"`
}

// Case is one vector. Expected is either the kind's expected outputs or
// {"error": CODE}.
type Case struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Inputs      json.RawMessage `json:"inputs"`
	Expected    json.RawMessage `json:"expected"`
}

// Result is the outcome of one case: Err is nil on PASS.
type Result struct {
	Name string
	Err  error
}

// Runner checks the cases of one kind. An expected error reaches it as a
// full namespaced code, whatever the file's schema.
type Runner func(inputs, expected json.RawMessage) error

type registered struct {
	run       Runner
	namespace string // of the kind's error codes, for v1 files
}

var runners = map[string]registered{}

// Register adds the runner for kind, whose errors are codes of namespace
// (expat, attest, receipt, ...); packages layered above conformance (or its
// own files) register their kinds at init.
func Register(kind, namespace string, r Runner) { runners[kind] = registered{r, namespace} }

// Kinds returns the registered kinds.
func Kinds() []string {
	out := make([]string, 0, len(runners))
	for k := range runners {
		out = append(out, k)
	}
	return out
}

var nameRE = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Load reads and checks the structure of a vector file: schema, known kind,
// unique kebab-case names, inputs and expected present.
func Load(r io.Reader) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("conformance: read: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("conformance: file exceeds %d bytes", MaxFileSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("conformance: decode: %w", err)
	}
	if f.Schema != Schema && f.Schema != SchemaV1 {
		return nil, fmt.Errorf("conformance: schema %q, want %q (or %q)", f.Schema, Schema, SchemaV1)
	}
	reg, ok := runners[f.Kind]
	if !ok {
		return nil, fmt.Errorf("conformance: unknown kind %q (known: %s)", f.Kind, strings.Join(Kinds(), ", "))
	}
	seen := map[string]bool{}
	for i, c := range f.Cases {
		switch {
		case !nameRE.MatchString(c.Name):
			return nil, fmt.Errorf("conformance: case %d: name %q is not kebab-case", i, c.Name)
		case seen[c.Name]:
			return nil, fmt.Errorf("conformance: case %d: duplicate name %q", i, c.Name)
		case len(c.Inputs) == 0 || len(c.Expected) == 0:
			return nil, fmt.Errorf("conformance: case %q: inputs and expected are required", c.Name)
		}
		seen[c.Name] = true
		if f.Schema == SchemaV1 {
			exp, err := namespaceError(c.Expected, reg.namespace)
			if err != nil {
				return nil, fmt.Errorf("conformance: case %q: %w", c.Name, err)
			}
			f.Cases[i].Expected = exp
		}
	}
	return &f, nil
}

// namespaceError rewrites a v1 {"error": CODE} expectation to the full code
// namespace.CODE; other expectations are returned unchanged.
func namespaceError(expected json.RawMessage, namespace string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if json.Unmarshal(expected, &m) != nil {
		return expected, nil // not an object: the runner reports it
	}
	raw, ok := m["error"]
	if !ok {
		return expected, nil
	}
	var code string
	if err := json.Unmarshal(raw, &code); err != nil {
		return nil, fmt.Errorf(`"error" is not a string: %w`, err)
	}
	full, err := json.Marshal(namespace + "." + code)
	if err != nil {
		return nil, err
	}
	m["error"] = full
	return json.Marshal(m)
}

// LoadFile is Load on a path.
func LoadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("conformance: %w", err)
	}
	defer fh.Close()
	f, err := Load(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Run checks every case of f.
func (f *File) Run() []Result {
	run := runners[f.Kind].run
	out := make([]Result, len(f.Cases))
	for i, c := range f.Cases {
		out[i] = Result{Name: c.Name, Err: runCase(run, c)}
	}
	return out
}

func runCase(run Runner, c Case) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("runner panicked: %v", r)
		}
	}()
	return run(c.Inputs, c.Expected)
}

// Hex is a byte string written as lowercase hex in vector files.
type Hex []byte

// MarshalJSON writes lowercase hex.
func (h Hex) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// UnmarshalJSON accepts lowercase hex only, so that files stay canonical.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("byte string must be a JSON string of lowercase hex: %w", err)
	}
	if strings.ToLower(s) != s {
		return fmt.Errorf("byte string %.16q... is not lowercase hex", s)
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return fmt.Errorf("byte string: %w", err)
	}
	*h = v
	return nil
}

// problemCode returns the namespaced wire code of err ("expat.bad_length"),
// found with errors.As, or "" if nothing in err's chain carries one.
func problemCode(err error) string {
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

// expectedError is the {"error": CODE} form of Expected.
type expectedError struct {
	Error string `json:"error"`
}

// wantError returns the expected error code, or "" if Expected is an output.
func wantError(expected json.RawMessage) string {
	var e expectedError
	if json.Unmarshal(expected, &e) == nil {
		return e.Error
	}
	return ""
}

// decodeStrict decodes JSON into v, rejecting unknown fields (a typo in a
// vector must not silently drop an input).
func decodeStrict(data json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// checkError compares an outcome's namespaced code with the expected one.
func checkError(want string, code string, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("expected error %q, got success", want)
	case code != want:
		return fmt.Errorf("expected error %q, got %q (%v)", want, code, err)
	}
	return nil
}

var errMismatch = errors.New("output differs from expected")

// settle handles the two forms of "expected": with {"error": CODE} it decides
// the case from the operation's error and code; otherwise a failed operation
// fails the case, and the expected outputs are decoded into e for the caller
// to compare. done reports whether the case is already decided (by res).
func settle[T any](expected json.RawMessage, code string, err error, e *T) (done bool, res error) {
	if want := wantError(expected); want != "" {
		return true, checkError(want, code, err)
	}
	if err != nil {
		return true, err
	}
	if derr := decodeStrict(expected, e); derr != nil {
		return true, derr
	}
	return false, nil
}
