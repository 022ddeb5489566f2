package datagram

import (
	"os"
	"strings"
	"testing"
)

// conformance/README.md lists every code, and docs/PROTOCOL.md states every
// limit of the transport as a number.
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
	for _, l := range []string{"1,200", "1,024", "13-byte", "256 bytes", "16,384", "250 ms", "2 s", "30 s", "327,744", "524,288"} {
		if !strings.Contains(string(proto), l) {
			t.Errorf("docs/PROTOCOL.md does not state the DTLS limit %s", l)
		}
	}
}
