package conformance

import (
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
		{"kind", `{"schema":"seatrx-vectors/v1","kind":"nope","cases":[]}`, "unknown kind"},
		{"unknown field", `{"schema":"seatrx-vectors/v1","kind":"request","cases":[],"extra":1}`, "unknown field"},
		{"name", `{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"Bad Name","inputs":{},"expected":{}}]}`, "kebab-case"},
		{"duplicate", `{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"a","inputs":{},"expected":{}},{"name":"a","inputs":{},"expected":{}}]}`, "duplicate"},
		{"missing expected", `{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"a","inputs":{}}]}`, "required"},
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
	f, err := Load(strings.NewReader(`{"schema":"seatrx-vectors/v1","kind":"request","cases":[
	 {"name":"wrong-expectation","description":"","inputs":{"role":"server","context":"00","extensions":[{"type":13,"data":"00020807"}]},"expected":{"request":"00"}},
	 {"name":"wrong-error","description":"","inputs":{"role":"client","request":"0d0000080000050000000000"},"expected":{"error":"bad_finished"}},
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
