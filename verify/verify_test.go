package verify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
)

func pemOf(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func testKeysDoc(t *testing.T) (*receipt.Keys, *ecdsa.PrivateKey) {
	t.Helper()
	var ks [3]*ecdsa.PrivateKey
	var cose [3][]byte
	for i := range ks {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if cose[i], err = receipt.COSEKey(&k.PublicKey); err != nil {
			t.Fatal(err)
		}
		ks[i] = k
	}
	return &receipt.Keys{Issuer: "https://issuer.example", IssuerKey: cose[0], Appraiser: cose[1], Verifier: cose[2], PolicyCBOR: []byte{0xa0}}, ks[2]
}

// Without a policy the issuer's appraiser is the 1-of-1 approver; the
// verifier's policy adds its approvers and threshold to it, and supplies the
// online clock knobs.
func TestTrustFromKeysAndPolicy(t *testing.T) {
	keys, _ := testKeysDoc(t)
	ts, err := Trust(keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Issuers) != 1 || ts.Issuers[0].Issuer != keys.Issuer || len(ts.Approvers) != 1 || ts.Approvers[0].ID != receipt.AppraiserID || ts.Threshold != 1 || ts.EAR == nil {
		t.Fatalf("trust without policy: %+v", ts)
	}
	if len(ts.TrustAnchors) == 0 || ts.AllowSimulated {
		t.Fatal("production roots must be pinned and simulated ones refused by default")
	}
	if ts, _ := Trust(keys, Options{AllowSimulated: true}); ts.TrustAnchors != nil {
		t.Fatal("simulated roots allowed without a pinned PKI must leave the anchors unpinned (reported skipped)")
	}

	a1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	a2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := policy.Default()
	p.Receipts.Approvers = []policy.Approver{{ID: "cfo", PublicKeyPEM: pemOf(t, a1)}, {ID: "cso", PublicKeyPEM: pemOf(t, a2)}}
	p.Receipts.Threshold = 2
	p.Receipts.MaxAge = policy.Duration(3 * time.Minute)
	p.TrustAnchors = []string{"sha256:00"}
	ts, err = Trust(keys, Options{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	set, err := ts.ApproversFor(&receipt.Action{})
	if err != nil || len(set.Approvers) != 3 || set.Approvers[0].ID != "cfo" || set.Approvers[2].ID != receipt.AppraiserID || set.Threshold != 3 ||
		len(set.Required) != 1 || set.Required[0] != receipt.AppraiserID || len(ts.TrustAnchors) != 1 {
		t.Fatalf("trust under the policy: %+v, approvers %+v, %v", ts, set, err)
	}
	vo, err := VerifyOptions(keys, Options{Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	if vo.Mode != receipt.ModeOnline || vo.Now.IsZero() || vo.Replay == nil || vo.MaxAge != 3*time.Minute || vo.Skew != time.Duration(p.Receipts.ClockSkew) {
		t.Fatalf("online options: %+v", vo)
	}
	// Without max_age the policy's lifetime is the online bound.
	p.Receipts.MaxAge, p.Receipts.Lifetime = 0, policy.Duration(20*time.Minute)
	if vo, err := VerifyOptions(keys, Options{Policy: p}); err != nil || vo.MaxAge != 20*time.Minute {
		t.Fatalf("online max age from the lifetime: %v %v", vo.MaxAge, err)
	}
	p.Receipts.Approvers[1].PublicKeyPEM = "not a key"
	if _, err := Trust(keys, Options{Policy: p}); err == nil {
		t.Fatal("a policy with a bad approver key was accepted")
	}
	if _, err := Trust(nil, Options{}); err == nil {
		t.Fatal("no keys document accepted")
	}
	keys.Verifier = []byte{0xa0}
	if _, err := Trust(keys, Options{}); receipt.Code(err) != receipt.CodeMalformed {
		t.Fatalf("bad EAR verifier key: %v", err)
	}
}

func TestBundleRefusesGarbage(t *testing.T) {
	keys, _ := testKeysDoc(t)
	if _, err := Bundle([]byte{0xff}, keys, Options{Mode: receipt.ModeAudit}); receipt.ProblemCode(err) != "receipt.malformed" {
		t.Fatalf("err = %v", err)
	}
}

// The defaults table (receipt/defaults.go) derives the EAR bound inside a
// receipt from evidence/ear's wire rules; this pins the relation.
func TestDefaultsAgree(t *testing.T) {
	if receipt.DefaultEARMaxAge != ear.DefaultMaxAge+receipt.DefaultAttestationMaxAge {
		t.Errorf("DefaultEARMaxAge %v, want ear.DefaultMaxAge %v + DefaultAttestationMaxAge %v",
			receipt.DefaultEARMaxAge, ear.DefaultMaxAge, receipt.DefaultAttestationMaxAge)
	}
	if receipt.DefaultClockSkew != ear.DefaultClockSkew {
		t.Errorf("clock skew: receipts %v, EARs on the wire %v", receipt.DefaultClockSkew, ear.DefaultClockSkew)
	}
	p := policy.Default()
	if time.Duration(p.Receipts.ClockSkew) != receipt.DefaultClockSkew || p.Receipts.OnlineMaxAge() != receipt.DefaultLifetime ||
		time.Duration(p.Receipts.TokenLifetime) != receipt.DefaultTokenLifetime {
		t.Errorf("default policy %+v does not carry receipt's defaults", p.Receipts)
	}
}

// The policy's rule for the action decides the approvers; the appraiser is
// required on top, and counted in the threshold when the policy lists its
// key itself (a policy written for 1-of-1 with the appraiser named).
func TestPolicyApproverSets(t *testing.T) {
	keys, _ := testKeysDoc(t)
	appraisers, err := keys.ApproverKeys()
	if err != nil {
		t.Fatal(err)
	}
	appraiserPEM := func() string {
		der, _ := x509.MarshalPKIXPublicKey(appraisers[0].Key)
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}()
	var pems [3]string
	for i := range pems {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pems[i] = pemOf(t, k)
	}
	rules := policy.Default()
	rules.Receipts.Approvers = []policy.Approver{{ID: "alice", Role: "cfo", PublicKeyPEM: pems[0]}, {ID: "bob", PublicKeyPEM: pems[1]}, {ID: "carol", PublicKeyPEM: pems[2]}}
	at := int64(1000)
	rules.Receipts.ApprovalRules = []policy.ApprovalRule{
		{Name: "big", Match: []policy.Condition{{Field: "amount", AtLeast: &at}}, Approvers: []string{"alice", "bob", "carol"}, Threshold: 2},
		{Name: "default"},
	}
	if err := rules.Validate(); err != nil {
		t.Fatal(err)
	}
	named := policy.Default()
	named.Receipts.Approvers = []policy.Approver{{ID: "srv", PublicKeyPEM: appraiserPEM}, {ID: "bob", PublicKeyPEM: pems[1]}}
	named.Receipts.Threshold = 2
	action := func(v map[string]any) *receipt.Action {
		b, err := detEnc.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return &receipt.Action{Requested: b}
	}
	for _, tc := range []struct {
		name      string
		pol       *policy.Policy
		action    *receipt.Action
		ids       string
		threshold int
		required  string
		fails     bool
	}{
		{"big amount: 2 of 3 and the appraiser", rules, action(map[string]any{"amount": 5000}), "alice,bob,carol,appraiser", 3, "appraiser", false},
		{"small amount: the appraiser alone", rules, action(map[string]any{"amount": 5}), "appraiser", 1, "appraiser", false},
		{"amount as text fails closed", rules, action(map[string]any{"amount": "5000"}), "", 0, "", true},
		{"no preimage under rules", rules, nil, "", 0, "", true},
		{"appraiser named by the policy", named, nil, "srv,bob", 2, "srv", false},
		{"default policy", policy.Default(), nil, "appraiser", 1, "appraiser", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := Trust(keys, Options{Policy: tc.pol})
			if err != nil {
				t.Fatal(err)
			}
			set, err := ts.ApproversFor(tc.action)
			if tc.fails {
				if err == nil {
					t.Fatalf("approvers chosen: %+v", set)
				}
				return
			}
			var ids []string
			for _, a := range set.Approvers {
				ids = append(ids, a.ID)
			}
			if err != nil || strings.Join(ids, ",") != tc.ids || set.Threshold != tc.threshold || strings.Join(set.Required, ",") != tc.required {
				t.Fatalf("set %v threshold %d required %v, err %v", ids, set.Threshold, set.Required, err)
			}
		})
	}
}

var detEnc, _ = cbor.CoreDetEncOptions().EncMode()
