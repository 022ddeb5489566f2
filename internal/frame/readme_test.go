package frame

import (
	"os"
	"strings"
	"testing"
)

// conformance/README.md lists every framing code, and docs/PROTOCOL.md every
// limit, in the form a peer sees them.
func TestDocsListEveryCodeAndLimit(t *testing.T) {
	readme, err := os.ReadFile("../../conformance/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Codes() {
		if code := (&Error{Code: c}).ProblemCode(); !strings.Contains(string(readme), "| `"+code+"` |") {
			t.Errorf("conformance/README.md has no row for %s", code)
		}
	}
	proto, err := os.ReadFile("../../docs/PROTOCOL.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"16,384", "262,144", "65,536"} {
		if !strings.Contains(string(proto), l) {
			t.Errorf("docs/PROTOCOL.md does not state the frame limit %s", l)
		}
	}
}
