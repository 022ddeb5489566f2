package receipt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/veraison/ear"
)

// Fixed test time: 2026-11-01T00:00:00Z (in the past, so EAR JWT iat checks
// done by jwx against the real clock pass).
var testNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://seatrx.example/issuer"
	testAudience = "https://executor.example"
	testAnchor   = "sha256:4d1f1f0e6a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5"
)

// seedKey derives a deterministic Ed25519 key from a label.
func seedKey(label string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("seatrx-receipt-test/" + label))
	return ed25519.NewKeyFromSeed(s[:])
}

// ecKey derives a deterministic ECDSA key from a label.
func ecKey(t testing.TB, curve elliptic.Curve, label string) *ecdsa.PrivateKey {
	t.Helper()
	n := (curve.Params().BitSize + 7) / 8
	s := sha256.Sum256([]byte("seatrx-receipt-test-ec/" + label))
	d := make([]byte, n)
	copy(d[n-len(s):], s[:]) // 32 bytes, below the order of P-256 and P-384 in practice
	if n < len(s) {
		copy(d, s[:n])
	}
	k, err := ecdsa.ParseRawPrivateKey(curve, d)
	if err != nil {
		t.Fatalf("ParseRawPrivateKey: %v", err)
	}
	return k
}

func mustSigner(t testing.TB, key crypto.Signer, name string) *Signer {
	t.Helper()
	s, err := NewSigner(key, name)
	if err != nil {
		t.Fatalf("NewSigner(%s): %v", name, err)
	}
	return s
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// earClaims describes a test EAR.
type earClaims struct {
	profile string
	status  string
	nonce   []byte
	iat     time.Time
	// nonceText, if set, is written as eat_nonce verbatim (another encoding).
	nonceText string
	// vector, if set, is the appraisal's ear.trustworthiness-vector.
	vector map[string]int
}

// makeEAR signs an EAR JWT with jwx directly (so that invalid profiles can be
// produced), in the claim layout of veraison/ear v1.1.3.
func makeEAR(t testing.TB, key ed25519.PrivateKey, c earClaims) []byte {
	t.Helper()
	tok := jwt.New()
	set := func(k string, v any) {
		if err := tok.Set(k, v); err != nil {
			t.Fatalf("jwt set %s: %v", k, err)
		}
	}
	set("eat_profile", c.profile)
	set("iat", c.iat)
	set("ear.verifier-id", map[string]any{"build": "seatrx-test", "developer": "https://seatrx.example"})
	switch {
	case c.nonceText != "":
		set("eat_nonce", c.nonceText)
	case c.nonce != nil:
		set("eat_nonce", base64.RawURLEncoding.EncodeToString(c.nonce))
	}
	appraisal := map[string]any{"ear.status": c.status}
	if c.vector != nil {
		appraisal["ear.trustworthiness-vector"] = c.vector
	}
	set("submods", map[string]any{"SEV-SNP": appraisal})
	out, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key))
	if err != nil {
		t.Fatalf("jwt sign: %v", err)
	}
	return out
}

type fixture struct {
	issuer    *Signer
	approvers []*Signer
	earKey    ed25519.PrivateKey
	in        IssueInput
	binder    []byte
	chipID    []byte
	policy    []byte
}

