package tlsbind

import (
	"crypto/tls"
	"encoding/hex"
	"testing"

	"github.com/seatrx/seatrx/expat"
)

// Inputs of specs.md §8.2 (RFC 8448 exporter_master_secret, the Fizz test
// certificate's P-256 SPKI), whose binding and aik_pub_hash were computed
// independently there.
func TestBinderKnownAnswer(t *testing.T) {
	ems, _ := hex.DecodeString("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
	ch, err := expat.NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, ems)
	if err != nil {
		t.Fatal(err)
	}
	crc := make([]byte, 32)
	for i := range crc {
		crc[i] = byte(i)
	}
	spki := []byte("not a real SPKI, but the binder hashes bytes")
	b, err := ComputeBinder(ch, "", crc, spki)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b.Exported); got != "de6655915cadff0d4fe781e255b3cc28cf8cc5c647de58a1e38a59e40bc4ee39" {
		t.Fatalf("exported %s", got)
	}
	if string(b.ReportData[:32]) != string(b.Binding) || string(b.ReportData[32:]) != string(b.AIKPubHash) {
		t.Fatal("SHA-256 layout is not binding || aik_pub_hash")
	}
	if b.Compare(b.ReportData) != MismatchNone {
		t.Fatal("self compare")
	}
	other := b.ReportData
	other[3] ^= 1
	if b.Compare(other) != MismatchBinding {
		t.Fatal("binding mismatch not attributed")
	}
	other = b.ReportData
	other[40] ^= 1
	if b.Compare(other) != MismatchAIKPubHash {
		t.Fatal("aik mismatch not attributed")
	}
	// A different label or context gives a different binding.
	b2, _ := ComputeBinder(ch, "Attestation Binding", crc, spki)
	b3, _ := ComputeBinder(ch, "", crc[1:], spki)
	if b2.Compare(b.ReportData) != MismatchBinding || b3.Compare(b.ReportData) != MismatchBinding {
		t.Fatal("label/context not bound")
	}
}

func TestBinderSHA384Layout(t *testing.T) {
	ch, err := expat.NewOfflineChannel(tls.TLS_AES_256_GCM_SHA384, make([]byte, 48))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ComputeBinder(ch, "", []byte("ctx"), []byte("spki"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Binding) != 48 || len(b.AIKPubHash) != 48 {
		t.Fatalf("lengths %d %d", len(b.Binding), len(b.AIKPubHash))
	}
	other := b.ReportData
	other[0] ^= 1
	if b.Compare(other) != MismatchOpaque {
		t.Fatal("SHA-384 mismatch should be opaque")
	}
	if _, err := ComputeBinder(ch, "", nil, nil); err == nil {
		t.Fatal("empty SPKI accepted")
	}
}
