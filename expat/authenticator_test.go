package expat

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
)

func TestRoundTripSchemes(t *testing.T) {
	cmw := []byte(`["application/vnd.example",  "AAEC"]`)
	for _, kind := range []string{"ed25519", "p256", "p384", "rsa"} {
		for _, sender := range []Role{Client, Server} {
			t.Run(kind+"/"+sender.String(), func(t *testing.T) {
				ch := testChannel(t, 1)
				req := mustRequest(t, sender.Peer(), RequestOptions{OfferCMW: true})
				auth, err := Authenticate(ch, sender, req, testIdentity(t, kind, cmw), nil)
				if err != nil {
					t.Fatalf("Authenticate: %v", err)
				}
				got, err := Validate(ch, sender, req, auth, nil)
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if !bytes.Equal(got.CMW, cmw) || !bytes.Equal(got.Context, req.Context) || len(got.Chain) != 1 {
					t.Fatalf("result %+v", got)
				}
				ctx, err := AuthenticatorContext(auth)
				if err != nil || !bytes.Equal(ctx, req.Context) {
					t.Fatalf("AuthenticatorContext = %x, %v", ctx, err)
				}
			})
		}
	}
}

// The scheme is the first of the request's list that the key supports.
func TestSchemeSelection(t *testing.T) {
	ch := testChannel(t, 1)
	req := mustRequest(t, Server, RequestOptions{Schemes: []SignatureScheme{PSSWithSHA384, ECDSAWithP256AndSHA256, Ed25519}})
	for kind, want := range map[string]SignatureScheme{"p256": ECDSAWithP256AndSHA256, "ed25519": Ed25519, "rsa": PSSWithSHA384} {
		auth, err := Authenticate(ch, Client, req, testIdentity(t, kind, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Validate(ch, Client, req, auth, nil)
		if err != nil || got.Scheme != want {
			t.Fatalf("%s: scheme %v, err %v; want %v", kind, got.Scheme, err, want)
		}
	}
	_, err := Authenticate(ch, Client, req, testIdentity(t, "p384", nil), nil)
	wantCode(t, err, "no_common_scheme")
}

func TestEmptyAuthenticator(t *testing.T) {
	ch := testChannel(t, 1)
	req := mustRequest(t, Server, RequestOptions{OfferCMW: true})
	empty, err := AuthenticateEmpty(ch, Client, req)
	if err != nil {
		t.Fatal(err)
	}
	if empty[0] != TypeFinished || len(empty) != 4+32 {
		t.Fatalf("empty authenticator %x", empty)
	}
	_, err = Validate(ch, Client, req, empty, nil)
	wantCode(t, err, "empty_authenticator")
	if !errors.Is(err, ErrEmptyAuthenticator) {
		t.Fatal("errors.Is(ErrEmptyAuthenticator) = false")
	}
	// A refusal made on another connection, or for another request, is a bad Finished.
	_, err = Validate(testChannel(t, 2), Client, req, empty, nil)
	wantCode(t, err, "bad_finished")
	other := mustRequest(t, Server, RequestOptions{})
	_, err = Validate(ch, Client, other, empty, nil)
	wantCode(t, err, "bad_finished")
}

func TestSpontaneousServerAuthenticator(t *testing.T) {
	ch := testChannel(t, 1)
	opts := &AuthOptions{Schemes: []SignatureScheme{Ed25519}}
	auth, err := Authenticate(ch, Server, nil, testIdentity(t, "ed25519", nil), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(ch, Server, nil, auth, &ValidateOptions{Schemes: []SignatureScheme{Ed25519}}); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	_, err = Validate(ch, Server, nil, auth, &ValidateOptions{Schemes: []SignatureScheme{ECDSAWithP256AndSHA256}})
	wantCode(t, err, "scheme_not_offered")
	_, err = Authenticate(ch, Client, nil, testIdentity(t, "ed25519", nil), opts)
	wantCode(t, err, "missing_request")
	_, err = Validate(ch, Client, nil, auth, nil)
	wantCode(t, err, "missing_request")
	// cmw_attestation is not a ClientHello extension, so a spontaneous
	// authenticator cannot carry it unless the caller says it was offered.
	_, err = Authenticate(ch, Server, nil, testIdentity(t, "ed25519", []byte{1}), opts)
	wantCode(t, err, "extension_not_offered")
}

func TestVerifyChainCallback(t *testing.T) {
	ch := testChannel(t, 1)
	req := mustRequest(t, Server, RequestOptions{})
	auth, err := Authenticate(ch, Client, req, testIdentity(t, "p256", nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	sentinelErr := errors.New("not pinned")
	_, err = Validate(ch, Client, req, auth, &ValidateOptions{VerifyChain: func([]*x509.Certificate) error { return sentinelErr }})
	wantCode(t, err, "certificate_chain")
	if !errors.Is(err, sentinelErr) {
		t.Fatal("underlying chain error lost")
	}
}

func TestAuthenticateRefusesBadIdentity(t *testing.T) {
	ch := testChannel(t, 1)
	req := mustRequest(t, Server, RequestOptions{})
	_, err := Authenticate(ch, Client, req, &Identity{}, nil)
	wantCode(t, err, "empty_certificate")
	id := testIdentity(t, "p256", nil)
	id.Signer = testKey(t, "p384")
	_, err = Authenticate(ch, Client, req, id, nil)
	wantCode(t, err, "scheme_key_mismatch")
	_, err = Authenticate(ch, Client, req, &Identity{Chain: [][]byte{{0x30, 0x00}}, Signer: testKey(t, "p256")}, nil)
	wantCode(t, err, "bad_certificate")
	// cmw_attestation not offered by the request.
	_, err = Authenticate(ch, Client, req, testIdentity(t, "p256", []byte{1}), nil)
	wantCode(t, err, "extension_not_offered")
	// The server cannot answer a server's request.
	_, err = Authenticate(ch, Server, req, testIdentity(t, "p256", nil), nil)
	wantCode(t, err, "wrong_direction")
	_, err = AuthenticateEmpty(ch, Server, req)
	wantCode(t, err, "wrong_direction")
	if _, err := CMWExtension(0, nil); !errors.Is(err, ErrCMWMalformed) {
		t.Fatalf("empty CMW: %v", err)
	}
	if _, err := CMWExtension(0, make([]byte, 65534)); !errors.Is(err, ErrCMWMalformed) {
		t.Fatalf("oversized CMW: %v", err)
	}
}
