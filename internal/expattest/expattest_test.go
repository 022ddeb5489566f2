package expattest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/seatrx/seatrx/expat"
)

func selfSigned(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expattest"},
		NotBefore: time.Unix(1700000000, 0), NotAfter: time.Unix(1900000000, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func channel(t *testing.T, seed byte) expat.Channel {
	t.Helper()
	ch, err := expat.NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// inputs are correct authenticators in both directions, with one- and
// two-certificate chains, Ed25519 and ECDSA.
func inputs(t *testing.T) map[string]Input {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ch := channel(t, 1)
	byServer, err := expat.NewRequest(expat.Server, expat.RequestOptions{OfferCMW: true})
	if err != nil {
		t.Fatal(err)
	}
	byClient, err := expat.NewRequest(expat.Client, expat.RequestOptions{OfferCMW: true, CMWType: 0xffff})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Input{
		"client ed25519": {Channel: ch, Sender: expat.Client, Request: byServer, Chain: [][]byte{selfSigned(t, ed)}, Key: ed,
			Scheme: expat.Ed25519, CMW: []byte(`{"cmw":"placeholder"}`)},
		"server p256 two certificates": {Channel: ch, Sender: expat.Server, Request: byClient, Chain: [][]byte{selfSigned(t, p256), selfSigned(t, ca)}, Key: p256,
			Scheme: expat.ECDSAWithP256AndSHA256, CMW: []byte{0xa1, 0x01, 0x02}, CMWType: 0xffff},
	}
}

func validate(in Input, auth []byte) (*expat.Authenticator, error) {
	return expat.Validate(in.Channel, in.Sender, in.Request, auth, &expat.ValidateOptions{CMWType: in.CMWType})
}

// The baseline passes validation, and for Ed25519 (deterministic) it is
// byte for byte what expat.Authenticate makes: the kit signs as expat does.
func TestBaselineIsValid(t *testing.T) {
	for name, in := range inputs(t) {
		t.Run(name, func(t *testing.T) {
			auth, err := in.Authenticator()
			if err != nil {
				t.Fatal(err)
			}
			a, err := validate(in, auth)
			if err != nil {
				t.Fatalf("baseline refused: %v", err)
			}
			if !bytes.Equal(a.CMW, in.CMW) {
				t.Fatalf("cmw %x, want %x", a.CMW, in.CMW)
			}
			if in.Scheme != expat.Ed25519 {
				return
			}
			ext, _ := expat.CMWExtension(in.CMWType, in.CMW)
			want, err := expat.Authenticate(in.Channel, in.Sender, in.Request, &expat.Identity{Chain: in.Chain, Signer: in.Key, FirstEntryExtensions: []expat.Extension{ext}}, &expat.AuthOptions{CMWType: in.CMWType})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(auth, want) {
				t.Fatal("kit baseline differs from expat.Authenticate")
			}
		})
	}
}

// Every fault is refused by seatrx with exactly the rule it breaks.
func TestFaultsRefusedWithTheirCode(t *testing.T) {
	names := map[string]bool{}
	for _, f := range Faults() {
		if names[f.Name] || f.Want == nil || f.Description == "" {
			t.Fatalf("fault %q: duplicate name or missing Want/Description", f.Name)
		}
		names[f.Name] = true
	}
	for name, in := range inputs(t) {
		for _, f := range Faults() {
			t.Run(name+"/"+f.Name, func(t *testing.T) {
				auth, err := f.Build(in)
				if err != nil {
					t.Fatal(err)
				}
				_, err = validate(in, auth)
				if !errors.Is(err, f.Want) {
					t.Fatalf("got %v, want %s", err, f.Want.Code)
				}
			})
		}
	}
}

func TestFaultNeedsCMWOffer(t *testing.T) {
	in := inputs(t)["client ed25519"]
	req, err := expat.NewRequest(expat.Server, expat.RequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in.Request = req
	for _, f := range Faults() {
		_, err := f.Build(in)
		if f.needsCMW != (err != nil) {
			t.Errorf("%s: needs offer %v, build error %v", f.Name, f.needsCMW, err)
		}
	}
	if _, err := (Fault{}).Build(Input{}); err == nil {
		t.Error("an empty Input was accepted")
	}
}

func TestCertificateExactly(t *testing.T) {
	dup := expat.Extension{Type: 5}
	got, err := Certificate([]byte{7}, Entry{Certificate: []byte{1}, Extensions: []expat.Extension{dup, dup}})
	if err != nil {
		t.Fatal(err)
	}
	// type 11, length 19; context <7>; list of 14: cert_data <01>, extensions <0005 0000, 0005 0000>
	want := []byte{11, 0, 0, 19, 1, 7, 0, 0, 14, 0, 0, 1, 1, 0, 8, 0, 5, 0, 0, 0, 5, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
}
