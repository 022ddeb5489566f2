package expat

import (
	"bytes"
	"testing"
)

func TestValidateMalformed(t *testing.T) {
	ch := testChannel(t, 1)
	req := mustRequest(t, Server, RequestOptions{OfferCMW: true, Schemes: []SignatureScheme{ECDSAWithP256AndSHA256, Ed25519}})
	key := testKey(t, "p256")
	der := selfSigned(t, key)
	cmwExt, _ := CMWExtension(0, []byte{0xa0})
	good, err := Authenticate(ch, Client, req, &Identity{Chain: [][]byte{der}, Signer: key, FirstEntryExtensions: []Extension{cmwExt}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	split := func() (cert, cv, fin []byte) {
		msgs, err := splitAuthenticator(good)
		if err != nil {
			t.Fatal(err)
		}
		return msgs[0].raw, msgs[1].raw, msgs[2].raw
	}
	cert, cv, fin := split()
	sig := func(c []byte) []byte { return forge(t, ch, Client, req, c, key, ECDSAWithP256AndSHA256, nil) }

	tests := []struct {
		name string
		auth []byte
		req  *Request
		code Code
	}{
		{"empty input", nil, req, "unexpected_message"},
		{"trailing byte after finished", append(bytes.Clone(good), 0), req, "trailing_data"},
		{"truncated header", good[:2], req, "decode_error"},
		{"length beyond data", good[:len(good)-1], req, "bad_length"},
		{"order cv cert fin", append(append(append([]byte{}, cv...), cert...), fin...), req, "unexpected_message"},
		{"missing certificateverify", append(append([]byte{}, cert...), fin...), req, "unexpected_message"},
		{"certificate only", cert, req, "unexpected_message"},
		{"request as authenticator", req.Raw, req, "unexpected_message"},
		{"too large", make([]byte, MaxAuthenticatorSize+1), req, "too_large"},
		{"context mismatch", sig(certMsg(t, []byte("other context"), entry{der, []Extension{cmwExt}})), req, "context_mismatch"},
		{"empty certificate list", sig(certMsg(t, req.Context)), req, "empty_certificate"},
		{"empty cert_data", sig(certMsg(t, req.Context, entry{der: nil})), req, "bad_length"},
		{"garbage cert_data", sig(certMsg(t, req.Context, entry{der: []byte{0x30, 0x03, 1, 2, 3}})), req, "bad_certificate"},
		{"extension not offered", sig(certMsg(t, req.Context, entry{der, []Extension{{Type: ExtStatusRequest}}})), req, "extension_not_offered"},
		{"cmw in second entry", sig(certMsg(t, req.Context, entry{der, nil}, entry{der, []Extension{cmwExt}})), req, "cmw_not_first_entry"},
		{"duplicate extension", sig(certMsg(t, req.Context, entry{der, []Extension{cmwExt, cmwExt}})), req, "duplicate_extension"},
		{"cmw inner length wrong", sig(certMsg(t, req.Context, entry{der, []Extension{{Type: DefaultCMWExtensionType, Data: []byte{0, 5, 1}}}})), req, "cmw_malformed"},
		{"cmw empty", sig(certMsg(t, req.Context, entry{der, []Extension{{Type: DefaultCMWExtensionType, Data: []byte{0, 0}}}})), req, "cmw_malformed"},
		{"cmw trailing", sig(certMsg(t, req.Context, entry{der, []Extension{{Type: DefaultCMWExtensionType, Data: []byte{0, 1, 1, 9}}}})), req, "cmw_malformed"},
		{"cmw not offered", func() []byte {
			r2 := mustRequest(t, Server, RequestOptions{})
			return forge(t, ch, Client, r2, certMsg(t, r2.Context, entry{der, []Extension{cmwExt}}), key, ECDSAWithP256AndSHA256, nil)
		}(), nil, "extension_not_offered"},
		{"certificate trailing data", sig(fixLen(append(certMsg(t, req.Context, entry{der, nil}), 0))), req, "trailing_data"},
		{"too many entries", sig(certMsg(t, req.Context, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil}, entry{der, nil})), req, "too_large"},
		{"pkcs1 scheme", forge(t, ch, Client, req, cert, nil, 0x0401, nil), req, "unsupported_scheme"},
		{"unknown scheme", forge(t, ch, Client, req, cert, nil, 0xfe00, nil), req, "unsupported_scheme"},
		{"scheme not offered", forge(t, ch, Client, req, cert, testKey(t, "p384"), ECDSAWithP384AndSHA384, nil), req, "scheme_not_offered"},
		{"scheme key mismatch", forge(t, ch, Client, req, cert, testKey(t, "ed25519"), Ed25519, nil), req, "scheme_key_mismatch"},
		{"certificateverify trailing", forge(t, ch, Client, req, cert, key, ECDSAWithP256AndSHA256, []byte{0}), req, "trailing_data"},
		{"bad signature", flip(good, len(cert)+len(cv)-3), req, "bad_signature"},
		{"signed by another key", forge(t, ch, Client, req, cert, mustP256(t), ECDSAWithP256AndSHA256, nil), req, "bad_signature"},
		{"bad finished", flip(good, len(good)-1), req, "bad_finished"},
		{"relayed to another connection", good, req, "bad_signature"},
		{"validated as the wrong sender", good, req, "wrong_direction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, sender := ch, Client
			switch tc.name {
			case "relayed to another connection":
				c = testChannel(t, 2)
			case "validated as the wrong sender":
				sender = Server
			}
			r := tc.req
			if r == nil {
				// the case was built for its own request; rebuild the request from the authenticator
				ctx, err := AuthenticatorContext(tc.auth)
				if err != nil {
					t.Fatal(err)
				}
				r = mustRequest(t, Server, RequestOptions{Context: ctx})
			}
			_, err := Validate(c, sender, r, tc.auth, nil)
			wantCode(t, err, tc.code)
		})
	}
}

// fixLen rewrites a handshake message's uint24 length to match its body.
func fixLen(m []byte) []byte {
	n := len(m) - 4
	m[1], m[2], m[3] = byte(n>>16), byte(n>>8), byte(n)
	return m
}
