package handshake

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func TestSignVerifyEveryScheme(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	msg := []byte("content a CertificateVerify signs")
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		scheme uint16
	}{
		{"ecdsa p256", p256, ECDSAWithP256AndSHA256},
		{"ecdsa p384", p384, ECDSAWithP384AndSHA384},
		{"rsa-pss sha256", rk, PSSWithSHA256},
		{"rsa-pss sha384", rk, PSSWithSHA384},
		{"ed25519", ed, Ed25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := Sign(tc.key, tc.scheme, msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !Verify(tc.key.Public(), tc.scheme, msg, sig) {
				t.Fatal("own signature does not verify")
			}
			if Verify(tc.key.Public(), tc.scheme, append(bytes.Clone(msg), 0), sig) {
				t.Fatal("signature verifies over another message")
			}
			// The same signature claimed under another scheme never verifies.
			for _, other := range []uint16{ECDSAWithP256AndSHA256, ECDSAWithP384AndSHA384, PSSWithSHA256, PSSWithSHA384, Ed25519, 0x0401} {
				if other != tc.scheme && Verify(tc.key.Public(), other, msg, sig) {
					t.Fatalf("verifies under scheme 0x%04x", other)
				}
			}
		})
	}
}

func TestDeriveKeysLabels(t *testing.T) {
	var labels []string
	export := func(label string, ctx []byte, n int) ([]byte, error) {
		if len(ctx) != 0 || n != sha256.Size {
			t.Fatalf("label %q: context %x, length %d; want empty, %d", label, ctx, n, sha256.Size)
		}
		labels = append(labels, label)
		return bytes.Repeat([]byte{byte(len(labels))}, n), nil
	}
	k, err := DeriveKeys(export, crypto.SHA256, "client")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"EXPORTER-client authenticator handshake context", "EXPORTER-client authenticator finished key"}
	if len(labels) != 2 || labels[0] != want[0] || labels[1] != want[1] {
		t.Fatalf("labels %q, want %q", labels, want)
	}
	if k.HandshakeContext[0] != 1 || k.FinishedKey[0] != 2 {
		t.Fatal("handshake context and finished key swapped")
	}
}

func TestSignedContentLayout(t *testing.T) {
	k := Keys{Hash: crypto.SHA256, HandshakeContext: []byte("hc"), FinishedKey: []byte("fk")}
	got := k.SignedContent([]byte("req"), []byte("cert"))
	th := sha256.Sum256([]byte("hcreqcert"))
	want := append(append(append(bytes.Repeat([]byte{0x20}, 64), "Exported Authenticator"...), 0), th[:]...)
	if !bytes.Equal(got, want) {
		t.Fatalf("signed content\n got %x\nwant %x", got, want)
	}
}

func TestMessageTooLong(t *testing.T) {
	if _, err := Message(TypeFinished, func(b *cryptobyte.Builder) { b.AddBytes(make([]byte, 1<<24)) }); err == nil {
		t.Fatal("a body beyond the uint24 length was framed")
	}
}
