package client

import (
	"strings"
	"testing"

	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

func TestCheckOwnReceipt(t *testing.T) {
	proof := &tlsbind.Proof{Binder: &tlsbind.Binder{Binding: []byte{1, 2, 3}}}
	requested := map[string]any{"op": "deploy", "n": 3}
	enc, err := detEnc.Marshal(requested)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		action *receipt.Action
		proof  *tlsbind.Proof
		want   string
	}{
		{"ours", &receipt.Action{Binder: []byte{1, 2, 3}, Requested: enc}, proof, ""},
		{"no proof", &receipt.Action{Binder: []byte{1, 2, 3}, Requested: enc}, nil, "cannot match"},
		{"no action", nil, proof, "cannot match"},
		{"another attestation", &receipt.Action{Binder: []byte{9}, Requested: enc}, proof, "binder"},
		{"another operation", &receipt.Action{Binder: []byte{1, 2, 3}, Requested: []byte{0xa0}}, proof, "another operation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOwnReceipt(tc.action, tc.proof, requested)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
