package expat

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"testing"
)

// Exporter values derived from RFC 8448 §3 (simple 1-RTT handshake,
// TLS_AES_128_GCM_SHA256): its exporter_master_secret, and the outputs for the
// RFC 9261 labels and the seat-expat binder label, as computed independently
// in ../shared/reference/specs.md §8.2.
func TestOfflineExporterRFC8448(t *testing.T) {
	ems, _ := hex.DecodeString("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
	ch, err := NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, ems)
	if err != nil {
		t.Fatal(err)
	}
	ctx := make([]byte, 32)
	for i := range ctx {
		ctx[i] = byte(i)
	}
	tests := []struct {
		label string
		ctx   []byte
		n     int
		want  string
	}{
		{"EXPORTER-client authenticator handshake context", nil, 32, "3ce40ddfb5a8566480bb683fa63f43f1d6d52ab962854a98a3c080d81ed5631f"},
		{"EXPORTER-server authenticator handshake context", nil, 32, "b5920228102885ce3bbc879252d7c4ae80f47616cdc91456338427e7890941b0"},
		{"EXPORTER-client authenticator finished key", nil, 32, "34db53a0d817c518dc905f36e253a11271904ea43778358aaeb85d377a4fe0fb"},
		{"EXPORTER-server authenticator finished key", []byte{}, 32, "d7571ccc1577b04277765da1c875d933be15717b3ecf45d0708431fa077df54d"},
		{"Attestation", ctx, 32, "de6655915cadff0d4fe781e255b3cc28cf8cc5c647de58a1e38a59e40bc4ee39"},
		{"Attestation Binding", ctx, 64, "129a0a5242df0927d1c3cf894293f7c9b692c4fca054d90b5ab801999e76a9652b32d2b4356faad61e698eed41fd68a2015cf41cfc8a13fdb73a5bdcca63920e"},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			got, err := ch.Export(tc.label, tc.ctx, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("got %x\nwant %s", got, tc.want)
			}
		})
	}
}

func TestChannelErrors(t *testing.T) {
	if _, err := NewOfflineChannel(0x1305, make([]byte, 32)); !errors.Is(err, ErrUnsupportedSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	if _, err := NewOfflineChannel(tls.TLS_AES_256_GCM_SHA384, make([]byte, 32)); !errors.Is(err, ErrBadLength) {
		t.Fatalf("short secret for SHA-384: %v", err)
	}
	if _, err := ChannelFromTLS(&tls.ConnectionState{}); !errors.Is(err, ErrNotTLS13) {
		t.Fatalf("incomplete handshake: %v", err)
	}
	if _, err := ChannelFromTLS(&tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS12}); !errors.Is(err, ErrNotTLS13) {
		t.Fatalf("TLS 1.2: %v", err)
	}
	if _, err := (Channel{Suite: tls.TLS_AES_128_GCM_SHA256}).Export("x", nil, 1); !errors.Is(err, ErrExporter) {
		t.Fatalf("nil exporter: %v", err)
	}
}