// newFixture builds a complete issuance input. alg selects the issuer key
// ("EdDSA", "ES256", "ES384"); approvers are Ed25519 keys a1..aN.
func newFixture(t testing.TB, alg string, nApprovers int) *fixture {
	t.Helper()
	f := &fixture{earKey: seedKey("ear-verifier")}
	switch alg {
	case "ES256":
		f.issuer = mustSigner(t, ecKey(t, elliptic.P256(), "issuer"), testIssuer)
	case "ES384":
		f.issuer = mustSigner(t, ecKey(t, elliptic.P384(), "issuer"), testIssuer)
	default:
		f.issuer = mustSigner(t, seedKey("issuer"), testIssuer)
	}
	for i := 0; i < nApprovers; i++ {
		name := []string{"urn:seatrx:approver:appraiser", "urn:seatrx:approver:second", "urn:seatrx:approver:third", "urn:seatrx:approver:fourth"}[i]
		role := "verifier"
		if i == 0 {
			role = "appraiser"
		}
		f.approvers = append(f.approvers, mustSigner(t, seedKey(name), name).WithRole(role))
	}
	b := sha256.Sum256([]byte("binder"))
	f.binder = b[:]
	f.chipID = make([]byte, 64)
	for i := range f.chipID {
		f.chipID[i] = byte(0xc0 + i%16)
	}
	f.policy = mustCBOR(t, map[string]any{
		"version": 1, "accepted_status": []string{"affirming"}, "threshold": nApprovers,
		"allow_test_pki": false, "trust_anchors": []string{testAnchor},
	})
	peer := SHA256([]byte("peer EA end-entity SPKI"))
	ev := SHA256([]byte("evidence CMW bytes"))
	crc := []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	f.in = IssueInput{
		Action: Action{
			Type: ActionTypeAttestedSession, PeerKey: peer, Binder: f.binder, CertRequestContext: crc,
			ServerCert: SHA256([]byte("server leaf DER")), EvidenceDigest: ev,
			Requested: cbor.RawMessage(mustCBOR(t, map[string]any{"op": "read", "resource": "db/1"})),
		},
		PolicyCBOR: f.policy,
		EAR:        makeEAR(t, f.earKey, earClaims{profile: ear.EatProfile, status: "affirming", nonce: f.binder, iat: testNow.Add(-10 * time.Second)}),
		Audience:   testAudience,
		Snapshot: &ContextSnapshot{
			TLSVersion: 0x0304, CipherSuite: 0x1301, SNI: "seatrx.example", Transport: TransportTLS, CertRequestContext: crc, Binder: f.binder,
			BinderProfile: "expat-04", BinderLabel: "EXPORTER-cmw-attestation",
			PeerKey: peer, EvidenceDigest: ev, Platform: "sev-snp",
			Collateral:   []Collateral{{Name: "vcek", Digest: SHA256([]byte("vcek"))}, {Name: "ask", Digest: SHA256([]byte("ask"))}, {Name: "ark", Digest: SHA256([]byte("ark"))}},
			TrustAnchors: []string{testAnchor},
			Identifiers:  map[string][]byte{"chip_id": f.chipID},
		},
		Approvers: f.approvers,
		Now:       testNow,
	}
	return f
}

// earStub stands in for the injected EAR verifier (package verify wires in
// evidence/ear; its rules are tested there and by the vectors): it accepts
// exactly the fixture's EAR, for the fixture's binder or none.
func (f *fixture) earStub() EARChecker {
	ear, binder := f.in.EAR, f.binder
	return EARCheckFunc(func(token, b []byte, _ time.Time) error {
		if !bytes.Equal(token, ear) {
			return errors.New("not the fixture's EAR")
		}
		if b != nil && !bytes.Equal(b, binder) {
			return errors.New("eat_nonce is not the binder")
		}
		return nil
	})
}

// trust returns a TrustStore that trusts the fixture's keys.
func (f *fixture) trust(t testing.TB, threshold int) TrustStore {
	t.Helper()
	ts := TrustStore{Issuers: []TrustedKey{f.issuer.Trusted()}, Threshold: threshold, EAR: f.earStub(), TrustAnchors: []string{testAnchor}}
	for _, a := range f.approvers {
		ts.Approvers = append(ts.Approvers, a.Trusted())
	}
	return ts
}

func (f *fixture) online(t testing.TB, threshold int) VerifyOptions {
	return VerifyOptions{Mode: ModeOnline, Now: testNow.Add(30 * time.Second), Replay: NewMemoryReplayCache(), Trust: f.trust(t, threshold)}
}

func (f *fixture) issue(t testing.TB) (*Bundle, []byte) {
	t.Helper()
	b, secret, err := Issue(f.issuer, f.in)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return b, secret
}

// forge re-signs a (mutated) receipt as the fixture issuer.
func (f *fixture) forge(t testing.TB, r *Receipt) []byte {
	t.Helper()
	payload := mustCBOR(t, r)
	return f.signPayload(t, payload)
}

func (f *fixture) signPayload(t testing.TB, payload []byte) []byte {
	t.Helper()
	out, err := signEnvelope(f.issuer, ReceiptType, "urn:seatrx:peer:test", payload)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return out
}

func mustParse(t testing.TB, cose []byte) *Receipt {
	t.Helper()
	r, err := ParseReceipt(cose)
	if err != nil {
		t.Fatalf("ParseReceipt: %v", err)
	}
	return r
}
