package conformance

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVectorFiles runs every published vector file.
func TestVectorFiles(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("vectors", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d vector files, want at least 5", len(files))
	}
	total := 0
	for _, path := range files {
		f, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range f.Run() {
			total++
			if r.Err != nil {
				t.Errorf("%s: FAIL %s: %v", path, r.Name, r.Err)
			}
		}
	}
	t.Logf("%d cases in %d files", total, len(files))
}

func TestLoadRejectsBadFiles(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"schema", `{"schema":"x","kind":"request","cases":[]}`, "schema"},
		{"future schema", `{"schema":"seatrx-vectors/v3","kind":"request","cases":[]}`, "schema"},
		{"kind", `{"schema":"seatrx-vectors/v2","kind":"nope","cases":[]}`, "unknown kind"},
		{"unknown field", `{"schema":"seatrx-vectors/v2","kind":"request","cases":[],"extra":1}`, "unknown field"},
		{"name", `{"schema":"seatrx-vectors/v2","kind":"request","cases":[{"name":"Bad Name","inputs":{},"expected":{}}]}`, "kebab-case"},
		{"duplicate", `{"schema":"seatrx-vectors/v2","kind":"request","cases":[{"name":"a","inputs":{},"expected":{}},{"name":"a","inputs":{},"expected":{}}]}`, "duplicate"},
		{"missing expected", `{"schema":"seatrx-vectors/v2","kind":"request","cases":[{"name":"a","inputs":{}}]}`, "required"},
		{"v1 error not a string", `{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"a","inputs":{},"expected":{"error":1}}]}`, "not a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want error containing %q", err, tc.want)
			}
		})
	}
}

// A vector whose expectation is wrong must FAIL, with a reason.
func TestRunnerReportsMismatch(t *testing.T) {
	f, err := Load(strings.NewReader(`{"schema":"seatrx-vectors/v2","kind":"request","cases":[
	 {"name":"wrong-expectation","description":"","inputs":{"role":"server","context":"00","extensions":[{"type":13,"data":"00020807"}]},"expected":{"request":"00"}},
	 {"name":"wrong-error","description":"","inputs":{"role":"client","request":"0d0000080000050000000000"},"expected":{"error":"expat.bad_finished"}},
	 {"name":"bare-code-in-v2","description":"","inputs":{"role":"client","request":"0d0000080000050000000000"},"expected":{"error":"wrong_direction"}},
	 {"name":"wrong-namespace","description":"","inputs":{"role":"client","request":"0d0000080000050000000000"},"expected":{"error":"receipt.wrong_direction"}},
	 {"name":"uppercase-hex","description":"","inputs":{"role":"server","context":"AB","extensions":[]},"expected":{"request":"00"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Run() {
		if r.Err == nil {
			t.Errorf("%s passed, want FAIL", r.Name)
		}
	}
}

// A v1 file's bare codes are read in its kind's namespace; the same case in
// v2 needs the full code.
func TestSchemaV1CodesGetTheKindsNamespace(t *testing.T) {
	const cases = `"cases":[{"name":"wrong-direction","description":"","inputs":{"role":"client","request":"0d0000080000050000000000"},"expected":{"error":%q}}]}`
	for _, tc := range []struct {
		schema, code string
		pass         bool
	}{
		{SchemaV1, "wrong_direction", true},
		{Schema, "expat.wrong_direction", true},
		{Schema, "wrong_direction", false},
		{SchemaV1, "expat.wrong_direction", false}, // v1 codes are bare: this reads as expat.expat.wrong_direction
	} {
		f, err := Load(strings.NewReader(fmt.Sprintf(`{"schema":%q,"kind":"request",`+cases, tc.schema, tc.code)))
		if err != nil {
			t.Fatal(err)
		}
		if res := f.Run(); (res[0].Err == nil) != tc.pass {
			t.Errorf("%s %q: pass=%v, want %v (%v)", tc.schema, tc.code, res[0].Err == nil, tc.pass, res[0].Err)
		}
	}
}
