package policy

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/receipt"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExampleYAMLAndJSONSameDigest(t *testing.T) {
	py, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	pj, err := Load(filepath.Join("testdata", "example.json"))
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	if py.Digest() != pj.Digest() {
		cy, _ := py.CanonicalCBOR()
		cj, _ := pj.CanonicalCBOR()
		dy, _ := cbor.Diagnose(cy)
		dj, _ := cbor.Diagnose(cj)
		t.Fatalf("digests differ:\nyaml %s\njson %s", dy, dj)
	}
	// Spot-check that the file's values arrived.
	if py.ID != "example-prod-2026" || py.SNP.MinTCB.Microcode != 115 || py.Receipts.Threshold != 2 ||
		py.Receipts.Lifetime.D() != 24*time.Hour || py.Passport.MaxAge.D() != 5*time.Minute ||
		len(py.TDX.RTMRs) != 2 || py.Receipts.MaskingProfile != MaskSaltedDigest {
		t.Fatalf("unexpected values: %+v", py)
	}
}

func TestCanonicalCBOR(t *testing.T) {
	p := Default()
	b, err := p.CanonicalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := cbor.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	r, ok := m["receipts"].(map[any]any)
	if !ok {
		t.Fatalf("receipts = %T", m["receipts"])
	}
	// Durations are integer seconds in the canonical form.
	// The defaults are receipt's table (receipt/defaults.go).
	if r["lifetime"] != uint64(receipt.DefaultLifetime/time.Second) || r["clock_skew"] != uint64(receipt.DefaultClockSkew/time.Second) ||
		r["token_lifetime"] != uint64(receipt.DefaultTokenLifetime/time.Second) {
		t.Fatalf("receipts = %v", r)
	}
	if m["id"] != DefaultID {
		t.Fatalf("id = %v", m["id"])
	}
	// Deterministic: re-encoding the decoded form gives the same bytes, and key order
	// in the source file does not matter.
	reordered := []byte("receipts: {threshold: 1}\ntdx: {}\nsnp: {allow_debug: false}\nid: seatrx-default\n")
	q, err := Parse(reordered, "reordered.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if q.Digest() != p.Digest() {
		t.Fatalf("explicit defaults changed the digest")
	}
	// Any change changes the digest.
	q.SNP.AllowDebug = true
	if q.Digest() == p.Digest() {
		t.Fatalf("allow_debug did not change the digest")
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if err := p.Validate(); err != nil {
		t.Fatalf("Default does not validate: %v", err)
	}
	if p.SNP == nil || p.SNP.AllowDebug || p.TDX == nil || p.TDX.AllowDebug {
		t.Fatalf("default must accept SNP and TDX with debug forbidden: %+v", p)
	}
	if got := p.TDX.AcceptedTCBStatuses; len(got) != 1 || got[0] != "UpToDate" {
		t.Fatalf("TDX statuses = %v", got)
	}
	if p.Receipts.Threshold != 1 || len(p.Receipts.Approvers) != 0 || p.Passport != nil || len(p.TrustAnchors) != 0 {
		t.Fatalf("default receipts/passport/anchors = %+v", p)
	}
}

// example returns the example policy as text with old replaced by new.
func example(t *testing.T, old, new string) []byte {
	t.Helper()
	b := readFile(t, "example.yaml")
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("example.yaml has no %q", old)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func lineOf(t *testing.T, b []byte, needle string) int {
	t.Helper()
	i := bytes.Index(b, []byte(needle))
	if i < 0 {
		t.Fatalf("no %q", needle)
	}
	return bytes.Count(b[:i], []byte("\n")) + 1
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name   string
		data   func(t *testing.T) []byte
		needle string // the line the error must point at (its first occurrence)
		key    string
		msg    string
	}{
		{"unknown-key", func(t *testing.T) []byte { return example(t, "  allow_smt: true", "  allow_smtt: true") },
			"allow_smtt", "snp.allow_smtt", "unknown key"},
		{"unknown-top-key", func(t *testing.T) []byte { return example(t, "id: example", "colour: blue\nid: example") },
			"colour", "colour", "unknown key"},
		{"tcb-out-of-range", func(t *testing.T) []byte { return example(t, "    snp: 8", "    snp: 300") },
			"snp: 300", "snp.min_tcb.snp", "cannot unmarshal"},
		{"bad-measurement-hex", func(t *testing.T) []byte { return example(t, `"6f0e2d`, `"zz0e2d`) },
			"zz0e2d", "snp.measurements[0]", "lowercase hex"},
		{"short-mrtd", func(t *testing.T) []byte { return example(t, `"a1b2c3d4e5f6071829`, `"a1b2`) },
			`"a1b2`, "tdx.mrtds[0]", "want 96 hex chars"},
		{"bad-rtmr", func(t *testing.T) []byte { return example(t, `["0000`, `["x000`) },
			`["x000`, "tdx.rtmrs[1][0]", "not hex"},
		{"threshold-too-high", func(t *testing.T) []byte { return example(t, "threshold: 2", "threshold: 3") },
			"threshold: 3", "receipts.threshold", "3 exceeds the 2 approvers"},
		{"bad-masking", func(t *testing.T) []byte {
			return example(t, `"urn:seatrx:mask:salted-digest"`, `"urn:x"`)
		}, `"urn:x"`, "receipts.masking_profile", `unknown profile "urn:x"`},
		{"bad-duration", func(t *testing.T) []byte { return example(t, "lifetime: 24h", "lifetime: 24 hours") },
			"lifetime: 24 hours", "receipts.lifetime", `bad duration "24 hours"`},
		{"fractional-duration", func(t *testing.T) []byte { return example(t, "clock_skew: 2m", "clock_skew: 1.5s") },
			"clock_skew: 1.5s", "receipts.clock_skew", "not a whole number of seconds"},
		{"bad-anchor", func(t *testing.T) []byte { return example(t, `"sha256:1a2b`, `"sha1:1a2b`) },
			`"sha1:1a2b`, "trust_anchors[0]", `want "sha256:<64 hex chars>"`},
		{"bad-pem", func(t *testing.T) []byte {
			return example(t, "MCowBQYDK2VwAyEAXPZoWkRcMnnupi2xkTxdwq39V81oeVtIfxVeSunfDvI=", "AAAA")
		}, "public_key_pem: |\n        -----BEGIN PUBLIC KEY-----\n        AAAA", "receipts.approvers[1].public_key_pem", "parse public key"},
		{"alg-key-mismatch", func(t *testing.T) []byte { return example(t, "alg: ES256", "alg: ES384") },
			"public_key_pem", "passport.verifiers[0].public_key_pem", "ES384 needs an ECDSA P-384 key, got ECDSA P-256"},
		{"bad-alg", func(t *testing.T) []byte { return example(t, "alg: ES256", "alg: RS256") },
			"alg: RS256", "passport.verifiers[0].alg", `"RS256" is not ES256 or ES384`},
		{"duplicate-approver", func(t *testing.T) []byte { return example(t, "id: bob", "id: alice") },
			"- id: alice\n      public_key_pem: |\n        -----BEGIN PUBLIC KEY-----\n        MCow", "receipts.approvers[1].id", `"alice" duplicates entry 0`},
		{"bad-status", func(t *testing.T) []byte {
			return example(t, "accepted_statuses: [affirming]", "accepted_statuses: [contraindicated]")
		},
			"[contraindicated]", "passport.accepted_statuses[0]", `"contraindicated" is not`},
		{"revoked-tcb", func(t *testing.T) []byte { return example(t, "[UpToDate, SWHardeningNeeded]", "[Revoked]") },
			"[Revoked]", "tdx.accepted_tcb_statuses[0]", "Revoked can never be accepted"},
		{"duplicate-key", func(t *testing.T) []byte { return example(t, "id: example-prod-2026", "id: a\nid: b") },
			"id: b", "id", `mapping key "id" already defined`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data(t)
			_, err := Parse(data, "policy.yaml")
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *Error", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("errors.Is(err, ErrInvalid) = false")
			}
			wantLine := lineOf(t, data, tc.needle)
			if pe.File != "policy.yaml" || pe.Line != wantLine || pe.Key != tc.key || !strings.Contains(pe.Msg, tc.msg) {
				t.Fatalf("got %s:%d key %q msg %q\nwant policy.yaml:%d key %q msg containing %q",
					pe.File, pe.Line, pe.Key, pe.Msg, wantLine, tc.key, tc.msg)
			}
			prefix := "policy.yaml:" + strconv.Itoa(wantLine) + ": "
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("Error() = %q, want prefix %q", err.Error(), prefix)
			}
		})
	}
}

func TestParseWholeFileErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "empty policy"},
		{"scalar", []byte("hello"), "must be a mapping"},
		{"two-documents", []byte("id: a\nsnp: {}\n---\nid: b\n"), "more than one YAML document"},
		{"too-large", bytes.Repeat([]byte("#"), MaxFileSize+1), "file exceeds"},
		{"syntax", []byte("id: [a\n"), "did not find expected"},
		{"missing-id", []byte("snp: {}\n"), "id: required"},
		{"nothing-accepted", []byte("id: x\n"), "accepts nothing"},
		{"json-unknown-key", []byte(`{"id":"x","snp":{"allow_debugg":true}}`), "snp.allow_debugg: unknown key"},
		{"threshold-no-approvers", []byte("id: x\nsnp: {}\nreceipts: {threshold: 2}\n"), "single implicit approver"},
		{"negative-threshold", []byte("id: x\nsnp: {}\nreceipts: {threshold: -1}\n"), "must be at least 1"},
		{"skew-over-lifetime", []byte("id: x\nsnp: {}\nreceipts: {lifetime: 1m, clock_skew: 2m}\n"), "exceeds the receipt lifetime"},
		{"token-over-lifetime", []byte("id: x\nsnp: {}\nreceipts: {lifetime: 10m, token_lifetime: 11m}\n"), "receipts.token_lifetime: 11m0s exceeds the receipt lifetime"},
		{"max-age-over-lifetime", []byte("id: x\nsnp: {}\nreceipts: {lifetime: 10m, max_age: 11m}\n"), "receipts.max_age"},
		{"no-verifiers", []byte("id: x\npassport: {}\n"), "at least one verifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, "p.yaml")
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.msg)
			}
		})
	}
}

