package receipt_test

import (
	"testing"

	"github.com/seatrx/seatrx/conformance"
	"github.com/seatrx/seatrx/receipt"
)

// TestCorpusRuns runs every generated case, before it is written to a file,
// through the published runner (package conformance).
func TestCorpusRuns(t *testing.T) {
	for _, kind := range []string{conformance.KindReceipt, conformance.KindApproval} {
		names, inputs, expected := receipt.GeneratedVectors(t, kind)
		f := &conformance.File{Schema: conformance.Schema, Kind: kind}
		for i := range names {
			f.Cases = append(f.Cases, conformance.Case{Name: names[i], Description: names[i], Inputs: inputs[i], Expected: expected[i]})
		}
		for _, r := range f.Run() {
			if r.Err != nil {
				t.Errorf("%s/%s: %v", kind, r.Name, r.Err)
			}
		}
	}
}
