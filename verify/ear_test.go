package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/receipt"
)

var earNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// rawEAR signs claims as a compact JWS with key, kid set like ear.Issuer
// does, so that tests can produce tokens ear.Issuer refuses to make.
func rawEAR(t *testing.T, key *ecdsa.PrivateKey, nonce string, appraisal map[string]any) []byte {
	t.Helper()
	kid, err := ear.KeyID(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	claims := map[string]any{
		"eat_profile":     ear.Profile,
		"iat":             earNow.Add(-10 * time.Second).Unix(),
		"eat_nonce":       nonce,
		"ear.verifier-id": map[string]any{"developer": "https://seatrx.example", "build": "test"},
		"submods":         map[string]any{"sev-snp": appraisal},
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if err := hdr.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// receiptWith issues a receipt whose hae_attestation_token is tok and whose
// action carries binder; it returns the bundle and the issuer's trust.
func receiptWith(t *testing.T, tok, binder []byte) (*receipt.Bundle, receipt.TrustStore) {
	t.Helper()
	_, isk, _ := ed25519.GenerateKey(rand.Reader)
	_, ask, _ := ed25519.GenerateKey(rand.Reader)
	iss, err := receipt.NewSigner(isk, "https://issuer.example")
	if err != nil {
		t.Fatal(err)
	}
	appr, err := receipt.NewSigner(ask, "appraiser")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := cbor.Marshal(map[string]any{"op": "x"})
	b, _, err := receipt.Issue(iss, receipt.IssueInput{
		Action: receipt.Action{Type: receipt.ActionTypeAttestedSession, PeerKey: receipt.SHA256([]byte("peer")), Binder: binder,
			ServerCert: receipt.SHA256([]byte("cert")), EvidenceDigest: receipt.SHA256([]byte("evidence")), Requested: req},
		PolicyCBOR: []byte{0xa0}, EAR: tok, Audience: "https://issuer.example", Approvers: []*receipt.Signer{appr}, Now: earNow,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b, receipt.TrustStore{Issuers: []receipt.TrustedKey{iss.Trusted()}, Approvers: []receipt.TrustedKey{appr.Trusted()}}
}

// The two tokens the receipt-only EAR verifier used to accept are refused
// inside a receipt verified offline exactly as on the wire, with the same
// ear.* code; a good token passes both ways.
func TestEARInReceiptJudgedAsOnTheWire(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := ear.KeyID(&key.PublicKey)
	trusted := []ear.TrustedVerifier{{ID: kid, Key: &key.PublicKey}}
	sum := sha256.Sum256([]byte("binder"))
	binder := sum[:]
	affirming := map[string]any{"ear.status": "affirming"}
	tests := []struct {
		name  string
		tok   []byte
		check check.Check // "" = accepted
		code  string      // its wire code, as the report shows it
	}{
		{"good", rawEAR(t, key, base64.RawURLEncoding.EncodeToString(binder), affirming), "", ""},
		{"padded-standard-base64-nonce", rawEAR(t, key, base64.StdEncoding.EncodeToString(binder), affirming), check.Nonce, ear.CodeNonce},
		{"affirming-with-contraindicated-vector", rawEAR(t, key, base64.RawURLEncoding.EncodeToString(binder),
			map[string]any{"ear.status": "affirming", "ear.trustworthiness-vector": map[string]any{"hardware": 96}}), ear.CheckStatus, ear.CodeStatus},
	}
	checker, err := NewEARChecker(EAROptions{Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// On the wire: what tlsbind's passport check calls.
			_, wireErr := ear.Verify(tc.tok, ear.VerifyOptions{Trusted: trusted, ExpectedNonce: binder, Now: earNow})
			if (tc.check == "" && wireErr != nil) || (tc.check != "" && !earFailed(wireErr, tc.check)) {
				t.Fatalf("on the wire: %v, want ear check %q", wireErr, tc.check)
			}
			// Inside a receipt, offline (audit mode).
			b, trust := receiptWith(t, tc.tok, binder)
			trust.EAR = checker
			rep, err := receipt.Verify(b, receipt.VerifyOptions{Mode: receipt.ModeAudit, Trust: trust})
			if tc.check == "" {
				if err != nil || rep.Status(receipt.CheckAttestation) != receipt.StatusPass {
					t.Fatalf("in a receipt: %v %+v", err, rep.Checks)
				}
				return
			}
			// The evidence/ear failure is reachable through the receipt error.
			if !earFailed(err, tc.check) || receipt.ProblemCode(err) != tc.code || rep.Status(receipt.CheckAttestation) != receipt.StatusFail {
				t.Fatalf("in a receipt: %v, want ear check %q", err, tc.check)
			}
			for _, c := range rep.Checks {
				if c.Name == receipt.CheckAttestation && c.Code != tc.code {
					t.Fatalf("report code %q, want %q", c.Code, tc.code)
				}
			}
		})
	}
}

// earFailed reports whether err is, or wraps, evidence/ear's failure of chk.
func earFailed(err error, chk check.Check) bool {
	var ce *check.Error
	return errors.As(err, &ce) && ce.Platform == check.EAR && ce.Check == chk
}

// Time is judged at the receipt's timestamp, not the verifier's clock: the
// same receipt verifies years later, and a stale EAR stays stale.
func TestEARJudgedAtReceiptTime(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	checker, err := NewEARChecker(EAROptions{Trusted: []ear.TrustedVerifier{{ID: "v", Key: &key.PublicKey}}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("binder"))
	tok := rawEAR(t, key, base64.RawURLEncoding.EncodeToString(sum[:]), map[string]any{"ear.status": "affirming"})
	if err := checker.CheckEAR(tok, sum[:], earNow); err != nil {
		t.Fatalf("at the receipt time: %v", err)
	}
	if err := checker.CheckEAR(tok, sum[:], earNow.Add(receipt.DefaultEARMaxAge)); !earFailed(err, check.Time) {
		t.Fatalf("a receipt stamped DefaultEARMaxAge after the EAR: %v", err)
	}
	if err := checker.CheckEAR(tok, sum[:], earNow.Add(-receipt.DefaultClockSkew-time.Minute)); !earFailed(err, check.Time) {
		t.Fatalf("an EAR issued after the receipt: %v", err)
	}
	// No binder: the nonce is not compared, everything else is.
	if err := checker.CheckEAR(tok, nil, earNow); err != nil {
		t.Fatalf("without binder: %v", err)
	}
	if err := checker.CheckEAR(tok, []byte("another binder of 32 bytes......"), earNow); !earFailed(err, check.Nonce) {
		t.Fatalf("another binder: %v", err)
	}
}

func TestNewEARCheckerRefusesBadOptions(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for name, o := range map[string]EAROptions{
		"no keys":        {},
		"P-224 key":      {Trusted: []ear.TrustedVerifier{{ID: "v", Key: &key.PublicKey}}},
		"unknown status": {Trusted: []ear.TrustedVerifier{{ID: "v", Key: ed25519.PublicKey(make([]byte, 32))}}, AcceptedStatuses: []string{"fine"}},
	} {
		if _, err := NewEARChecker(o); !errors.Is(err, ear.ErrInvalidOptions) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
