package receipt

import (
	"encoding/json"
	"testing"
)

// GeneratedVectors returns the generated cases of kind ("receipt" or
// "approval") as JSON, for the external test that runs them through package
// conformance (which imports receipt, so an internal test cannot).
func GeneratedVectors(tb testing.TB, kind string) (names []string, inputs, expected []json.RawMessage) {
	tb.Helper()
	for _, c := range corpora[kind](tb) {
		in, err := json.Marshal(c.Inputs)
		if err != nil {
			tb.Fatal(err)
		}
		exp, err := json.Marshal(c.Expected)
		if err != nil {
			tb.Fatal(err)
		}
		names, inputs, expected = append(names, c.Name), append(inputs, in), append(expected, exp)
	}
	return names, inputs, expected
}