// Lifetime is enforced in online verification; max_age only tightens it.
func TestOnlineMaxAge(t *testing.T) {
	p := Default()
	if got := p.Receipts.OnlineMaxAge(); got != receipt.DefaultLifetime {
		t.Fatalf("default OnlineMaxAge = %v, want the lifetime %v", got, receipt.DefaultLifetime)
	}
	p.Receipts.Lifetime, p.Receipts.MaxAge = Duration(time.Hour), Duration(20*time.Minute)
	if got := p.Receipts.OnlineMaxAge(); got != 20*time.Minute {
		t.Fatalf("OnlineMaxAge with max_age = %v", got)
	}
	p.Receipts.MaxAge = 0
	if got := p.Receipts.OnlineMaxAge(); got != time.Hour {
		t.Fatalf("OnlineMaxAge without max_age = %v, want the lifetime", got)
	}
}

func TestValidateWrapsPlatformError(t *testing.T) {
	p := Default()
	p.TDX.MRTDs = []string{"00"}
	err := p.Validate()
	if !errors.Is(err, tdx.ErrPolicy) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want tdx.ErrPolicy and ErrInvalid", err)
	}
	var pe *Error
	if !errors.As(err, &pe) || pe.Key != "tdx.mrtds[0]" || pe.Msg != "want 96 hex chars, got 2" {
		t.Fatalf("key = %+v", pe)
	}
	p = Default()
	p.SNP.AllowedVMPLs = []uint32{7}
	if err := p.Validate(); !errors.As(err, &pe) || pe.Key != "snp.allowed_vmpls[0]" || pe.Msg != "7 is not a VMPL (0..3)" {
		t.Fatalf("snp field error = %v (%+v)", err, pe)
	}
}

func TestLoadLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#"), MaxFileSize+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "file exceeds") {
		t.Fatalf("err = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestDurationForms(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90s", 90 * time.Second, ""},
		{"3600", time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"-1s", 0, "negative"},
		{"-5", 0, "out of range"},
		{"1ms", 0, "whole number of seconds"},
		{"1000000h", 0, "exceeds 100 years"},
		{"soon", 0, "bad duration"},
	}
	for _, tc := range tests {
		d, err := parseDuration(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%s: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || d.D() != tc.want {
			t.Fatalf("%s: got %v, %v", tc.in, d, err)
		}
	}
	// JSON and CBOR carry integer seconds and round-trip.
	d := Duration(2 * time.Hour)
	j, _ := d.MarshalJSON()
	c, _ := d.MarshalCBOR()
	if string(j) != "7200" {
		t.Fatalf("JSON = %s", j)
	}
	var dj, dc Duration
	if err := dj.UnmarshalJSON(j); err != nil || dj != d {
		t.Fatalf("JSON round trip: %v %v", dj, err)
	}
	if err := dc.UnmarshalCBOR(c); err != nil || dc != d {
		t.Fatalf("CBOR round trip: %v %v", dc, err)
	}
	if err := dj.UnmarshalJSON([]byte(`"2h"`)); err != nil || dj != d {
		t.Fatalf("JSON string form: %v %v", dj, err)
	}
	if err := dc.UnmarshalCBOR([]byte{0x20}); err == nil { // -1
		t.Fatalf("CBOR -1 accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(readFile(f, "example.yaml"))
	f.Add(readFile(f, "example.json"))
	f.Add([]byte("id: x\nsnp: {min_tcb: {snp: 3}}\nreceipts: {lifetime: 1h}\n"))
	f.Add([]byte("id: &a x\nsnp: *a\n"))
	f.Add([]byte(`{"id":"x","tdx":{"rtmrs":[[],["00"]]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed policy does not validate: %v", err)
		}
		b, err := p.CanonicalCBOR()
		if err != nil {
			t.Fatalf("CanonicalCBOR: %v", err)
		}
		// The canonical form decodes back to a policy with the same digest.
		var q Policy
		if err := cbor.Unmarshal(b, &q); err != nil {
			t.Fatalf("canonical CBOR does not decode: %v", err)
		}
		if q.Digest() != p.Digest() {
			t.Fatalf("canonical CBOR round trip changed the digest")
		}
	})
}

// Unknown keys are found by walking the document against the Policy type,
// at any depth (through pointers, slices and nested structs), with the line
// of the key; values of self-decoding types (durations) are left to them.
func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name, doc, key string
		line           int
	}{
		{"nested struct", "id: x\nsnp:\n  min_tcb:\n    snp: 1\n    fmc2: 1\n", "snp.min_tcb.fmc2", 5},
		{"in a sequence", "id: x\nsnp: {}\nreceipts:\n  approvers:\n    - id: a\n      public_key_pem: k\n    - id: b\n      colour: red\n", "receipts.approvers[1].colour", 8},
		{"passport verifier", "id: x\npassport:\n  verifiers:\n    - {id: v, public_key_pem: k, alg: ES256, kid: 1}\n", "passport.verifiers[0].kid", 4},
		{"tdx", "id: x\ntdx:\n  rtmrs: [[], []]\n  mr_seam: []\n", "tdx.mr_seam", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), "p.yaml")
			var pe *Error
			if !errors.As(err, &pe) || pe.Key != tc.key || pe.Line != tc.line || pe.Msg != "unknown key" || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (%+v), want unknown key %s at line %d", err, pe, tc.key, tc.line)
			}
		})
	}
	// A mapping where a duration belongs is a type problem, not an unknown key.
	_, err := Parse([]byte("id: x\nsnp: {}\nreceipts:\n  lifetime: {hours: 1}\n"), "p.yaml")
	var pe *Error
	if !errors.As(err, &pe) || pe.Msg == "unknown key" || !strings.HasPrefix(pe.Key, "receipts.lifetime") {
		t.Fatalf("err = %v (%+v), want a receipts.lifetime value error", err, pe)
	}
}

// The canonical form is the preimage of every issued receipt's policy_hash: a
// change to it (a renamed key, a new default, another encoding) silently
// changes the digest of policies in use, so the digests of the default
// policy and of the example files are pinned. Change them only with a
// deliberate, announced change of the canonical form.
func TestCanonicalDigestsPinned(t *testing.T) {
	const (
		defaultDigest = "fe88f5dd56152d87d4f3882d962b63e5568ff9eb91bab2404355bd078b3707b5"
		// The example is a production policy: it requires TDX collateral
		// (require_collateral: true since issue 10), which changed its digest
		// from 12cafc30…5720. The keys added then (accept_unevaluated_tcb,
		// accept_unevaluated_revocation) are left out of the canonical form
		// when false, so they change no existing policy's digest. The
		// example gained a credentials section (issue 14; it was
		// 0edf7530…8060); credentials is left out when absent, so no policy
		// without one changes.
		exampleDigest = "2f2ceefca8cbfe07b3a00f358c55d73c5ef5b028ef8c86cb5237015a23d2c550"
	)
	check := func(name string, p *Policy, want string) {
		t.Helper()
		if d := p.Digest(); hex.EncodeToString(d[:]) != want {
			c, _ := p.CanonicalCBOR()
			diag, _ := cbor.Diagnose(c)
			t.Errorf("%s: digest %x, want %s\ncanonical form: %s", name, d, want, diag)
		}
	}
	check("Default()", Default(), defaultDigest)
	for _, f := range []string{"example.yaml", "example.json"} {
		p, err := Load(filepath.Join("testdata", f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		check(f, p, exampleDigest)
	}
}

// TestUnevaluatedKeys: the keys that accept unevaluated checks are read from
// YAML, cost nothing in the canonical form while false (policies written
// before them keep their digest), change the digest when true, and
// accepting an unevaluated TCB while requiring collateral is refused by name.
func TestUnevaluatedKeys(t *testing.T) {
	base, err := Parse([]byte("id: p\nsnp: {}\ntdx: {}\n"), "base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	explicitFalse, err := Parse([]byte("id: p\nsnp: {accept_unevaluated_revocation: false}\ntdx: {accept_unevaluated_tcb: false}\n"), "f.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if explicitFalse.Digest() != base.Digest() {
		t.Fatal("explicit false changed the digest")
	}
	for _, src := range []string{"id: p\nsnp: {accept_unevaluated_revocation: true}\ntdx: {}\n", "id: p\nsnp: {}\ntdx: {accept_unevaluated_tcb: true}\n"} {
		p, err := Parse([]byte(src), "t.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if p.Digest() == base.Digest() {
			t.Fatalf("%q did not change the digest", src)
		}
		if !p.SNP.AcceptUnevaluatedRevocation && !p.TDX.AcceptUnevaluatedTCB {
			t.Fatalf("%q: key not read", src)
		}
	}
	_, err = Parse([]byte("id: p\ntdx:\n  require_collateral: true\n  accept_unevaluated_tcb: true\n"), "c.yaml")
	var pe *Error
	if !errors.As(err, &pe) || pe.Key != "tdx.accept_unevaluated_tcb" || pe.Line != 4 || !strings.Contains(pe.Msg, "contradicts require_collateral") {
		t.Fatalf("contradiction: %v", err)
	}
}

// AppraisalPolicy hands the evidence layer the document's own sections, id
// and digest: what an appraisal records is what the policy file says.
func TestAppraisalPolicy(t *testing.T) {
	p, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ap := p.AppraisalPolicy()
	if ap.ID != p.ID || ap.Digest != p.Digest() || ap.SNP != p.SNP || ap.TDX != p.TDX ||
		len(ap.TrustAnchors) != len(p.TrustAnchors) || ap.TrustAnchors[0] != p.TrustAnchors[0] {
		t.Fatalf("AppraisalPolicy = %+v, want the sections, id and digest of %+v", ap, p)
	}
	if err := ap.Validate(); err != nil {
		t.Fatalf("the appraisal part of a valid policy does not validate: %v", err)
	}
	p.TDX = nil
	if ap := p.AppraisalPolicy(); ap.TDX != nil {
		t.Fatalf("a policy without tdx hands over a TDX section: %+v", ap.TDX)
	}
}
