package ear

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// opaqueSigner hides the concrete key type, like an HSM or KMS signer.
type opaqueSigner struct{ k *ecdsa.PrivateKey }

func (s opaqueSigner) Public() crypto.PublicKey { return &s.k.PublicKey }
func (s opaqueSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.k.Sign(r, d, o)
}

func TestIssueWithOpaqueSigner(t *testing.T) {
	f := newFixture(t, elliptic.P384(), 48)
	iss, err := NewIssuer(opaqueSigner{f.key}, "seatrx", "hsm")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(f.claims())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, f.opts())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Submod != "sev-snp" || got.Verifier != iss.KeyID() {
		t.Fatalf("got %+v", got)
	}
}

func TestNewIssuerErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p256 := mustKey(t, elliptic.P256())
	tests := []struct {
		name     string
		key      crypto.Signer
		dev, bld string
		is       error
		inErr    string
	}{
		{"nil key", nil, "d", "b", ErrUnsupportedKey, "nil"},
		{"RSA", rsaKey, "d", "b", ErrUnsupportedKey, "*rsa.PublicKey"},
		{"Ed25519", edKey, "d", "b", ErrUnsupportedKey, "ed25519"},
		{"P-521", mustKey(t, elliptic.P521()), "d", "b", ErrUnsupportedKey, "P-521"},
		{"no developer", p256, "", "b", nil, "developer"},
		{"no build", p256, "d", "", nil, "build"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss, err := NewIssuer(tc.key, tc.dev, tc.bld)
			if err == nil {
				t.Fatalf("NewIssuer succeeded: %+v", iss)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("error %q does not mention %q", err, tc.inErr)
			}
		})
	}
}

func TestIssueInvalidClaims(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	tests := []struct {
		name  string
		mod   func(c *Claims)
		inErr string
	}{
		{"no submod", func(c *Claims) { c.Submod = "" }, "submodule"},
		{"unknown status", func(c *Claims) { c.Status = "ok" }, `"ok"`},
		{"empty status", func(c *Claims) { c.Status = "" }, "status"},
		{"no nonce", func(c *Claims) { c.Nonce = nil }, "0 bytes"},
		{"short nonce", func(c *Claims) { c.Nonce = make([]byte, 7) }, "7 bytes"},
		{"long nonce", func(c *Claims) { c.Nonce = make([]byte, 65) }, "65 bytes"},
		{"unknown trust claim", func(c *Claims) { c.TrustVector["freshness"] = 2 }, `"freshness"`},
		{"trust claim out of range", func(c *Claims) { c.TrustVector[ClaimHardware] = 200 }, "200"},
		{"trust claim below range", func(c *Claims) { c.TrustVector[ClaimHardware] = -129 }, "-129"},
		{"affirming with a warning claim", func(c *Claims) { c.TrustVector[ClaimExecutables] = 33 }, "executables is warning"},
		{"warning with a contraindicated claim", func(c *Claims) {
			c.Status = StatusWarning
			c.TrustVector[ClaimHardware] = 96
		}, "hardware is contraindicated"},
		{"akpub not SPKI", func(c *Claims) { c.AKPub = []byte{0x30, 0x03, 0x01} }, "SubjectPublicKeyInfo"},
		{"measurement not hex", func(c *Claims) { c.Measurements["mrtd"] = "zz" }, `"mrtd"`},
		{"measurement empty", func(c *Claims) { c.Measurements["rtmr0"] = "" }, `"rtmr0"`},
		{"measurement without name", func(c *Claims) { c.Measurements[""] = "00" }, "measurement name"},
		{"empty trust anchor", func(c *Claims) { c.TrustAnchors = append(c.TrustAnchors, "") }, "trust anchor"},
		{"empty not-evaluated name", func(c *Claims) { c.NotEvaluated = []string{""} }, KeyNotEvaluated},
		{"duplicate not-evaluated name", func(c *Claims) { c.NotEvaluated = []string{"tcb_status", "tcb_status"} }, "duplicate"},
		{"too many not-evaluated names", func(c *Claims) {
			c.NotEvaluated = strings.Split("a,b,c,d,e,f,g,h,i", ",")
		}, "9 names"},
		{"token too large", func(c *Claims) {
			c.Measurements = map[string]string{"big": strings.Repeat("ab", MaxTokenSize/2)}
		}, "limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims()
			tc.mod(&c)
			tok, err := f.iss.Issue(c)
			if !errors.Is(err, ErrInvalidClaims) {
				t.Fatalf("Issue = (%d bytes, %v), want ErrInvalidClaims", len(tok), err)
			}
			if !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("error %q does not mention %q", err, tc.inErr)
			}
		})
	}
}

// Status "none" with affirming claims is a valid, if unhelpful, EAR: the
// library's rule only forbids a status better than the vector.
func TestIssueStatusNoneWithClaims(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	c := f.claims()
	c.Status = StatusNone
	tok := f.issue(t, c)
	opts := f.opts()
	opts.AcceptedStatuses = []string{StatusNone}
	got, err := Verify(tok, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusNone {
		t.Fatalf("Status = %s, want none (not upgraded by the vector)", got.Status)
	}
}

// One Issuer serves many connections at once; Verify is stateless.
func TestConcurrentIssueVerify(t *testing.T) {
	f := newFixture(t, elliptic.P256(), 32)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			c := f.claims()
			c.PolicyID = fmt.Sprintf("policy-%d", i)
			tok, err := f.iss.Issue(c)
			if err == nil {
				var got *Claims
				got, err = Verify(tok, f.opts())
				if err == nil && got.PolicyID != c.PolicyID {
					err = fmt.Errorf("policy %q, want %q", got.PolicyID, c.PolicyID)
				}
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
