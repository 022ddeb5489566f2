package server

import (
	"os"
	"strings"
	"testing"
)

// conformance/README.md lists every code the HTTP layer can send.
func TestConformanceReadmeListsServerCodes(t *testing.T) {
	b, err := os.ReadFile("../../conformance/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range codes {
		if code := (&Error{Code: c}).ProblemCode(); !strings.Contains(string(b), "| `"+code+"` |") {
			t.Errorf("conformance/README.md has no row for %s", code)
		}
	}
}
