package expat

import (
	"bytes"
	"errors"
	"testing"
)

func FuzzParseRequest(f *testing.F) {
	f.Add(mustRequest(f, Server, RequestOptions{OfferCMW: true}).Raw, true)
	f.Add(mustRequest(f, Client, RequestOptions{CertificateAuthorities: [][]byte{{0x30, 0}}, OIDFilters: []OIDFilter{{OID: []byte{1}, Values: nil}}}).Raw, false)
	f.Add([]byte{13, 0, 0, 6, 0, 0, 3, 0, 13, 0}, true)
	f.Fuzz(func(t *testing.T, raw []byte, fromServer bool) {
		sender := Client
		if fromServer {
			sender = Server
		}
		r, err := ParseRequest(raw, sender, 0)
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A parsed request re-parses identically and answers its own accessors.
		r2, err := ParseRequest(r.Raw, sender, 0)
		if err != nil || !bytes.Equal(r2.Context, r.Context) || len(r.Schemes()) == 0 {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzValidate(f *testing.F) {
	ch := testChannel(f, 1)
	ctx := bytes.Repeat([]byte{7}, 32)
	req := mustRequest(f, Server, RequestOptions{Context: ctx, OfferCMW: true})
	auth, err := Authenticate(ch, Client, req, testIdentity(f, "ed25519", []byte{0xa0}), nil)
	if err != nil {
		f.Fatal(err)
	}
	empty, _ := AuthenticateEmpty(ch, Client, req)
	f.Add(auth)
	f.Add(empty)
	f.Add(auth[:len(auth)/2])
	f.Fuzz(func(t *testing.T, a []byte) {
		got, err := Validate(ch, Client, req, a, nil)
		if err != nil {
			if !errors.As(err, new(*Error)) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !bytes.Equal(got.Context, ctx) || len(got.Chain) == 0 {
			t.Fatalf("accepted authenticator with context %x", got.Context)
		}
	})
}

func FuzzCMWExtension(f *testing.F) {
	f.Add([]byte{0, 1, 0xa0})
	f.Add([]byte{0, 0})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmw, err := ParseCMWExtension(data)
		if err != nil {
			if !errors.Is(err, ErrCMWMalformed) {
				t.Fatalf("error %v", err)
			}
			return
		}
		e, err := CMWExtension(0, cmw)
		if err != nil || !bytes.Equal(e.Data, data) {
			t.Fatalf("round trip: %x vs %x (%v)", e.Data, data, err)
		}
	})
}
