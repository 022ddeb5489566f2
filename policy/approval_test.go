package policy

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/receipt"
)

func approvalsPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := Load(filepath.Join("testdata", "approvals.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func requested(t *testing.T, v any) []byte {
	t.Helper()
	em, _ := cbor.CoreDetEncOptions().EncMode()
	b, err := em.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The first rule whose conditions all hold applies; absent fields do not
// match; the last rule catches the rest.
func TestSelectRule(t *testing.T) {
	p := approvalsPolicy(t)
	for _, tc := range []struct {
		name      string
		req       any
		rule      string
		threshold int
		approvers []string
	}{
		{"large transfer", map[string]any{"operation": "transfer", "amount": 10000}, "large-transfer", 2, []string{"alice", "bob", "carol"}},
		{"large transfer as float", map[string]any{"operation": "transfer", "amount": 10000.5}, "large-transfer", 2, nil},
		{"huge unsigned amount", map[string]any{"operation": "transfer", "amount": uint64(1 << 63)}, "large-transfer", 2, nil},
		{"small transfer", map[string]any{"operation": "transfer", "amount": 9999}, "transfer", 1, nil},
		{"negative amount", map[string]any{"operation": "transfer", "amount": -5}, "transfer", 1, nil},
		{"fraction below", map[string]any{"operation": "transfer", "amount": 9999.99}, "transfer", 1, nil},
		{"transfer without amount", map[string]any{"operation": "transfer"}, "transfer", 1, nil},
		{"refund via one_of", map[string]any{"operation": "refund", "amount": 1 << 40}, "transfer", 1, nil},
		{"other operation", map[string]any{"operation": "read", "amount": 1 << 40}, "default", 0, []string{}},
		{"no requested", nil, "default", 0, nil},
		{"requested not a map", []any{"transfer"}, "default", 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req []byte
			if tc.req != nil {
				req = requested(t, tc.req)
			}
			r, err := p.Receipts.SelectRule(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tc.rule || r.Threshold != tc.threshold {
				t.Fatalf("rule %q threshold %d, want %q %d", r.Name, r.Threshold, tc.rule, tc.threshold)
			}
			if tc.approvers != nil {
				var ids []string
				for _, a := range r.Approvers {
					ids = append(ids, a.ID)
				}
				if strings.Join(ids, ",") != strings.Join(tc.approvers, ",") {
					t.Fatalf("approvers %v, want %v", ids, tc.approvers)
				}
			}
			if r.NeedsApprovers() != (tc.threshold > 0) {
				t.Fatalf("NeedsApprovers = %v", r.NeedsApprovers())
			}
		})
	}
	// Roles and keys come along with the ids.
	r, _ := p.Receipts.SelectRule(requested(t, map[string]any{"operation": "transfer", "amount": 1e6}))
	if r.Approvers[0].Role != "cfo" || !strings.Contains(r.Approvers[2].PublicKeyPEM, "PUBLIC KEY") || !r.DenyEnds || r.DenialsEnding() != 1 {
		t.Fatalf("resolved rule %+v", r)
	}
	r, _ = p.Receipts.SelectRule(requested(t, map[string]any{"operation": "transfer"}))
	if r.DenialsEnding() != 3 {
		t.Fatalf("1-of-3 without deny_ends ends after %d denies, want 3", r.DenialsEnding())
	}
}

// A field present with the type the rule does not test refuses the action:
// a requester must not reach a laxer rule by sending "10000" for 10000.
func TestSelectRuleTypeConfusionFailsClosed(t *testing.T) {
	p := approvalsPolicy(t)
	for _, tc := range []struct {
		name, rule, field string
		req               any
	}{
		{"amount as text", "large-transfer", "amount", map[string]any{"operation": "transfer", "amount": "1000000"}},
		{"operation as number", "large-transfer", "operation", map[string]any{"operation": 7}},
		{"amount as bool", "large-transfer", "amount", map[string]any{"operation": "transfer", "amount": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Receipts.SelectRule(requested(t, tc.req))
			var re *RuleError
			if !errors.As(err, &re) || re.Rule != tc.rule || re.Field != tc.field {
				t.Fatalf("err = %v, want a RuleError on %s.%s", err, tc.rule, tc.field)
			}
		})
	}
	if _, err := p.Receipts.SelectRule([]byte{0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02}); err == nil {
		t.Fatal("a requested map with a duplicate key was evaluated")
	}
}

// Dotted paths reach into nested objects; a path through a non-object does
// not match.
func TestSelectRuleNestedField(t *testing.T) {
	p, err := Parse([]byte(`id: n
snp: {}
receipts:
  approvers:
    - {id: a, public_key_pem: "`+strings.ReplaceAll(edKey, "\n", `\n`)+`"}
  approval_rules:
    - name: eu
      match: [{field: payment.region, equals: eu}, {field: payment.amount, below: 100}]
      approvers: [a]
      threshold: 1
    - name: default
`), "n.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for req, want := range map[string]string{
		`{"payment": {"region": "eu", "amount": 99}}`:  "eu",
		`{"payment": {"region": "eu", "amount": 100}}`: "default",
		`{"payment": "eu"}`:                            "default",
		`{"region": "eu", "amount": 1}`:                "default",
	} {
		var v any
		if err := json.Unmarshal([]byte(req), &v); err != nil {
			t.Fatal(err)
		}
		r, err := p.Receipts.SelectRule(requested(t, v))
		if err != nil || r.Name != want {
			t.Fatalf("%s: rule %v, err %v; want %s", req, r, err, want)
		}
	}
}

const edKey = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAXPZoWkRcMnnupi2xkTxdwq39V81oeVtIfxVeSunfDvI=\n-----END PUBLIC KEY-----\n"

// A policy without approval_rules keeps its meaning: its approvers and
// threshold are the one rule, and no approvers is the appraiser alone.
func TestSelectRuleLegacy(t *testing.T) {
	r, err := Default().Receipts.SelectRule(nil)
	if err != nil || r.Name != DefaultRuleName || r.NeedsApprovers() || r.Threshold != 0 {
		t.Fatalf("default policy rule %+v, %v", r, err)
	}
	ex, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r, err = ex.Receipts.SelectRule(requested(t, map[string]any{"anything": 1}))
	if err != nil || r.Threshold != 2 || len(r.Approvers) != 2 || r.Approvers[1].ID != "bob" || r.DenialsEnding() != 1 {
		t.Fatalf("example rule %+v, %v", r, err)
	}
	if ex.Receipts.AuthorizationExpiryOrDefault() != receipt.DefaultAuthorizationExpiry {
		t.Fatal("absent authorization_expiry is not the default")
	}
	if p := approvalsPolicy(t); p.Receipts.AuthorizationExpiryOrDefault() != 30*time.Minute {
		t.Fatalf("authorization_expiry = %v", p.Receipts.AuthorizationExpiryOrDefault())
	}
}

// Every rule of the language is checked when the policy is loaded, and the
// error names the key.
func TestApprovalRulesValidation(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "approvals.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rules := strings.Index(string(base), "  approval_rules:")
	head := string(base[:rules])
	withRules := func(s string) string { return head + "  approval_rules:\n" + s }
	for _, tc := range []struct{ name, doc, key string }{
		{"no default last", withRules("    - {name: a, match: [{field: op, equals: x}]}\n"), "receipts.approval_rules[0].match"},
		{"default not last", withRules("    - {name: a}\n    - {name: b, match: [{field: op, equals: x}]}\n"), "receipts.approval_rules[0].match"},
		{"duplicate name", withRules("    - {name: a, match: [{field: op, equals: x}]}\n    - {name: a}\n"), "receipts.approval_rules[1].name"},
		{"missing name", withRules("    - {}\n"), "receipts.approval_rules[0].name"},
		{"unknown approver", withRules("    - {name: a, approvers: [mallory], threshold: 1}\n"), "receipts.approval_rules[0].approvers[0]"},
		{"approver twice", withRules("    - {name: a, approvers: [alice, alice], threshold: 1}\n"), "receipts.approval_rules[0].approvers[1]"},
		{"threshold above", withRules("    - {name: a, approvers: [alice, bob], threshold: 3}\n"), "receipts.approval_rules[0].threshold"},
		{"threshold missing", withRules("    - {name: a, approvers: [alice]}\n"), "receipts.approval_rules[0].threshold"},
		{"threshold without approvers", withRules("    - {name: a, threshold: 1}\n"), "receipts.approval_rules[0].threshold"},
		{"deny_ends without approvers", withRules("    - {name: a, deny_ends: true}\n"), "receipts.approval_rules[0].deny_ends"},
		{"condition without field", withRules("    - {name: a, match: [{equals: x}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0].field"},
		{"condition testing nothing", withRules("    - {name: a, match: [{field: op}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0]"},
		{"text and band", withRules("    - {name: a, match: [{field: op, equals: x, below: 3}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0]"},
		{"equals and one_of", withRules("    - {name: a, match: [{field: op, equals: x, one_of: [y]}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0]"},
		{"empty band", withRules("    - {name: a, match: [{field: n, at_least: 5, below: 5}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0]"},
		{"bound too large", withRules("    - {name: a, match: [{field: n, below: 9007199254740993}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0].below"},
		{"deep field", withRules("    - {name: a, match: [{field: a.b.c.d.e, equals: x}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0].field"},
		{"empty segment", withRules("    - {name: a, match: [{field: a..b, equals: x}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0].field"},
		{"empty one_of entry", withRules("    - {name: a, match: [{field: a, one_of: [x, '']}]}\n    - {name: d}\n"), "receipts.approval_rules[0].match[0].one_of[1]"},
		{"legacy threshold with rules", strings.Replace(withRules("    - {name: d}\n"), "receipts:\n", "receipts:\n  threshold: 2\n", 1), "receipts.threshold"},
		{"expiry too long", withRules("    - {name: d}\n  authorization_expiry: 721h\n"), "receipts.authorization_expiry"},
		{"expiry zero", withRules("    - {name: d}\n  authorization_expiry: 0s\n"), "receipts.authorization_expiry"},
		{"role too long", strings.Replace(withRules("    - {name: d}\n"), "role: cfo", "role: "+strings.Repeat("r", 257), 1), "receipts.approvers[0].role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "p.yaml")
			var pe *Error
			if !errors.As(err, &pe) || pe.Key != tc.key || pe.Line == 0 {
				t.Fatalf("err = %v (%+v), want key %s with its line", err, pe, tc.key)
			}
		})
	}
	// Without rules, one set may not outgrow a receipt.
	var b strings.Builder
	b.WriteString("id: big\nsnp: {}\nreceipts:\n  approvers:\n")
	for i := range MaxRuleApprovers + 1 {
		b.WriteString("    - {id: a" + string(rune('a'+i)) + ", public_key_pem: \"" + strings.ReplaceAll(newEdPEM(t), "\n", `\n`) + "\"}\n")
	}
	var pe *Error
	if _, err := Parse([]byte(b.String()), "big.yaml"); !errors.As(err, &pe) || pe.Key != "receipts.approvers" {
		t.Fatalf("16 approvers in one set: %v", err)
	}
	// One key is one approver.
	twice := "id: twice\nsnp: {}\nreceipts:\n  approvers:\n" +
		"    - {id: a, public_key_pem: \"" + strings.ReplaceAll(edKey, "\n", `\n`) + "\"}\n" +
		"    - {id: b, public_key_pem: \"" + strings.ReplaceAll(edKey, "\n", `\n`) + "\"}\n"
	if _, err := Parse([]byte(twice), "twice.yaml"); !errors.As(err, &pe) || pe.Key != "receipts.approvers[1].public_key_pem" {
		t.Fatalf("one key under two ids: %v", err)
	}
}

// The new keys are left out of the canonical form when absent, so every
// policy written before them keeps its digest; the approvals example and
// the production example are pinned as well.
func TestApprovalDigestsPinned(t *testing.T) {
	for _, tc := range []struct{ file, digest string }{
		{filepath.Join("testdata", "approvals.yaml"), "b7d25cfbc733832f2557d130ec48569c00ea885baa63bdf71b9dbe60ed417df1"},
		{filepath.Join("..", "examples", "policy-production.yaml"), "f8b0d0eab027abf126458f17aeee2b681073a17fc4e6a12aea6eb1caa2932790"},
	} {
		p, err := Load(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Digest(); hex.EncodeToString(d[:]) != tc.digest {
			t.Errorf("%s: digest %x, want %s", tc.file, d, tc.digest)
		}
	}
	p := approvalsPolicy(t)
	p.Receipts.ApprovalRules[0].Approvers = p.Receipts.ApprovalRules[0].Approvers[:2]
	if q := approvalsPolicy(t); q.Digest() == p.Digest() {
		t.Fatal("a rule's approvers are not covered by the digest")
	}
}

// The canonical form, as a keys document or bundle carries it, parses back
// to the same policy; anything else is refused.
func TestParseCanonical(t *testing.T) {
	for _, p := range []*Policy{Default(), approvalsPolicy(t)} {
		b, err := p.CanonicalCBOR()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseCanonical(b)
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		if q.Digest() != p.Digest() {
			t.Fatalf("%s: round trip changed the digest", p.ID)
		}
	}
	good, _ := Default().CanonicalCBOR()
	var m map[string]any
	cbor.Unmarshal(good, &m)
	m["extra"] = 1
	extra, _ := cbor.Marshal(m)
	delete(m, "extra")
	delete(m["receipts"].(map[any]any), "lifetime")
	noDefault, _ := cbor.Marshal(m)
	for name, b := range map[string][]byte{
		"unknown key":     extra,
		"absent default":  noDefault,
		"not CBOR":        []byte("id: x"),
		"trailing byte":   append(append([]byte{}, good...), 0),
		"over size limit": make([]byte, receipt.MaxPolicySize+1),
	} {
		if _, err := ParseCanonical(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func newEdPEM(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}
