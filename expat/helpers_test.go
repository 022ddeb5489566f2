package expat

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"
)

// testKeys caches one key per kind; RSA generation is slow.
var (
	keysOnce sync.Once
	keys     map[string]crypto.Signer
)

func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]crypto.Signer{}
		p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rk, _ := rsa.GenerateKey(rand.Reader, 2048)
		keys["p256"], keys["p384"], keys["ed25519"], keys["rsa"] = p256, p384, ed, rk
	})
	k, ok := keys[kind]
	if !ok {
		t.Fatalf("no test key %q", kind)
	}
	return k
}

// selfSigned returns a self-signed DER certificate for key.
func selfSigned(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "seatrx expat test"},
		DNSNames:     []string{"expat.test"},
		NotBefore:    time.Unix(1700000000, 0),
		NotAfter:     time.Unix(1700000000, 0).Add(24 * time.Hour * 3650),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	return der
}

func testIdentity(t testing.TB, kind string, cmw []byte) *Identity {
	t.Helper()
	k := testKey(t, kind)
	id := &Identity{Chain: [][]byte{selfSigned(t, k)}, Signer: k}
	if cmw != nil {
		e, err := CMWExtension(0, cmw)
		if err != nil {
			t.Fatal(err)
		}
		id.FirstEntryExtensions = []Extension{e}
	}
	return id
}

// testChannel returns an offline channel with a fixed secret; a different
// seed models a different connection.
func testChannel(t testing.TB, seed byte) Channel {
	t.Helper()
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = seed + byte(i)
	}
	ch, err := NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, secret)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func mustRequest(t testing.TB, sender Role, opts RequestOptions) *Request {
	t.Helper()
	r, err := NewRequest(sender, opts)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	return r
}

func wantCode(t *testing.T, err error, code Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("got error %v, want code %q", err, code)
	}
}

func mustP256(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
