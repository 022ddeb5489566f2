package ear

import (
	"bytes"
	"crypto/elliptic"
	"encoding/json"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// checkOutcome asserts the invariants of any Verify result under f.opts().
func checkOutcome(t *testing.T, f *fixture, c *Claims, err error) {
	t.Helper()
	if err != nil {
		if code := check.Code(err); !strings.HasPrefix(code, "ear.") {
			t.Fatalf("failure without an ear.* check code: %v", err)
		}
		if c != nil {
			t.Fatalf("claims returned with error %v", err)
		}
		return
	}
	if !bytes.Equal(c.Nonce, f.nonce) {
		t.Fatalf("accepted nonce %x, want %x", c.Nonce, f.nonce)
	}
	if !bytes.Equal(c.AKPub, f.akpub) {
		t.Fatalf("accepted akpub %x, want %x", c.AKPub, f.akpub)
	}
	if c.Status != StatusAffirming {
		t.Fatalf("accepted status %q", c.Status)
	}
	if c.Verifier != f.iss.KeyID() {
		t.Fatalf("accepted verifier %q", c.Verifier)
	}
	if d := testNow.Sub(c.IssuedAt); d > DefaultMaxAge || d < -DefaultClockSkew {
		t.Fatalf("accepted iat %s", c.IssuedAt)
	}
}

// FuzzVerify feeds arbitrary token bytes to Verify.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, elliptic.P256(), 32)
	good := fx.issue(f, fx.claims())
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(good[:len(good)-3])
	f.Add([]byte("e30.e30."))
	f.Add([]byte("eyJhbGciOiJub25lIn0.e30."))
	f.Add([]byte(`{"payload":"e30","signatures":[]}`))
	f.Add([]byte("...."))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, tok []byte) {
		c, err := Verify(tok, fx.opts())
		checkOutcome(t, fx, c, err)
	})
}

// FuzzVerifyPayload signs arbitrary claims bytes with the trusted key, so
// that the claim decoding behind the signature check is explored too.
func FuzzVerifyPayload(f *testing.F) {
	fx := newFixture(f, elliptic.P256(), 32)
	good := fx.issue(f, fx.claims())
	claims := payloadOf(f, good)
	p, _ := json.Marshal(claims)
	f.Add(p)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1e400}`))
	f.Add([]byte(`{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1803988800,"ear.verifier-id":{"build":"b","developer":"d"},"submods":{"x":{"ear.status":"affirming","ear.trustworthiness-vector":null}},"eat_nonce":"AAAAAAAAAAAA"}`))
	f.Add([]byte(`{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1803988800,"ear.verifier-id":{"build":"b","developer":"d"},"submods":{"x":{"ear.status":2,"ear.trustworthiness-vector":{"hardware":1e300}}}}`))
	hdr := map[string]any{"alg": "ES256", "kid": fx.iss.KeyID()}
	sign := es256(f, fx.key)
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return
		}
		tok := compact(t, hdr, payload, sign)
		c, err := Verify(tok, fx.opts())
		checkOutcome(t, fx, c, err)
	})
}
