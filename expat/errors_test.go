package expat

import (
	"errors"
	"fmt"
	"regexp"
	"testing"
)

func TestProblemCodes(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range allErrors {
		pc := e.ProblemCode()
		if pc != "expat."+string(e.Code) || seen[pc] {
			t.Errorf("%s: problem code %q (duplicate %v)", e.Code, pc, seen[pc])
		}
		seen[pc] = true
		if _, ok := alertFor[e.Code]; !ok {
			t.Errorf("%s: no TLS alert", e.Code)
		}
	}
	if len(Codes()) != len(allErrors) || len(alertFor) != len(allErrors) {
		t.Fatalf("%d codes, %d errors, %d alerts", len(Codes()), len(allErrors), len(alertFor))
	}
	// A detailed, wrapped copy keeps its code for errors.Is, errors.As and the wire.
	err := fmt.Errorf("layer above: %w", ErrBadFinished.with("detail"))
	var e *Error
	if !errors.Is(err, ErrBadFinished) || errors.Is(err, ErrBadSignature) || !errors.As(err, &e) || e.ProblemCode() != "expat.bad_finished" {
		t.Fatalf("wrapped error lost its code: %v", err)
	}
}

// rfc9261Sections are the section numbers RFC 9261 has (its table of
// contents); a rule citing another number cites a section that does not exist.
var rfc9261Sections = map[string]bool{
	"1": true, "2": true, "3": true, "4": true, "5": true, "5.1": true, "5.2": true, "5.2.1": true,
	"5.2.2": true, "5.2.3": true, "5.2.4": true, "6": true, "7": true, "7.1": true, "7.2": true,
	"7.3": true, "7.4": true, "8": true, "9": true,
}

func TestRulesCiteExistingRFC9261Sections(t *testing.T) {
	cite := regexp.MustCompile(`RFC 9261 §([0-9.]+)((?: and §[0-9.]+|; §[0-9.]+)*)`)
	more := regexp.MustCompile(`§([0-9.]+)`)
	for _, e := range allErrors {
		for _, m := range cite.FindAllStringSubmatch(e.Rule, -1) {
			secs := []string{m[1]}
			for _, x := range more.FindAllStringSubmatch(m[2], -1) {
				secs = append(secs, x[1])
			}
			for _, s := range secs {
				if !rfc9261Sections[s] {
					t.Errorf("%s cites RFC 9261 §%s, which does not exist: %q", e.Code, s, e.Rule)
				}
			}
		}
	}
}
