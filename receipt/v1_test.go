package receipt_test

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/seatrx/seatrx/conformance"
	"github.com/seatrx/seatrx/receipt"
)

// Receipts of profile v1 are verified for years after v2 replaced them:
// conformance/vectors/receipt-v1.json is the v1 corpus as published before
// v2 (frozen, never regenerated), and every case still passes, positive and
// negative, with the same codes. One of its receipts is also checked here
// through the Go API: it is v1 and its snapshot has no v2 member.
func TestProfileV1ReceiptsStillVerify(t *testing.T) {
	f, err := conformance.LoadFile("../conformance/vectors/receipt-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Run() {
		if r.Err != nil {
			t.Errorf("v1 case %s: %v", r.Name, r.Err)
		}
	}
	var in struct {
		Receipt string `json:"receipt"`
	}
	for _, c := range f.Cases {
		if c.Name != "ok-ed25519-online" {
			continue
		}
		if err := json.Unmarshal(c.Inputs, &in); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := hex.DecodeString(in.Receipt)
	if err != nil || len(raw) == 0 {
		t.Fatalf("no v1 receipt in the frozen corpus: %v", err)
	}
	r, err := receipt.ParseReceipt(raw)
	if err != nil {
		t.Fatal(err)
	}
	s := r.ContextSnapshot
	if r.Profile != receipt.ProfileIDV1 || s == nil || s.Transport != "" || s.BinderProfile != "" || s.BinderLabel != "" {
		t.Fatalf("profile %s, snapshot %+v", r.Profile, s)
	}
}
