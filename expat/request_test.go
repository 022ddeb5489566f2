package expat

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

func TestNewRequestEncoding(t *testing.T) {
	ctx := bytes.Repeat([]byte{0xAA}, 32)
	r := mustRequest(t, Server, RequestOptions{Context: ctx, Schemes: []SignatureScheme{ECDSAWithP256AndSHA256, PSSWithSHA256, Ed25519}, OfferCMW: true})
	// specs.md §3.2 example layout: 0d 000033 | 20 ctx | 0010 | 000d 0008 0006 0403 0804 0807 | ff00 0000
	want := "0d000033" + "20" + hex.EncodeToString(ctx) + "0010" + "000d0008000604030804" + "0807" + "ff000000"
	if got := hex.EncodeToString(r.Raw); got != want {
		t.Fatalf("request\n got %s\nwant %s", got, want)
	}
	if r.Type() != TypeCertificateRequest || !r.OffersCMW(0) || r.OffersCMW(0xFFAA) {
		t.Fatalf("type %d offers %v", r.Type(), r.OffersCMW(0))
	}
	c := mustRequest(t, Client, RequestOptions{})
	if c.Type() != TypeClientCertificateRequest || len(c.Context) != DefaultContextSize {
		t.Fatalf("client request type %d ctx %d bytes", c.Type(), len(c.Context))
	}
	if bytes.Equal(c.Context, mustRequest(t, Client, RequestOptions{}).Context) {
		t.Fatal("two random contexts are equal")
	}
	// Optional extensions round-trip through the parser.
	full := mustRequest(t, Client, RequestOptions{
		CertificateAuthorities: [][]byte{{0x30, 0x00}},
		OIDFilters:             []OIDFilter{{OID: []byte{0x55, 0x1d, 0x25}, Values: []byte{0x30, 0x00}}},
		Extra:                  []Extension{{Type: 0xfafa, Data: []byte("unknown is kept")}},
	})
	if !full.Offers(ExtCertificateAuthorities) || !full.Offers(ExtOIDFilters) || !full.Offers(0xfafa) {
		t.Fatalf("extensions lost: %+v", full.Extensions)
	}
}

// rawRequest encodes a request message with arbitrary type and extensions.
func rawRequest(typ uint8, ctx []byte, exts ...Extension) []byte {
	var b cryptobyte.Builder
	b.AddUint8(typ)
	b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddUint16(e.Type)
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(e.Data) })
			}
		})
	})
	return b.BytesOrPanic()
}

func TestParseRequestMalformed(t *testing.T) {
	sigalgs := Extension{Type: ExtSignatureAlgorithms, Data: []byte{0, 2, 0x08, 0x07}}
	ok := rawRequest(TypeCertificateRequest, []byte("ctx"), sigalgs)
	if _, err := ParseRequest(ok, Server, 0); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	tests := []struct {
		name   string
		raw    []byte
		sender Role
		code   Code
	}{
		{"empty", nil, Server, "decode_error"},
		{"truncated header", ok[:3], Server, "decode_error"},
		{"length beyond data", ok[:len(ok)-1], Server, "bad_length"},
		{"trailing byte", append(bytes.Clone(ok), 0), Server, "trailing_data"},
		{"too large", make([]byte, MaxRequestSize+1), Server, "too_large"},
		{"type 13 from a client", ok, Client, "wrong_direction"},
		{"type 17 from a server", rawRequest(TypeClientCertificateRequest, nil, sigalgs), Server, "wrong_direction"},
		{"not a request", rawRequest(TypeCertificate, nil, sigalgs), Server, "unexpected_message"},
		{"no signature_algorithms", rawRequest(TypeCertificateRequest, []byte("c"), Extension{Type: DefaultCMWExtensionType}), Server, "missing_signature_algorithms"},
		{"no extensions", rawRequest(TypeCertificateRequest, []byte("c")), Server, "missing_signature_algorithms"},
		{"odd scheme list", rawRequest(TypeCertificateRequest, nil, Extension{Type: ExtSignatureAlgorithms, Data: []byte{0, 3, 8, 7, 1}}), Server, "bad_extension"},
		{"empty scheme list", rawRequest(TypeCertificateRequest, nil, Extension{Type: ExtSignatureAlgorithms, Data: []byte{0, 0}}), Server, "bad_extension"},
		{"scheme list trailing", rawRequest(TypeCertificateRequest, nil, Extension{Type: ExtSignatureAlgorithms, Data: []byte{0, 2, 8, 7, 0}}), Server, "bad_extension"},
		{"bad signature_algorithms_cert", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: ExtSignatureAlgorithmsCert, Data: []byte{0}}), Server, "bad_extension"},
		{"duplicate extension", rawRequest(TypeCertificateRequest, nil, sigalgs, sigalgs), Server, "duplicate_extension"},
		{"cmw offer not empty", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: DefaultCMWExtensionType, Data: []byte{0, 1, 0}}), Server, "cmw_offer_not_empty"},
		{"key_share not allowed", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: 51}), Server, "extension_not_allowed"},
		{"early_data not allowed", rawRequest(TypeClientCertificateRequest, nil, sigalgs, Extension{Type: 42}), Client, "extension_not_allowed"},
		{"server_name in CertificateRequest", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: ExtServerName}), Server, "extension_not_allowed"},
		{"bad certificate_authorities", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: ExtCertificateAuthorities, Data: []byte{0, 1, 0}}), Server, "bad_extension"},
		{"bad oid_filters", rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: ExtOIDFilters, Data: []byte{0, 2, 0, 0}}), Server, "bad_extension"},
		{"truncated extension", []byte{13, 0, 0, 6, 0, 0, 3, 0, 13, 0}, Server, "decode_error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.raw, tc.sender, 0)
			wantCode(t, err, tc.code)
		})
	}
	// server_name is fine in a ClientCertificateRequest; unknown extensions are ignored.
	if _, err := ParseRequest(rawRequest(TypeClientCertificateRequest, nil, sigalgs, Extension{Type: ExtServerName, Data: []byte{1}}, Extension{Type: 0x1234, Data: []byte{9}}), Client, 0); err != nil {
		t.Fatalf("server_name in CCR: %v", err)
	}
	// With another cmw codepoint configured, 0xFF00 is just an unknown extension.
	if _, err := ParseRequest(rawRequest(TypeCertificateRequest, nil, sigalgs, Extension{Type: DefaultCMWExtensionType, Data: []byte{1}}), Server, 0xFFAA); err != nil {
		t.Fatalf("other codepoint: %v", err)
	}
	if _, err := NewRequest(Server, RequestOptions{Context: make([]byte, 256)}); !errors.Is(err, ErrBadLength) {
		t.Fatalf("256-byte context: %v", err)
	}
	if _, err := NewRequest(Server, RequestOptions{Schemes: []SignatureScheme{}}); !errors.Is(err, ErrMissingSigAlgs) {
		t.Fatalf("no schemes: %v", err)
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker()
	a, b := []byte("a"), []byte("b")
	if err := tr.Issue(a); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tr.Issue(a), "context_reused")
	wantCode(t, tr.Answer(a), "context_reused") // CR and CCR contexts are disjoint
	if !tr.Outstanding(a) {
		t.Fatal("a not outstanding")
	}
	if err := tr.Consume(a); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tr.Consume(a), "context_reused")
	wantCode(t, tr.Consume(b), "context_unknown")
	if err := tr.Answer(b); err != nil {
		t.Fatal(err)
	}
	wantCode(t, tr.Answer(b), "context_reused")
	wantCode(t, tr.Consume(b), "context_unknown")
	wantCode(t, tr.Spontaneous(b), "context_reused")
}
