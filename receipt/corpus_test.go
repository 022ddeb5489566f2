package receipt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/veraison/ear"
	"github.com/veraison/go-cose"
)

// vectorCase is one conformance case, built in Go and written to the
// vector files by TestGenerateVectors. The runner is package conformance's;
// these types only write its JSON (receipt/PROFILE.md §10).
type vectorCase struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Inputs      vectorInputs   `json:"inputs"`
	Expected    vectorExpected `json:"expected"`
}

// hexBytes is a byte string rendered as lowercase hex in vector JSON.
type hexBytes []byte

// MarshalJSON renders lowercase hex.
func (h hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// vectorKey is a trusted key in a vector: a public COSE_Key and its identity.
type vectorKey struct {
	ID        string   `json:"id"`
	Issuer    string   `json:"issuer,omitempty"`
	COSEKey   hexBytes `json:"cose_key"`
	NotBefore int64    `json:"not_before,omitempty"`
	NotAfter  int64    `json:"not_after,omitempty"`
}

// redemption is one execution-token redemption attempt in a "redeem" vector.
type redemption struct {
	Secret      hexBytes `json:"secret"`
	Audience    string   `json:"aud"`
	Now         int64    `json:"now"`
	PeerKeyHash hexBytes `json:"peer_key_hash,omitempty"`
}

// vectorInputs are the inputs of receipt and approval vectors.
type vectorInputs struct {
	Op string `json:"op"`

	Issuers        []vectorKey         `json:"issuers,omitempty"`
	Approvers      []vectorKey         `json:"approvers,omitempty"`
	Threshold      int                 `json:"threshold,omitempty"`
	EARKey         hexBytes            `json:"ear_key,omitempty"`
	AllowSimulated bool                `json:"allow_simulated,omitempty"`
	TrustAnchors   []string            `json:"trust_anchors,omitempty"`
	Bundle         hexBytes            `json:"bundle,omitempty"`
	Receipt        hexBytes            `json:"receipt,omitempty"`
	Action         hexBytes            `json:"action,omitempty"`
	Policy         hexBytes            `json:"policy,omitempty"`
	Salts          map[string]hexBytes `json:"salts,omitempty"`
	Mode           string              `json:"mode,omitempty"`
	Now            int64               `json:"now,omitempty"`
	Skew           int64               `json:"skew,omitempty"`
	MaxAge         int64               `json:"max_age,omitempty"`
	ReplaySeen     []hexBytes          `json:"replay_seen,omitempty"`
	Redemptions    []redemption        `json:"redemptions,omitempty"`
	Identifier     string              `json:"identifier,omitempty"`
	Value          hexBytes            `json:"value,omitempty"`
	Approval       hexBytes            `json:"approval,omitempty"`

	Seed    hexBytes `json:"seed,omitempty"`
	Name    string   `json:"name,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Payload hexBytes `json:"payload,omitempty"`
}

// vectorExpected is the expected outcome: Error (a namespaced code) or results.
type vectorExpected struct {
	Error string `json:"error,omitempty"`

	OK         *bool             `json:"ok,omitempty"`
	Checks     map[string]string `json:"checks,omitempty"`
	ReceiptID  hexBytes          `json:"receipt_id,omitempty"`
	ActionHash hexBytes          `json:"action_hash,omitempty"`
	PolicyHash hexBytes          `json:"policy_hash,omitempty"`
	Timestamp  uint64            `json:"timestamp,omitempty"`

	Approver string   `json:"approver,omitempty"`
	Nonce    hexBytes `json:"nonce,omitempty"`
	IssuedAt uint64   `json:"iat,omitempty"`
	Expires  uint64   `json:"exp,omitempty"`
	Audience string   `json:"aud,omitempty"`

	Kid          hexBytes `json:"kid,omitempty"`
	SigStructure hexBytes `json:"sig_structure,omitempty"`
	COSE         hexBytes `json:"cose,omitempty"`
}

func boolp(b bool) *bool { return &b }

// kv is one raw member of a CBOR map with a text key.
type kv struct {
	k string
	v []byte
}

// payloadKVs splits a deterministic map into its members, in encoded order.
func payloadKVs(t testing.TB, payload []byte) []kv {
	t.Helper()
	var m map[string]cbor.RawMessage
	if err := decMode.Unmarshal(payload, &m); err != nil {
		t.Fatalf("payloadKVs: %v", err)
	}
	var out []kv
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	slices.SortFunc(out, func(a, b kv) int {
		ka, kb := mustCBOR(t, a.k), mustCBOR(t, b.k)
		if len(ka) != len(kb) {
			return len(ka) - len(kb)
		}
		return slices.Compare(ka, kb)
	})
	return out
}

// encodeKVs writes a map in exactly the given member order.
func encodeKVs(t testing.TB, kvs []kv) []byte {
	t.Helper()
	var out []byte
	if len(kvs) < 24 {
		out = append(out, 0xa0+byte(len(kvs)))
	} else {
		out = append(out, 0xb8, byte(len(kvs)))
	}
	for _, p := range kvs {
		out = append(out, mustCBOR(t, p.k)...)
		out = append(out, p.v...)
	}
	return out
}

func setKV(kvs []kv, k string, v []byte) []kv {
	out := slices.Clone(kvs)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
			return out
		}
	}
	return append(out, kv{k, v})
}

func dropKV(kvs []kv, k string) []kv {
	return slices.DeleteFunc(slices.Clone(kvs), func(p kv) bool { return p.k == k })
}

func keyVec(t testing.TB, s *Signer) vectorKey {
	t.Helper()
	ck, err := COSEKey(s.Public())
	if err != nil {
		t.Fatal(err)
	}
	return vectorKey{ID: s.name, Issuer: s.name, COSEKey: ck}
}

// baseInputs returns online verify inputs trusting f's keys for bundle b.
func (f *fixture) baseInputs(t testing.TB, b *Bundle, threshold int) vectorInputs {
	t.Helper()
	in := vectorInputs{
		Op: "verify", Issuers: []vectorKey{keyVec(t, f.issuer)}, Threshold: threshold,
		TrustAnchors: []string{testAnchor}, Receipt: b.Receipt, Action: b.Action, Policy: b.Policy,
		Mode: "online", Now: testNow.Unix() + 30,
	}
	earPub, err := COSEKey(f.earKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	in.EARKey = earPub
	for _, a := range f.approvers {
		in.Approvers = append(in.Approvers, keyVec(t, a))
	}
	if len(b.Salts) > 0 {
		in.Salts = map[string]hexBytes{}
		for k, v := range b.Salts {
			in.Salts[k] = v
		}
	}
	return in
}

// receiptCorpus builds every receipt case (positive and negative).
func receiptCorpus(t testing.TB) []vectorCase {
	t.Helper()
	var cases []vectorCase
	add := func(name, desc string, in vectorInputs, exp vectorExpected) {
		cases = append(cases, vectorCase{Name: name, Description: desc, Inputs: in, Expected: exp})
	}
	fail := func(code ErrorCode) vectorExpected { return vectorExpected{Error: Namespace + "." + string(code)} }
	allPass := map[string]string{
		CheckStructure: StatusPass, CheckHeader: StatusPass, CheckSignature: StatusPass, CheckPayload: StatusPass,
		CheckActionHash: StatusPass, CheckPolicyHash: StatusPass, CheckConsistency: StatusPass, CheckApprovals: StatusPass,
		CheckAttestation: StatusPass, CheckTrustAnchors: StatusPass, CheckMasking: StatusPass, CheckTime: StatusPass,
		CheckReplay: StatusPass, CheckExecutionToken: StatusSkipped,
	}

	f := newFixture(t, "EdDSA", 1)
	b, secret := f.issue(t)
	r := mustParse(t, b.Receipt)
	ts := int64(r.Timestamp)
	okExp := func(r *Receipt, checks map[string]string) vectorExpected {
		return vectorExpected{OK: boolp(true), Checks: checks, ReceiptID: r.ReceiptID, ActionHash: r.ActionHash.Value, PolicyHash: r.PolicyHash.Value, Timestamp: r.Timestamp}
	}

	// --- signing vectors (Ed25519, byte-exact) ---
	e, err := parseEnvelope("cose", b.Receipt, MaxReceiptSize, ReceiptType, true)
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := SigStructure(f.issuer, ReceiptType, e.sub, e.payload)
	if err != nil {
		t.Fatal(err)
	}
	add("sign-ed25519-receipt", "Ed25519 issuer key from a fixed seed signs a receipt payload; Sig_structure and COSE_Sign1 are byte-exact",
		vectorInputs{Op: "sign", Seed: f.issuer.key.(interface{ Seed() []byte }).Seed(), Name: f.issuer.name, Subject: e.sub, Payload: e.payload},
		vectorExpected{Kid: f.issuer.kid, SigStructure: tbs, COSE: b.Receipt})

	// --- positive verification ---
	add("ok-ed25519-online", "complete 1-of-1 receipt with action and policy preimages, online mode: every check passes",
		f.baseInputs(t, b, 1), okExp(r, allPass))
	in := f.baseInputs(t, b, 1)
	in.Mode, in.Now = "audit", 0
	audit := map[string]string{CheckTime: StatusPass, CheckReplay: StatusSkipped, CheckApprovals: StatusPass}
	add("ok-ed25519-audit", "the same receipt in audit mode: no clock, replay reported as skipped", in, okExp(r, audit))
	in = f.baseInputs(t, b, 1)
	in.Action, in.Policy = nil, nil
	add("ok-bare-receipt", "receipt without preimages: hash recomputation reported as not possible, never as passed", in,
		okExp(r, map[string]string{CheckActionHash: StatusNotPossible, CheckPolicyHash: StatusNotPossible, CheckConsistency: StatusNotPossible, CheckAttestation: StatusPass}))
	in = f.baseInputs(t, b, 1)
	in.EARKey = nil
	add("ok-no-ear-verifier", "no EAR verifier configured: attestation reported as skipped, not passed", in,
		okExp(r, map[string]string{CheckAttestation: StatusSkipped}))

	for _, alg := range []string{"ES256", "ES384"} {
		fe := newFixture(t, alg, 1)
		be, _ := fe.issue(t)
		re := mustParse(t, be.Receipt)
		add("ok-"+lower(alg)+"-verify-only", alg+" issuer (randomized signature: verify-only vector)", fe.baseInputs(t, be, 1), okExp(re, allPass))
	}

	f3 := newFixture(t, "EdDSA", 3)
	b3, _ := f3.issue(t)
	r3 := mustParse(t, b3.Receipt)
	add("ok-2-of-3", "three approvals, policy threshold 2", f3.baseInputs(t, b3, 2), okExp(r3, allPass))
	in = f3.baseInputs(t, b3, 2)
	in.Approvers = in.Approvers[:2]
	add("approver-not-in-policy", "2-of-3 receipt, but the verifier's policy knows only two approvers", in, fail(CodeUnknownApprover))
	add("approvals-below-threshold", "1 approval, policy threshold 2", f.baseInputs(t, b, 2), fail(CodeApprovalsBelow))

	fm := newFixture(t, "EdDSA", 1)
	fm.in.Masking = MaskSaltedDigest
	bm, _ := fm.issue(t)
	rm := mustParse(t, bm.Receipt)
	add("ok-salted-digest-masking", "chip_id replaced by a salted digest; salts only in the bundle", fm.baseInputs(t, bm, 1),
		okExp(rm, map[string]string{CheckMasking: StatusPass}))
	in = fm.baseInputs(t, bm, 1)
	in.Salts = nil
	add("masking-salts-absent", "masked receipt without its salts: masking reported as not possible", in,
		okExp(rm, map[string]string{CheckMasking: StatusNotPossible}))
	in = fm.baseInputs(t, bm, 1)
	in.Op, in.Identifier, in.Value = "disclose", "chip_id", fm.chipID
	add("disclose-chip-id", "bundle salt confirms the chip id behind the masked digest", in, vectorExpected{})
	in.Value = append(slices.Clone(fm.chipID[:63]), 0x00)
	add("disclose-wrong-chip-id", "a different chip id does not match the masked digest", in, fail(CodeMaskMismatch))

	// --- envelope negatives ---
	in = f.baseInputs(t, b, 1)
	in.Receipt = append(slices.Clone(b.Receipt), 0x00)
	add("trailing-garbage", "one byte after the COSE_Sign1", in, fail(CodeTrailingData))
	in = f.baseInputs(t, b, 1)
	in.Receipt = b.Receipt[1:]
	add("untagged-cose", "COSE_Sign1 without tag 18", in, fail(CodeUntagged))
	in = f.baseInputs(t, b, 1)
	in.Receipt = make([]byte, MaxReceiptSize+1)
	add("oversized-receipt", "receipt above the 64 KiB limit, rejected before decoding", in, fail(CodeTooLarge))
	in = f.baseInputs(t, b, 1)
	in.Receipt = slices.Clone(b.Receipt)
	in.Receipt[len(in.Receipt)-1] ^= 0x01
	add("bad-signature", "last signature byte flipped", in, fail(CodeBadSignature))

	hdr := func(s *Signer, mut func(cose.ProtectedHeader)) cose.ProtectedHeader {
		ph := protectedHeaders(s, ReceiptType, e.sub).Protected
		if mut != nil {
			mut(ph)
		}
		return ph
	}
	custom := func(signer cose.Signer, ph cose.ProtectedHeader, uh cose.UnprotectedHeader) []byte {
		out, err := cose.Sign1(nil, signer, cose.Headers{Protected: ph, Unprotected: uh}, e.payload, nil)
		if err != nil {
			t.Fatalf("custom sign: %v", err)
		}
		return out
	}
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(f.issuer.signer, hdr(f.issuer, func(ph cose.ProtectedHeader) {
		ph[cose.HeaderLabelCritical] = []any{int64(-70000)}
		ph[int64(-70000)] = "must-understand"
	}), nil)
	add("unknown-crit", "crit lists a private header label this profile does not define", in, fail(CodeUnknownCrit))
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(f.issuer.signer, hdr(f.issuer, func(ph cose.ProtectedHeader) { ph[cose.HeaderLabelType] = ApprovalType }), nil)
	add("wrong-typ", "receipt payload signed with the approval typ", in, fail(CodeWrongTyp))
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(f.issuer.signer, hdr(f.issuer, nil), cose.UnprotectedHeader{int64(-70001): []byte{0}})
	add("unprotected-header", "an unprotected header parameter v1 does not define", in, fail(CodeUnprotectedHeader))
	p256 := ecKey(t, elliptic.P256(), "alg-mismatch")
	s256, err := cose.NewSigner(cose.AlgorithmES256, p256)
	if err != nil {
		t.Fatal(err)
	}
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(s256, hdr(f.issuer, func(ph cose.ProtectedHeader) { ph[cose.HeaderLabelAlgorithm] = cose.AlgorithmES256 }), nil)
	add("alg-key-mismatch", "header alg ES256 but kid names the trusted Ed25519 issuer key", in, fail(CodeAlgKeyMismatch))
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s512, err := cose.NewSigner(cose.AlgorithmES512, p521)
	if err != nil {
		t.Fatal(err)
	}
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(s512, hdr(f.issuer, func(ph cose.ProtectedHeader) { ph[cose.HeaderLabelAlgorithm] = cose.AlgorithmES512 }), nil)
	add("alg-not-allowed", "ES512 is not in the profile's algorithm set", in, fail(CodeAlgNotAllowed))
	other := mustSigner(t, seedKey("untrusted-issuer"), testIssuer)
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(other.signer, hdr(other, nil), nil)
	add("unknown-kid", "signed by a key the verifier does not trust", in, fail(CodeUnknownKid))
	in = f.baseInputs(t, b, 1)
	in.Receipt = custom(f.issuer.signer, hdr(f.issuer, func(ph cose.ProtectedHeader) {
		ph[cose.HeaderLabelCWTClaims] = cose.CWTClaims{cose.CWTClaimIssuer: "https://other.example", cose.CWTClaimSubject: e.sub}
	}), nil)
	add("issuer-mismatch", "CWT iss is not the issuer the key is configured for", in, fail(CodeIssuerMismatch))

	// --- payload negatives (validly signed by the trusted issuer) ---
	kvs := payloadKVs(t, e.payload)
	withPayload := func(p []byte) vectorInputs {
		in := f.baseInputs(t, b, 1)
		in.Receipt = f.signPayload(t, p)
		return in
	}
	swapped := slices.Clone(kvs)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	add("unsorted-map-keys", "payload members not in Core Deterministic order", withPayload(encodeKVs(t, swapped)), fail(CodeNonDeterministic))
	add("duplicate-keys", "timestamp appears twice", withPayload(encodeKVs(t, append(slices.Clone(kvs), kv{"timestamp", mustCBOR(t, r.Timestamp)}))), fail(CodeDuplicateKey))
	long := binary.BigEndian.AppendUint64([]byte{0x1b}, r.Timestamp)
	add("non-shortest-integer", "timestamp encoded in 8 bytes", withPayload(encodeKVs(t, setKV(kvs, "timestamp", long))), fail(CodeNonDeterministic))
	indef := append(append([]byte{0x5f, 0x50}, r.ReceiptID...), 0xff)
	add("indefinite-length", "receipt_id as an indefinite-length byte string", withPayload(encodeKVs(t, setKV(kvs, "receipt_id", indef))), fail(CodeIndefiniteLength))
	add("float-timestamp", "timestamp as a float", withPayload(encodeKVs(t, setKV(kvs, "timestamp", mustCBOR(t, float64(r.Timestamp)+0.5)))), fail(CodeWrongType))
	add("tagged-timestamp", "timestamp wrapped in tag 1", withPayload(encodeKVs(t, setKV(kvs, "timestamp", append([]byte{0xc1}, mustCBOR(t, r.Timestamp)...)))), fail(CodeTagForbidden))
	add("invalid-utf8", "hae_masking_profile_id is not valid UTF-8", withPayload(encodeKVs(t, setKV(kvs, "hae_masking_profile_id", []byte{0x63, 0xff, 0xfe, 0xfd}))), fail(CodeInvalidUTF8))
	add("unknown-top-level-key", "a key outside the closed map (extensions is the only open place)", withPayload(encodeKVs(t, append(slices.Clone(kvs), kv{"colour", mustCBOR(t, "blue")}))), fail(CodeUnknownField))
	for _, k := range []string{"profile", "receipt_id", "action_hash", "policy_hash", "approver_identities", "approver_signatures", "timestamp", "execution_token", "hae_masking_profile_id", "hae_attestation_token"} {
		add("missing-"+kebab(k), "required field "+k+" absent", withPayload(encodeKVs(t, dropKV(kvs, k))), fail(CodeMissingField))
	}

	forge := func(mut func(*Receipt)) vectorInputs {
		c := mustParse(t, b.Receipt)
		mut(c)
		in := f.baseInputs(t, b, 1)
		in.Receipt = f.forge(t, c)
		return in
	}
	add("wrong-hash-length", "action_hash value of 31 bytes for SHA-256", forge(func(c *Receipt) { c.ActionHash.Value = c.ActionHash.Value[:31] }), fail(CodeHashLength))
	add("unknown-hash-alg", "policy_hash with an unregistered algorithm id", forge(func(c *Receipt) { c.PolicyHash.Alg = -99 }), fail(CodeHashAlg))
	add("profile-mismatch", "profile is not the seatrx v1 tag", forge(func(c *Receipt) { c.Profile = "tag:example.com,2026:other" }), fail(CodeProfile))
	// Profile v2's snapshot members (transport, binder derivation), and v1's absence of them.
	snapForge := func(profile string, mut func(*ContextSnapshot)) vectorInputs {
		return forge(func(c *Receipt) { c.Profile = profile; mut(c.ContextSnapshot) })
	}
	add("v2-missing-transport", "profile v2 snapshot without transport", snapForge(ProfileID, func(s *ContextSnapshot) { s.Transport = "" }), fail(CodeMissingField))
	add("v2-missing-binder-profile", "profile v2 snapshot without binder_profile", snapForge(ProfileID, func(s *ContextSnapshot) { s.BinderProfile = "" }), fail(CodeMissingField))
	add("v2-missing-binder-label", "profile v2 snapshot without binder_label", snapForge(ProfileID, func(s *ContextSnapshot) { s.BinderLabel = "" }), fail(CodeMissingField))
	add("v2-unknown-transport", "transport is neither tls nor dtls", snapForge(ProfileID, func(s *ContextSnapshot) { s.Transport = "quic" }), fail(CodeBadValue))
	add("v2-transport-version-mismatch", "transport tls with a DTLS version number", snapForge(ProfileID, func(s *ContextSnapshot) { s.TLSVersion = 0xfefc }), fail(CodeBadValue))
	add("v1-with-v2-members", "a v1 receipt whose snapshot has binder_profile (a v2 member): unknown in v1", snapForge(ProfileIDV1, func(s *ContextSnapshot) { s.Transport, s.BinderLabel = "", "" }), fail(CodeUnknownField))
	in = forge(func(c *Receipt) {
		c.ContextSnapshot.Transport, c.ContextSnapshot.TLSVersion = TransportDTLS, 0xfefc
	})
	add("ok-v2-dtls-transport", "a DTLS 1.3 transport (0xfefc) is a valid v2 snapshot, so DTLS needs no v3", in,
		vectorExpected{OK: boolp(true), Checks: map[string]string{CheckPayload: StatusPass, CheckSignature: StatusPass}})
	add("receipt-id-length", "receipt_id of 8 bytes", forge(func(c *Receipt) { c.ReceiptID = c.ReceiptID[:8] }), fail(CodeBadLength))
	add("approval-count-mismatch", "two identities, one signature", forge(func(c *Receipt) {
		c.ApproverIdentities = append(c.ApproverIdentities, Approver{ID: "urn:x", Kid: []byte{1}})
	}), fail(CodeApprovalCount))
	add("unknown-masking-profile", "hae_masking_profile_id outside the defined URIs", forge(func(c *Receipt) { c.MaskingProfileID = "urn:example:mask" }), fail(CodeMaskingProfile))
	add("nested-unknown-key", "unknown member inside execution_token", withPayload(encodeKVs(t, setKV(kvs, "execution_token", encodeKVs(t, append(payloadKVs(t, kvGet(kvs, "execution_token")), kv{"secret", mustCBOR(t, []byte{1})}))))), fail(CodeUnknownField))
	add("token-max-uses", "execution_token.max_uses is not 1", forge(func(c *Receipt) { c.ExecutionToken.MaxUses = 2 }), fail(CodeBadValue))

	// --- hashes against preimages ---
	in = f.baseInputs(t, b, 1)
	a2 := f.in.Action
	a2.Binder = slices.Clone(a2.Binder)
	a2.Binder[0] ^= 0xff
	in.Action, _ = a2.Marshal()
	add("action-hash-mismatch", "action preimage differs from the hashed one", in, fail(CodeHashMismatch))
	in = f.baseInputs(t, b, 1)
	in.Policy = mustCBOR(t, map[string]any{"version": 2})
	add("policy-hash-mismatch", "policy preimage differs from the hashed one", in, fail(CodeHashMismatch))

	// --- approvals ---
	add("duplicate-approver", "the same approver listed twice", forge(func(c *Receipt) {
		c.ApproverIdentities = append(c.ApproverIdentities, c.ApproverIdentities[0])
		c.ApproverSignatures = append(c.ApproverSignatures, c.ApproverSignatures[0])
	}), fail(CodeDuplicateApprover))
	bOther, _ := f.issue(t)
	rOther := mustParse(t, bOther.Receipt)
	add("approval-splice", "approval taken from another receipt (other receipt_id)", forge(func(c *Receipt) {
		c.ApproverSignatures = rOther.ApproverSignatures
	}), fail(CodeApprovalReceiptID))
	add("expired-approval", "approval exp before the receipt timestamp", forge(func(c *Receipt) {
		st := &Approval{ReceiptID: c.ReceiptID, ActionHash: c.ActionHash, PolicyHash: c.PolicyHash, AttestationDigest: SHA256(c.AttestationToken.Value),
			Approver: f.approvers[0].name, Decision: DecisionApprove, Nonce: make([]byte, 16), IssuedAt: c.Timestamp - 600, Expires: c.Timestamp - 300, Audience: testIssuer}
		sig, err := SignApproval(f.approvers[0], st)
		if err != nil {
			t.Fatal(err)
		}
		c.ApproverSignatures = [][]byte{sig}
	}), fail(CodeApprovalExpired))

	// --- attestation token ---
	earCase := func(name, desc string, key any, c earClaims, code string) {
		fe := newFixture(t, "EdDSA", 1)
		k := fe.earKey
		if key != nil {
			k = seedKey("rogue-ear-verifier")
		}
		fe.in.EAR = makeEAR(t, k, c)
		be, _ := fe.issue(t)
		add(name, desc, fe.baseInputs(t, be, 1), vectorExpected{Error: code})
	}
	good := earClaims{profile: ear.EatProfile, status: "affirming", nonce: f.binder, iat: testNow.Add(-10 * time.Second)}
	// An EAR failure keeps evidence/ear's code: the EAR inside a receipt is
	// judged by the same verifier as on the wire.
	earCase("ear-bad-signature", "EAR signed by a key other than the trusted verifier key", true, good, "ear.signature")
	c := good
	c.nonce = []byte("another connection's binder....")
	earCase("ear-nonce-not-binder", "EAR eat_nonce differs from the action's binder", nil, c, "ear.nonce")
	c = good
	c.status = "contraindicated"
	earCase("ear-status-contraindicated", "EAR overall status contraindicated", nil, c, "ear.status")
	c = good
	c.profile = "tag:example.com,2026:unknown-ear"
	earCase("ear-unknown-profile", "EAR with an eat_profile other than the Veraison EAR profile", nil, c, "ear.profile")
	c = good
	c.iat = testNow.Add(-time.Hour)
	earCase("ear-stale", "EAR issued an hour before the receipt", nil, c, "ear.time")
	add("attestation-media-type", "hae_attestation_token with a media type other than the EAR JWT type", forge(func(c *Receipt) {
		c.AttestationToken.MediaType = "application/eat+cwt"
	}), fail(CodeAttestationMediaType))

	// --- trust anchors ---
	fs := newFixture(t, "EdDSA", 1)
	fs.in.Snapshot.Simulated = true
	bs, _ := fs.issue(t)
	add("test-pki-under-production-trust", "snapshot says simulated (test PKI) and the verifier does not allow it", fs.baseInputs(t, bs, 1), fail(CodeTestPKI))
	in = fs.baseInputs(t, bs, 1)
	in.AllowSimulated = true
	add("ok-test-pki-allowed", "the same receipt under a verifier that explicitly allows simulated TEEs", in,
		okExp(mustParse(t, bs.Receipt), map[string]string{CheckTrustAnchors: StatusPass}))
	in = f.baseInputs(t, b, 1)
	in.TrustAnchors = []string{"sha256:0000"}
	add("untrusted-anchor", "receipt names a trust anchor the verifier does not accept", in, fail(CodeUntrustedAnchor))

	fc := newFixture(t, "EdDSA", 1)
	fc.in.Snapshot.Binder = []byte("a binder from another connection")
	bc, _ := fc.issue(t)
	add("snapshot-binder-mismatch", "context_snapshot.binder differs from the action's binder", fc.baseInputs(t, bc, 1), fail(CodeBadValue))

	// --- time and replay ---
	in = f.baseInputs(t, b, 1)
	in.Now = ts - 120
	add("future-timestamp", "timestamp two minutes after the verifier's clock (skew 60 s)", in, fail(CodeFutureTimestamp))
	in = f.baseInputs(t, b, 1)
	in.Now = ts + 3600
	add("too-old", "verified an hour after issuance (max age 15 min)", in, fail(CodeTooOld))
	in = f.baseInputs(t, b, 1)
	in.ReplaySeen = []hexBytes{r.ReceiptID}
	add("replayed-receipt-id", "receipt_id already in the replay cache", in, fail(CodeReplayed))
	in = f.baseInputs(t, b, 1)
	in.Mode, in.Now = "audit", 0
	in.Issuers[0].NotAfter = ts - 1
	add("audit-outside-key-validity", "audit mode: timestamp after the issuer key's notAfter", in, fail(CodeOutsideKeyValidity))

	// --- execution token ---
	peer := f.in.Action.PeerKey.Value
	redeem := func(rds ...redemption) vectorInputs {
		return vectorInputs{Op: "redeem", Receipt: b.Receipt, Redemptions: rds}
	}
	okRd := redemption{Secret: secret, Audience: testAudience, Now: ts + 10, PeerKeyHash: peer}
	add("token-redeem-once", "secret, audience, window and key binding match", redeem(okRd), vectorExpected{})
	add("token-reuse", "the same token redeemed twice", redeem(okRd, okRd), fail(CodeTokenConsumed))
	rd := okRd
	rd.PeerKeyHash = make([]byte, 32)
	add("token-cnf-mismatch", "redeemed by a peer whose key is not the bound key", redeem(rd), fail(CodeTokenCnf))
	rd = okRd
	rd.Secret = make([]byte, 32)
	add("token-wrong-secret", "secret does not hash to the digest", redeem(rd), fail(CodeTokenMismatch))
	rd = okRd
	rd.Audience = "https://other-executor.example"
	add("token-wrong-audience", "redeemed at another executor", redeem(rd), fail(CodeTokenAudience))
	rd = okRd
	rd.Now = ts + 3600
	add("token-expired", "redeemed after exp", redeem(rd), fail(CodeTokenExpired))

	// --- bundle ---
	bb, err := b.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	in = f.baseInputs(t, b, 1)
	in.Receipt, in.Action, in.Policy, in.Bundle = nil, nil, nil, bb
	add("ok-bundle", "the whole bundle as one CBOR map", in, okExp(r, allPass))
	in = f.baseInputs(t, b, 1)
	in.Receipt, in.Action, in.Policy = nil, nil, nil
	in.Bundle = encodeKVs(t, append(payloadKVs(t, bb), kv{"extra", mustCBOR(t, 1)}))
	add("bundle-unknown-key", "bundle map with a key the profile does not define", in, fail(CodeUnknownField))

	// --- EARs an earlier receipt-only verifier accepted (added last, so that
	// the fixed-seed bytes of every case above stay as published) ---
	c = good
	c.nonceText = base64.StdEncoding.EncodeToString(f.binder)
	earCase("ear-nonce-padded-base64", "eat_nonce in padded standard base64: EAT requires unpadded base64url", nil, c, "ear.nonce")
	c = good
	c.vector = map[string]int{"hardware": 96}
	earCase("ear-affirming-contraindicated-vector", "declared affirming, but a trust-vector claim is contraindicated: the effective status is contraindicated", nil, c, "ear.status")

	// --- not_evaluated is a v2 member (added last, as above) ---
	add("v1-with-not-evaluated", "a v1 receipt whose snapshot has not_evaluated, which came after v1 was frozen: unknown in v1",
		snapForge(ProfileIDV1, func(s *ContextSnapshot) {
			s.Transport, s.BinderProfile, s.BinderLabel = "", "", ""
			s.NotEvaluated = []string{"tcb_status"}
		}), fail(CodeUnknownField))
	add("ok-v2-not-evaluated", "a v2 snapshot naming the checks the appraisal could not make",
		snapForge(ProfileID, func(s *ContextSnapshot) { s.NotEvaluated = []string{"tcb_status", "revocation"} }),
		vectorExpected{OK: boolp(true), Checks: map[string]string{CheckPayload: StatusPass, CheckSignature: StatusPass}})
	return cases
}

func kvGet(kvs []kv, k string) []byte {
	for _, p := range kvs {
		if p.k == k {
			return p.v
		}
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func kebab(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// approvalCorpus builds every approval case.
func approvalCorpus(t testing.TB) []vectorCase {
	t.Helper()
	var cases []vectorCase
	add := func(name, desc string, in vectorInputs, exp vectorExpected) {
		cases = append(cases, vectorCase{Name: name, Description: desc, Inputs: in, Expected: exp})
	}
	f := newFixture(t, "EdDSA", 1)
	a := f.approvers[0]
	st := &Approval{
		ReceiptID: []byte("0123456789abcdef"), ActionHash: SHA256([]byte("action")), PolicyHash: SHA256([]byte("policy")),
		AttestationDigest: SHA256([]byte("ear")), Approver: a.name, Decision: DecisionApprove, Nonce: []byte("nonce-0123456789"),
		IssuedAt: uint64(testNow.Unix()), Expires: uint64(testNow.Unix()) + 300, Audience: testIssuer,
	}
	payload := mustCBOR(t, st)
	sig, err := SignApproval(a, st)
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := SigStructure(a, ApprovalType, "", payload)
	if err != nil {
		t.Fatal(err)
	}
	add("sign-ed25519-approval", "Ed25519 approver key from a fixed seed signs an approval statement; byte-exact",
		vectorInputs{Op: "sign", Seed: a.key.(interface{ Seed() []byte }).Seed(), Name: a.name, Payload: payload},
		vectorExpected{Kid: a.kid, SigStructure: tbs, COSE: sig})
	verify := func(approval []byte) vectorInputs {
		return vectorInputs{Op: "verify", Approvers: []vectorKey{keyVec(t, a)}, Approval: approval}
	}
	add("ok-approval", "valid approval under the approver's trusted key", verify(sig),
		vectorExpected{Approver: a.name, ReceiptID: st.ReceiptID, Nonce: st.Nonce, IssuedAt: st.IssuedAt, Expires: st.Expires, Audience: st.Audience})
	fa := newFixture(t, "ES256", 1)
	es := mustSigner(t, ecKey(t, elliptic.P256(), "approver-es256"), "urn:seatrx:approver:es256")
	st2 := *st
	st2.Approver = es.name
	sig2, err := SignApproval(es, &st2)
	if err != nil {
		t.Fatal(err)
	}
	_ = fa
	add("ok-approval-es256-verify-only", "ES256 approval (randomized signature: verify-only)",
		vectorInputs{Op: "verify", Approvers: []vectorKey{keyVec(t, es)}, Approval: sig2}, vectorExpected{Approver: es.name})

	fail := func(code ErrorCode) vectorExpected { return vectorExpected{Error: Namespace + "." + string(code)} }
	bad := slices.Clone(sig)
	bad[len(bad)-1] ^= 1
	add("approval-bad-signature", "last signature byte flipped", verify(bad), fail(CodeBadSignature))
	add("approval-untagged", "approval without tag 18", verify(sig[1:]), fail(CodeUntagged))
	add("approval-trailing-garbage", "byte after the approval", verify(append(slices.Clone(sig), 0)), fail(CodeTrailingData))
	wrongTyp, err := signEnvelope(a, ReceiptType, "", payload)
	if err != nil {
		t.Fatal(err)
	}
	add("approval-wrong-typ", "approval statement signed with the receipt typ", verify(wrongTyp), fail(CodeWrongTyp))
	rogue := mustSigner(t, seedKey("rogue-approver"), a.name)
	rsig, err := SignApproval(rogue, st)
	if err != nil {
		t.Fatal(err)
	}
	add("approval-unknown-kid", "signed by a key that is not the approver's trusted key", verify(rsig), fail(CodeUnknownKid))
	kvs := payloadKVs(t, payload)
	raw := func(p []byte) []byte {
		out, err := signEnvelope(a, ApprovalType, "", p)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	add("approval-decision-deny", "decision other than approve", verify(raw(encodeKVs(t, setKV(kvs, "decision", mustCBOR(t, "deny"))))), fail(CodeApprovalDecision))
	add("approval-nonce-length", "nonce of 8 bytes", verify(raw(encodeKVs(t, setKV(kvs, "nonce", mustCBOR(t, []byte("12345678")))))), fail(CodeBadLength))
	add("approval-unknown-field", "statement with an undefined member", verify(raw(encodeKVs(t, append(slices.Clone(kvs), kv{"note", mustCBOR(t, "x")})))), fail(CodeUnknownField))
	add("approval-missing-aud", "statement without aud", verify(raw(encodeKVs(t, dropKV(kvs, "aud")))), fail(CodeMissingField))
	sw := slices.Clone(kvs)
	sw[0], sw[1] = sw[1], sw[0]
	add("approval-unsorted", "statement members out of deterministic order", verify(raw(encodeKVs(t, sw))), fail(CodeNonDeterministic))
	add("approval-approver-mismatch", "statement names another approver than the key's owner", verify(raw(encodeKVs(t, setKV(kvs, "approver", mustCBOR(t, "urn:seatrx:approver:mallory"))))), fail(CodeApprovalMismatch))
	add("approval-sign-invalid-payload", "signing vector whose payload is not a valid statement", vectorInputs{Op: "sign", Seed: a.key.(interface{ Seed() []byte }).Seed(), Name: a.name, Payload: encodeKVs(t, dropKV(kvs, "nonce"))}, fail(CodeMissingField))
	return cases
}
