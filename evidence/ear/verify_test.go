package ear

import (
	"bytes"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	vear "github.com/veraison/ear"

	"github.com/seatrx/seatrx/evidence/check"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		curve    elliptic.Curve
		nonceLen int
		alg      string
	}{
		{"ES256", elliptic.P256(), 32, "ES256"},
		{"ES384", elliptic.P384(), 48, "ES384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.curve, tc.nonceLen)
			if got := f.iss.Algorithm(); got != tc.alg {
				t.Fatalf("Algorithm() = %s, want %s", got, tc.alg)
			}
			in := f.claims()
			tok := f.issue(t, in)

			segs := bytes.Split(tok, []byte{'.'})
			rawHdr, _ := b64.DecodeString(string(segs[0]))
			var hdr map[string]any
			if err := json.Unmarshal(rawHdr, &hdr); err != nil {
				t.Fatal(err)
			}
			if hdr["alg"] != tc.alg || hdr["kid"] != f.iss.KeyID() || hdr["typ"] != "JWT" {
				t.Fatalf("header = %v", hdr)
			}

			got, err := Verify(tok, f.opts())
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := in
			want.IssuedAt = in.IssuedAt.Truncate(time.Second).UTC()
			want.Verifier = f.iss.KeyID()
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("round trip mismatch\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

// The payload follows the library's schema: its own JWT verifier (the test
// oracle for the Veraison profile) accepts our token and reads our claims.
func TestIssuedTokenAcceptedByLibrary(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	c := f.claims()
	c.IssuedAt = time.Now() // the library validates iat against the wall clock
	tok := f.issue(t, c)

	var ar vear.AttestationResult
	if err := ar.Verify(tok, jwa.ES256(), &f.key.PublicKey); err != nil {
		t.Fatalf("library Verify: %v", err)
	}
	if *ar.Profile != vear.EatProfile || *ar.Nonce != b64.EncodeToString(f.nonce) {
		t.Fatalf("profile %q nonce %q", *ar.Profile, *ar.Nonce)
	}
	appr := ar.Submods["sev-snp"]
	if appr == nil || *appr.Status != vear.TrustTierAffirming || appr.TrustVector.Configuration != 3 {
		t.Fatalf("appraisal = %+v", appr)
	}
	pub, err := appr.GetKeyAttestation()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(spki(t, pub), f.akpub) {
		t.Fatal("library decodes a different akpub")
	}
	if *ar.VerifierID.Developer != "seatrx" || *ar.VerifierID.Build != "test-build-1" {
		t.Fatalf("verifier-id = %+v", ar.VerifierID)
	}
}

// An external verifier in the passport model, here an EdDSA key signing with
// the library's own JWT path (no kid header).
func TestExternalVerifierToken(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, elliptic.P256(), 32)
	ar := vear.NewAttestationResult("tdx", "veraison-1.0", "veraison")
	iat := testNow.Add(-time.Minute).Unix()
	nonce := b64.EncodeToString(f.nonce)
	ar.IssuedAt, ar.Nonce = &iat, &nonce
	st := vear.TrustTierWarning
	appr := ar.Submods["tdx"]
	appr.Status = &st
	appr.TrustVector.Executables = vear.UnrecognizedRuntimeClaim
	appr.TrustVector.Hardware = vear.GenuineHardwareClaim
	akpub := f.akpub
	akKey := mustParsePKIX(t, akpub)
	if err := appr.SetKeyAttestation(akKey); err != nil {
		t.Fatal(err)
	}
	tok, err := ar.Sign(jwa.EdDSA(), priv)
	if err != nil {
		t.Fatal(err)
	}

	opts := f.opts()
	opts.Trusted = append(opts.Trusted, TrustedVerifier{ID: "veraison", Key: pub})
	if _, err := Verify(tok, opts); check.Code(err) != CodeStatus {
		t.Fatalf("warning with default statuses: err = %v, want %s", err, CodeStatus)
	}
	opts.AcceptedStatuses = []string{StatusAffirming, StatusWarning}
	got, err := Verify(tok, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Claims{
		Submod: "tdx", Status: StatusWarning,
		TrustVector: map[string]int{ClaimExecutables: 33, ClaimHardware: 2},
		Nonce:       f.nonce, AKPub: f.akpub, IssuedAt: time.Unix(iat, 0).UTC(), Verifier: "veraison",
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("got %+v\nwant %+v", *got, want)
	}
}

func mustParsePKIX(t *testing.T, der []byte) any {
	t.Helper()
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWarningAcceptedWhenListed(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	c := f.claims()
	c.Status = StatusWarning
	c.TrustVector[ClaimConfiguration] = int(vear.UnsafeConfigClaim)
	tok := f.issue(t, c)
	opts := f.opts()
	opts.AcceptedStatuses = []string{StatusWarning}
	got, err := Verify(tok, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Status != StatusWarning || got.TrustVector[ClaimConfiguration] != 32 {
		t.Fatalf("status %s vector %v", got.Status, got.TrustVector)
	}
}

// An external verifier that declares "affirming" while its own vector says
// "warning" is held to the vector.
func TestStatusLoweredByTrustVector(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	tok := f.resign(t, f.issue(t, f.claims()), func(m map[string]any) {
		submod(m, "sev-snp")["ear.trustworthiness-vector"].(map[string]any)["executables"] = 33
	})
	if _, err := Verify(tok, f.opts()); check.Code(err) != CodeStatus || !strings.Contains(err.Error(), "lowered") {
		t.Fatalf("err = %v, want %s (lowered)", err, CodeStatus)
	}
	opts := f.opts()
	opts.AcceptedStatuses = []string{StatusAffirming, StatusWarning}
	got, err := Verify(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusWarning {
		t.Fatalf("Status = %s, want warning", got.Status)
	}
}

func TestSubmodSelection(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	tok := f.resign(t, f.issue(t, f.claims()), func(m map[string]any) {
		subs := m["submods"].(map[string]any)
		subs["aaa-platform"] = map[string]any{"ear.status": "affirming", "ear.appraisal-policy-id": "platform"}
	})
	got, err := Verify(tok, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if got.Submod != "sev-snp" || got.PolicyID != "policy/snp-prod" {
		t.Fatalf("selected %q (policy %q), want the submod attesting the key", got.Submod, got.PolicyID)
	}
	// Without an expected key the first submod by name is reported.
	opts := f.opts()
	opts.ExpectedAKPub = nil
	got, err = Verify(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Submod != "aaa-platform" || got.AKPub != nil {
		t.Fatalf("selected %q akpub %x", got.Submod, got.AKPub)
	}
}

func TestIssueDefaultsIssuedAtToNow(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	c := f.claims()
	c.IssuedAt = time.Time{}
	tok := f.issue(t, c)
	opts := f.opts()
	opts.Now = time.Now()
	if _, err := Verify(tok, opts); err != nil {
		t.Fatalf("Verify at wall clock: %v", err)
	}
}

func TestVerifyFailures(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	good := f.issue(t, f.claims())
	other := newFixture(t, elliptic.P256(), 32)  // a verifier nobody trusts
	p384 := newFixture(t, elliptic.P384(), 32)   // trusted by nobody either
	otherNonce := bytes.Repeat([]byte{0x5A}, 32) // another connection's binding
	pubDER := spki(t, &f.key.PublicKey)          // for HS256 confusion
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	claims := payloadOf(t, good)
	claimsJSON, _ := json.Marshal(claims)
	hs256 := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, key); m.Write(in); return m.Sum(nil) }
	}
	kidA := f.iss.KeyID()

	tests := []struct {
		name  string
		tok   func() []byte
		opts  func(o *VerifyOptions)
		code  string
		is    error
		inErr string
	}{
		{name: "wrong key, kid of trusted verifier", code: CodeSignature,
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES256", "kid": kidA}, claimsJSON, es256(t, other.key))
			}},
		{name: "wrong key, no kid", code: CodeSignature,
			tok: func() []byte { return compact(t, map[string]any{"alg": "ES256"}, claimsJSON, es256(t, other.key)) }},
		{name: "tampered payload", code: CodeSignature,
			tok: func() []byte {
				segs := bytes.Split(good, []byte{'.'})
				p, _ := json.Marshal(map[string]any{"eat_profile": Profile, "iat": testNow.Unix()})
				return []byte(string(segs[0]) + "." + b64.EncodeToString(p) + "." + string(segs[2]))
			}},
		{name: "untrusted verifier", code: CodeKey, is: ErrUntrustedVerifier,
			tok: func() []byte { return other.issue(t, other.claims()) }},
		{name: "no trusted key for the algorithm", code: CodeKey, is: ErrUntrustedVerifier,
			tok: func() []byte { return p384.issue(t, p384.claims()) }},
		{name: "trusted kid with another algorithm", code: CodeSignature, inErr: "does not match",
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES384", "kid": kidA}, claimsJSON, func([]byte) []byte { return make([]byte, 96) })
			}},
		{name: "alg none, empty signature", code: CodeSignature, inErr: `"none"`,
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "none"}, claimsJSON, func([]byte) []byte { return nil })
			}},
		{name: "alg none with a valid ES256 signature", code: CodeSignature,
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "none", "kid": kidA}, claimsJSON, es256(t, f.key))
			}},
		{name: "HS256 keyed with the public key DER", code: CodeSignature, inErr: "HS256",
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "HS256", "kid": kidA}, claimsJSON, hs256(pubDER))
			}},
		{name: "HS256 keyed with the public key PEM", code: CodeSignature, inErr: "HS256",
			tok: func() []byte { return compact(t, map[string]any{"alg": "HS256"}, claimsJSON, hs256(pubPEM)) }},
		{name: "nonce mismatch", code: CodeNonce,
			opts: func(o *VerifyOptions) { o.ExpectedNonce = otherNonce }},
		{name: "nonce missing", code: CodeNonce, inErr: "missing",
			tok: func() []byte { return f.resign(t, good, func(m map[string]any) { delete(m, "eat_nonce") }) }},
		{name: "nonce not base64url", code: CodeNonce,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { m["eat_nonce"] = "++++++++++++" })
			}},
		{name: "nonce prefix of binding", code: CodeNonce,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { m["eat_nonce"] = b64.EncodeToString(f.nonce[:16]) })
			}},
		{name: "akpub mismatch", code: CodeKey, is: ErrAKPubMismatch,
			opts: func(o *VerifyOptions) { o.ExpectedAKPub = spki(t, &other.key.PublicKey) }},
		{name: "akpub missing", code: CodeKey, is: ErrAKPubMismatch,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { delete(submod(m, "sev-snp"), "ear.veraison.key-attestation") })
			}},
		{name: "akpub not text", code: CodeDecode,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.key-attestation"] = map[string]any{"akpub": 7}
				})
			}},
		{name: "too old", code: CodeTime, inErr: "older",
			opts: func(o *VerifyOptions) { o.Now = testNow.Add(time.Hour) }},
		{name: "too old for a short MaxAge", code: CodeTime, inErr: "older",
			opts: func(o *VerifyOptions) { o.MaxAge = 5 * time.Second }},
		{name: "from the future", code: CodeTime, inErr: "future",
			opts: func(o *VerifyOptions) { o.Now = testNow.Add(-2 * time.Minute) }},
		{name: "contraindicated not accepted", code: CodeStatus, inErr: "contraindicated",
			tok: func() []byte {
				c := f.claims()
				c.Status = StatusContraindicated
				c.TrustVector[ClaimHardware] = int(vear.ContraindicatedHardwareClaim)
				return f.issue(t, c)
			},
			opts: func(o *VerifyOptions) { o.AcceptedStatuses = []string{StatusAffirming, StatusWarning} }},
		{name: "warning not accepted by default", code: CodeStatus, inErr: "warning",
			tok: func() []byte {
				c := f.claims()
				c.Status = StatusWarning
				return f.issue(t, c)
			}},
		{name: "none not accepted by default", code: CodeStatus, inErr: "none",
			tok: func() []byte {
				c := f.claims()
				c.Status = StatusNone
				return f.issue(t, c)
			}},
		{name: "one of two submods contraindicated", code: CodeStatus, inErr: "zzz",
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					m["submods"].(map[string]any)["zzz"] = map[string]any{"ear.status": "contraindicated"}
				})
			}},
		{name: "eat_profile of EAR -03", code: CodeProfile,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { m["eat_profile"] = "tag:ietf.org,2026:rats/ear#03" })
			}},
		{name: "Trustee eat_profile", code: CodeProfile,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { m["eat_profile"] = vear.EatTrusteeProfile })
			}},
		{name: "eat_profile missing", code: CodeProfile,
			tok: func() []byte { return f.resign(t, good, func(m map[string]any) { delete(m, "eat_profile") }) }},
		{name: "iat fractional", code: CodeDecode, inErr: "integer",
			tok: func() []byte { return f.resign(t, good, func(m map[string]any) { m["iat"] = 1.5e9 + 0.5 }) }},
		{name: "iat as text", code: CodeDecode, inErr: "iat",
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { m["iat"] = fmt.Sprint(testNow.Unix()) })
			}},
		{name: "submods missing", code: CodeDecode,
			tok: func() []byte { return f.resign(t, good, func(m map[string]any) { delete(m, "submods") }) }},
		{name: "status unknown", code: CodeDecode,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) { submod(m, "sev-snp")["ear.status"] = "great" })
			}},
		{name: "too many submods", code: CodeDecode, inErr: "submods",
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					subs := m["submods"].(map[string]any)
					for i := range MaxSubmods {
						subs[fmt.Sprintf("s%02d", i)] = map[string]any{"ear.status": "affirming"}
					}
				})
			}},
		{name: "seatrx extension of the wrong type", code: CodeDecode, inErr: KeySimulated,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.annotated-evidence"].(map[string]any)[KeySimulated] = "yes"
				})
			}},
		{name: "measurement not hex", code: CodeDecode, inErr: KeyMeasurements,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.annotated-evidence"].(map[string]any)[KeyMeasurements] = map[string]any{"mrtd": "xyz"}
				})
			}},
		{name: "not-evaluated not an array", code: CodeDecode, inErr: KeyNotEvaluated,
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.annotated-evidence"].(map[string]any)[KeyNotEvaluated] = "revocation"
				})
			}},
		{name: "not-evaluated duplicate", code: CodeDecode, inErr: "duplicate",
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.annotated-evidence"].(map[string]any)[KeyNotEvaluated] = []any{"revocation", "revocation"}
				})
			}},
		{name: "not-evaluated empty", code: CodeDecode, inErr: "0 names",
			tok: func() []byte {
				return f.resign(t, good, func(m map[string]any) {
					submod(m, "sev-snp")["ear.veraison.annotated-evidence"].(map[string]any)[KeyNotEvaluated] = []any{}
				})
			}},
		{name: "claims not JSON", code: CodeDecode,
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES256", "kid": kidA}, []byte("not json"), es256(t, f.key))
			}},
		{name: "claims null", code: CodeDecode, inErr: "null",
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES256", "kid": kidA}, []byte("null"), es256(t, f.key))
			}},
		{name: "crit header", code: CodeDecode, inErr: "crit",
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES256", "crit": []string{"exp"}, "exp": 1}, claimsJSON, es256(t, f.key))
			}},
		{name: "unencoded payload header", code: CodeDecode, inErr: "b64",
			tok: func() []byte {
				return compact(t, map[string]any{"alg": "ES256", "b64": false}, claimsJSON, es256(t, f.key))
			}},
		{name: "header alg not text", code: CodeDecode,
			tok: func() []byte { return compact(t, map[string]any{"alg": 7}, claimsJSON, es256(t, f.key)) }},
		{name: "header without alg", code: CodeDecode,
			tok: func() []byte { return compact(t, map[string]any{"kid": kidA}, claimsJSON, es256(t, f.key)) }},
		{name: "truncated", code: CodeDecode,
			tok: func() []byte { return good[:len(good)/2] }},
		{name: "truncated inside signature", code: CodeSignature,
			tok: func() []byte { return good[:len(good)-4] }},
		{name: "garbage", code: CodeDecode,
			tok: func() []byte { return []byte("\x00\x01garbage\xff") }},
		{name: "empty", code: CodeDecode,
			tok: func() []byte { return nil }},
		{name: "JWS JSON serialisation", code: CodeDecode,
			tok: func() []byte {
				segs := bytes.Split(good, []byte{'.'})
				return fmt.Appendf(nil, `{"payload":%q,"protected":%q,"signature":%q}`, segs[1], segs[0], segs[2])
			}},
		{name: "JWE-shaped (five segments)", code: CodeDecode, inErr: "5 segments",
			tok: func() []byte { return append(append([]byte{}, good...), ".a.b"...) }},
		{name: "trailing newline", code: CodeDecode,
			tok: func() []byte { return append(append([]byte{}, good...), '\n') }},
		{name: "oversize", code: CodeDecode, inErr: "limit",
			tok: func() []byte { return append(append([]byte{}, good...), bytes.Repeat([]byte{'A'}, MaxTokenSize)...) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := good
			if tc.tok != nil {
				tok = tc.tok()
			}
			opts := f.opts()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			got, err := Verify(tok, opts)
			if err == nil {
				t.Fatalf("Verify succeeded: %+v", got)
			}
			var ce *check.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *check.Error", err)
			}
			if ce.ProblemCode() != tc.code {
				t.Fatalf("code = %s, want %s (err: %v)", ce.ProblemCode(), tc.code, err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("errors.Is(%v, %v) = false", err, tc.is)
			}
			if tc.inErr != "" && !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("error %q does not mention %q", err, tc.inErr)
			}
		})
	}
}

