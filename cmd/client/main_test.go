package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConformanceCommand(t *testing.T) {
	files, _ := filepath.Glob("../../conformance/vectors/*.json")
	var out, errb bytes.Buffer
	if code := run(append([]string{"conformance", "vectors"}, files...), &out, &errb); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "PASS validate/reject-relayed-from-another-connection") || !strings.Contains(out.String(), " 0 failed") {
		t.Fatalf("output:\n%s", out.String())
	}
	// A broken vector file fails with exit 1 and says why.
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"seatrx-vectors/v1","kind":"request","cases":[{"name":"x","description":"","inputs":{"role":"server","context":"00","extensions":[]},"expected":{"request":"00"}}]}`), 0o644)
	out.Reset()
	if code := run([]string{"conformance", "vectors", bad}, &out, &errb); code != 1 || !strings.Contains(out.String(), "FAIL request/x:") {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	if code := run([]string{"nope"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}
