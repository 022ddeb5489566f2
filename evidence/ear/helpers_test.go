package ear

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"
)

// testNow is the pinned relying-party clock of all tests.
var testNow = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

func mustKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustIssuer(t testing.TB, k *ecdsa.PrivateKey) *Issuer {
	t.Helper()
	iss, err := NewIssuer(k, "seatrx", "test-build-1")
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func spki(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fixture is one issuer, its trust configuration and a connection's
// binding and authenticator key.
type fixture struct {
	key   *ecdsa.PrivateKey
	iss   *Issuer
	nonce []byte
	akpub []byte
}

func newFixture(t testing.TB, c elliptic.Curve, nonceLen int) *fixture {
	t.Helper()
	k := mustKey(t, c)
	nonce := bytes.Repeat([]byte{0xA5}, nonceLen)
	nonce[0] = byte(nonceLen)
	return &fixture{key: k, iss: mustIssuer(t, k), nonce: nonce, akpub: spki(t, &mustKey(t, elliptic.P256()).PublicKey)}
}

func (f *fixture) claims() Claims {
	return Claims{
		Submod: "sev-snp",
		Status: StatusAffirming,
		TrustVector: map[string]int{
			ClaimInstanceIdentity: 2, ClaimConfiguration: 3, ClaimExecutables: 2,
			ClaimHardware: 2, ClaimRuntimeOpaque: 2, ClaimStorageOpaque: -2,
		},
		Nonce:          f.nonce,
		AKPub:          f.akpub,
		PolicyID:       "policy/snp-prod",
		PolicyDigest:   bytes.Repeat([]byte{0x11}, 32),
		TrustAnchors:   []string{"sha256:ark-milan", "sha256:ark-genoa"},
		Simulated:      true,
		EvidenceDigest: bytes.Repeat([]byte{0x22}, 48),
		Measurements:   map[string]string{"measurement": "00ff" + "ab", "report_id": "c0ffee"},
		NotEvaluated:   []string{NotEvaluatedRevocation},
		IssuedAt:       testNow.Add(-10 * time.Second),
	}
}

func (f *fixture) opts() VerifyOptions {
	return VerifyOptions{
		Trusted:       []TrustedVerifier{{ID: f.iss.KeyID(), Key: f.iss.Public()}},
		ExpectedNonce: f.nonce,
		ExpectedAKPub: f.akpub,
		Now:           testNow,
	}
}

func (f *fixture) issue(t testing.TB, c Claims) []byte {
	t.Helper()
	tok, err := f.iss.Issue(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// compact builds a JWS compact serialisation by hand, so that tests can
// produce tokens the issuer never would.
func compact(t testing.TB, hdr map[string]any, payload []byte, sign func(signingInput []byte) []byte) []byte {
	t.Helper()
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	in := []byte(b64.EncodeToString(h) + "." + b64.EncodeToString(payload))
	sig := sign(in)
	return []byte(string(in) + "." + b64.EncodeToString(sig))
}

// es256 signs like JWS ES256 (r||s, 32 bytes each) with k.
func es256(t testing.TB, k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

// payloadOf returns the decoded JSON claims of tok (no verification).
func payloadOf(t testing.TB, tok []byte) map[string]any {
	t.Helper()
	segs := bytes.Split(tok, []byte{'.'})
	raw, err := b64.DecodeString(string(segs[1]))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// resign re-signs the (mutated) claims of tok with f's key and kid.
func (f *fixture) resign(t testing.TB, tok []byte, mutate func(m map[string]any)) []byte {
	t.Helper()
	m := payloadOf(t, tok)
	mutate(m)
	p, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return compact(t, map[string]any{"alg": "ES256", "kid": f.iss.KeyID(), "typ": "JWT"}, p, es256(t, f.key))
}

// submod returns the single appraisal map of claims m.
func submod(m map[string]any, name string) map[string]any {
	return m["submods"].(map[string]any)[name].(map[string]any)
}