func TestVerifyOptionsInvalid(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	tok := f.issue(t, f.claims())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		mod   func(o *VerifyOptions)
		inErr string
	}{
		{"no trusted verifiers", func(o *VerifyOptions) { o.Trusted = nil }, "no trusted"},
		{"no expected nonce", func(o *VerifyOptions) { o.ExpectedNonce = nil }, "0 bytes"},
		{"expected nonce too long", func(o *VerifyOptions) { o.ExpectedNonce = make([]byte, 65) }, "65 bytes"},
		{"no clock", func(o *VerifyOptions) { o.Now = time.Time{} }, "Now"},
		{"negative max age", func(o *VerifyOptions) { o.MaxAge = -time.Second }, "negative"},
		{"unknown status", func(o *VerifyOptions) { o.AcceptedStatuses = []string{"fine"} }, `"fine"`},
		{"RSA verifier key", func(o *VerifyOptions) { o.Trusted[0].Key = &rsaKey.PublicKey }, "*rsa.PublicKey"},
		{"nil verifier key", func(o *VerifyOptions) { o.Trusted[0].Key = nil }, "unsupported key"},
		{"P-224 verifier key", func(o *VerifyOptions) { o.Trusted[0].Key = &mustKey(t, elliptic.P224()).PublicKey }, "P-224"},
		{"short Ed25519 key", func(o *VerifyOptions) { o.Trusted[0].Key = ed25519.PublicKey{1, 2} }, "ed25519"},
		{"NoNonce with a nonce", func(o *VerifyOptions) { o.NoNonce = true }, "NoNonce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := f.opts()
			tc.mod(&opts)
			_, err := Verify(tok, opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("err = %v, want ErrInvalidOptions", err)
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("error %q does not mention %q", err, tc.inErr)
			}
		})
	}
}

