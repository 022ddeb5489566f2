package conformance

import (
	"encoding/json"
	"testing"
)

func TestReceiptRunnerRejectsBadInput(t *testing.T) {
	tests := []struct {
		name, kind     string
		inputs, expect string
	}{
		{"unknown-op", KindReceipt, `{"op":"mint"}`, `{}`},
		{"approval-kind-redeem", KindApproval, `{"op":"redeem"}`, `{}`},
		{"unknown-input-member", KindReceipt, `{"op":"verify","color":1}`, `{}`},
		{"uppercase-hex", KindReceipt, `{"op":"verify","receipt":"D2"}`, `{}`},
		{"unknown-expected-member", KindReceipt, `{"op":"verify","mode":"audit","receipt":"00"}`, `{"errror":"receipt.malformed"}`},
		{"wrong-expected-error", KindReceipt, `{"op":"verify","mode":"audit","receipt":"00"}`, `{"error":"receipt.replayed"}`},
		{"bare-v1-code", KindReceipt, `{"op":"verify","mode":"audit","receipt":"00"}`, `{"error":"malformed"}`},
		{"short-seed", KindReceipt, `{"op":"sign","seed":"00"}`, `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := runReceiptVector(tc.kind, json.RawMessage(tc.inputs), json.RawMessage(tc.expect)); err == nil {
				t.Fatal("the runner accepted a bad case")
			}
		})
	}
	// The same malformed receipt with the namespaced code passes.
	if err := runReceiptVector(KindReceipt, json.RawMessage(`{"op":"verify","mode":"audit","receipt":"00"}`), json.RawMessage(`{"error":"receipt.malformed"}`)); err != nil {
		t.Fatal(err)
	}
}
