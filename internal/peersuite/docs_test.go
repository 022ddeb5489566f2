package peersuite

import (
	"os"
	"strings"
	"testing"
)

// docs/PROTOCOL.md §12 lists every scenario and case, and
// conformance/README.md every code of the suite.
func TestDocsListEverything(t *testing.T) {
	proto, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Scenarios() {
		if !strings.Contains(string(proto), "| `"+s.Name+"` |") {
			t.Errorf("docs/PROTOCOL.md has no row for scenario %s", s.Name)
		}
	}
	for _, c := range Cases() {
		if !strings.Contains(string(proto), "| `"+c.Name+"` |") {
			t.Errorf("docs/PROTOCOL.md has no row for case %s", c.Name)
		}
		if c.Ref == "" {
			t.Errorf("case %s has no rule source", c.Name)
		}
	}
	readme, err := os.ReadFile("../../conformance/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes() {
		if code := (&Error{Code: c}).ProblemCode(); !strings.Contains(string(readme), "| `"+code+"` |") {
			t.Errorf("conformance/README.md has no row for %s", code)
		}
	}
}