// CheckTrust judges only the token-independent options, up front.
func TestCheckTrust(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	o := f.opts()
	o.ExpectedNonce, o.Now = nil, time.Time{} // per-token values, not judged
	if err := o.CheckTrust(); err != nil {
		t.Fatalf("CheckTrust: %v", err)
	}
	for name, mod := range map[string]func(*VerifyOptions){
		"no trusted":     func(o *VerifyOptions) { o.Trusted = nil },
		"unknown status": func(o *VerifyOptions) { o.AcceptedStatuses = []string{"fine"} },
		"P-224 key": func(o *VerifyOptions) {
			o.Trusted = []TrustedVerifier{{ID: "x", Key: &mustKey(t, elliptic.P224()).PublicKey}}
		},
		"negative skew": func(o *VerifyOptions) { o.ClockSkew = -1 },
	} {
		bad := o
		mod(&bad)
		if err := bad.CheckTrust(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: CheckTrust = %v, want ErrInvalidOptions", name, err)
		}
	}
}

// NoNonce skips only the comparison: the token's eat_nonce must still be a
// well-formed binding, and every other check still runs.
func TestNoNonce(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	o := f.opts()
	o.ExpectedNonce, o.NoNonce = nil, true
	c, err := Verify(f.issue(t, f.claims()), o)
	if err != nil || !bytes.Equal(c.Nonce, f.nonce) {
		t.Fatalf("Verify with NoNonce: %v", err)
	}
	tok := f.resign(t, f.issue(t, f.claims()), func(m map[string]any) { m["eat_nonce"] = "AAAAAAAA" }) // 6 bytes
	if _, err := Verify(tok, o); check.Code(err) != CodeNonce {
		t.Fatalf("short eat_nonce with NoNonce: %v", err)
	}
	stale := f.claims()
	stale.IssuedAt = testNow.Add(-time.Hour)
	if _, err := Verify(f.issue(t, stale), o); check.Code(err) != CodeTime {
		t.Fatalf("stale token with NoNonce: %v", err)
	}
}

// A kid is only a hint: an unknown kid on a token that a trusted key verifies
// is accepted, and the verifier is reported by its configured ID.
func TestUnknownKidVerifiedByTrustedKey(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	tok := f.issue(t, f.claims())
	opts := f.opts()
	opts.Trusted = []TrustedVerifier{
		{ID: "other", Key: &mustKey(t, elliptic.P256()).PublicKey},
		{ID: "local", Key: f.iss.Public()},
	}
	got, err := Verify(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Verifier != "local" {
		t.Fatalf("Verifier = %q, want local", got.Verifier)
	}
}

func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	// RFC 7638 §3.1 example is RSA; check the EC construction directly.
	k := mustKey(t, elliptic.P256())
	x, y := make([]byte, 32), make([]byte, 32)
	k.X.FillBytes(x)
	k.Y.FillBytes(y)
	canon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(x), b64.EncodeToString(y))
	sum := sha256.Sum256([]byte(canon))
	got, err := KeyID(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if want := b64.EncodeToString(sum[:]); got != want {
		t.Fatalf("KeyID = %s, want %s", got, want)
	}
	if _, err := KeyID("not a key"); !errors.Is(err, ErrUnsupportedKey) {
		t.Fatalf("KeyID(string) err = %v", err)
	}
}
