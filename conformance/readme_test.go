package conformance

import (
	"os"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

// README.md lists every code expat and tlsbind can report, in the form a
// peer sees it.
func TestReadmeListsEveryCode(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, c := range expat.Codes() {
		if code := (&expat.Error{Code: c}).ProblemCode(); !strings.Contains(doc, "| `"+code+"` |") {
			t.Errorf("README.md has no row for %s", code)
		}
	}
	for _, c := range tlsbind.Codes() {
		if code := (&tlsbind.Error{Code: c}).ProblemCode(); !strings.Contains(doc, "| `"+code+"` |") {
			t.Errorf("README.md has no row for %s", code)
		}
	}
}

// README.md lists every credential code.
func TestReadmeListsCredentialCodes(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range credential.Codes {
		if code := (&credential.Error{Code: c}).ProblemCode(); !strings.Contains(string(b), "| `"+code+"` |") {
			t.Errorf("README.md has no row for %s", code)
		}
	}
}
