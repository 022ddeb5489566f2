package receipt

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Vector kinds handled by RunVector (conformance/vectors/{receipt,approval}.json).
const (
	VectorKindReceipt  = "receipt"
	VectorKindApproval = "approval"
)

// VectorSchema is the schema tag of the seatrx vector files.
const VectorSchema = "seatrx-vectors/v1"

// HexBytes is a byte string rendered as lowercase hex in vector JSON.
type HexBytes []byte

// MarshalJSON renders lowercase hex.
func (h HexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(h)) }

// UnmarshalJSON accepts lowercase hex only.
func (h *HexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	for _, c := range s {
		if c >= 'A' && c <= 'F' {
			return fmt.Errorf("hex must be lowercase")
		}
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// VectorKey is a trusted key in a vector: a public COSE_Key and its identity.
type VectorKey struct {
	ID        string   `json:"id"`
	Issuer    string   `json:"issuer,omitempty"`
	COSEKey   HexBytes `json:"cose_key"`
	NotBefore int64    `json:"not_before,omitempty"`
	NotAfter  int64    `json:"not_after,omitempty"`
}

// Redemption is one execution-token redemption attempt in a "redeem" vector.
type Redemption struct {
	Secret      HexBytes `json:"secret"`
	Audience    string   `json:"aud"`
	Now         int64    `json:"now"`
	PeerKeyHash HexBytes `json:"peer_key_hash,omitempty"`
}

// VectorInputs are the inputs of receipt and approval vectors; PROFILE.md
// documents which members each op uses.
type VectorInputs struct {
	Op string `json:"op"`

	// verify, redeem, disclose (receipt); verify (approval)
	Issuers        []VectorKey         `json:"issuers,omitempty"`
	Approvers      []VectorKey         `json:"approvers,omitempty"`
	Threshold      int                 `json:"threshold,omitempty"`
	EARKey         HexBytes            `json:"ear_key,omitempty"`
	AllowSimulated bool                `json:"allow_simulated,omitempty"`
	TrustAnchors   []string            `json:"trust_anchors,omitempty"`
	Bundle         HexBytes            `json:"bundle,omitempty"`
	Receipt        HexBytes            `json:"receipt,omitempty"`
	Action         HexBytes            `json:"action,omitempty"`
	Policy         HexBytes            `json:"policy,omitempty"`
	Salts          map[string]HexBytes `json:"salts,omitempty"`
	Mode           string              `json:"mode,omitempty"`
	Now            int64               `json:"now,omitempty"`
	Skew           int64               `json:"skew,omitempty"`
	MaxAge         int64               `json:"max_age,omitempty"`
	ReplaySeen     []HexBytes          `json:"replay_seen,omitempty"`
	Redemptions    []Redemption        `json:"redemptions,omitempty"`
	Identifier     string              `json:"identifier,omitempty"`
	Value          HexBytes            `json:"value,omitempty"`
	Approval       HexBytes            `json:"approval,omitempty"`

	// sign
	Seed    HexBytes `json:"seed,omitempty"`
	Name    string   `json:"name,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Payload HexBytes `json:"payload,omitempty"`
}

// VectorExpected is the expected outcome: Error (a stable code) or results.
type VectorExpected struct {
	Error string `json:"error,omitempty"`

	OK         *bool             `json:"ok,omitempty"`
	Checks     map[string]string `json:"checks,omitempty"`
	ReceiptID  HexBytes          `json:"receipt_id,omitempty"`
	ActionHash HexBytes          `json:"action_hash,omitempty"`
	PolicyHash HexBytes          `json:"policy_hash,omitempty"`
	Timestamp  uint64            `json:"timestamp,omitempty"`

	Approver string   `json:"approver,omitempty"`
	Nonce    HexBytes `json:"nonce,omitempty"`
	IssuedAt uint64   `json:"iat,omitempty"`
	Expires  uint64   `json:"exp,omitempty"`
	Audience string   `json:"aud,omitempty"`

	Kid          HexBytes `json:"kid,omitempty"`
	SigStructure HexBytes `json:"sig_structure,omitempty"`
	COSE         HexBytes `json:"cose,omitempty"`
}

func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// RunVector checks one vector case of kind "receipt" or "approval" and
// returns nil if the implementation produces exactly the expected outcome.
func RunVector(kind string, inputs, expected json.RawMessage) error {
	var in VectorInputs
	var exp VectorExpected
	if err := decodeStrict(inputs, &in); err != nil {
		return fmt.Errorf("vector inputs: %w", err)
	}
	if err := decodeStrict(expected, &exp); err != nil {
		return fmt.Errorf("vector expected: %w", err)
	}
	return runVector(kind, &in, &exp)
}

func runVector(kind string, in *VectorInputs, exp *VectorExpected) error {
	switch {
	case in.Op == "sign" && (kind == VectorKindReceipt || kind == VectorKindApproval):
		return runSign(kind, in, exp)
	case in.Op == "verify" && kind == VectorKindReceipt:
		rep, err := runReceiptVerify(in)
		return compareOutcome(err, exp, func() error { return compareReport(rep, exp) })
	case in.Op == "redeem" && kind == VectorKindReceipt:
		return compareOutcome(runRedeem(in), exp, func() error { return nil })
	case in.Op == "disclose" && kind == VectorKindReceipt:
		return compareOutcome(runDisclose(in), exp, func() error { return nil })
	case in.Op == "verify" && kind == VectorKindApproval:
		sa, err := runApprovalVerify(in)
		return compareOutcome(err, exp, func() error { return compareApproval(sa, exp) })
	}
	return fmt.Errorf("unsupported kind/op %q/%q", kind, in.Op)
}

func compareOutcome(err error, exp *VectorExpected, onSuccess func() error) error {
	if exp.Error != "" {
		if err == nil {
			return fmt.Errorf("expected error %q, got success", exp.Error)
		}
		if got := string(Code(err)); got != exp.Error {
			return fmt.Errorf("expected error %q, got %q (%v)", exp.Error, got, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("expected success, got %v", err)
	}
	return onSuccess()
}

func trustedFromVector(keys []VectorKey) ([]TrustedKey, error) {
	out := make([]TrustedKey, 0, len(keys))
	for _, k := range keys {
		pub, err := ParseCOSEKey(k.COSEKey)
		if err != nil {
			return nil, fmt.Errorf("vector key %q: %w", k.ID, err)
		}
		tk := TrustedKey{ID: k.ID, Key: pub, Issuer: k.Issuer}
		if k.NotBefore != 0 {
			tk.NotBefore = time.Unix(k.NotBefore, 0)
		}
		if k.NotAfter != 0 {
			tk.NotAfter = time.Unix(k.NotAfter, 0)
		}
		out = append(out, tk)
	}
	return out, nil
}

func (in *VectorInputs) options() (VerifyOptions, error) {
	var o VerifyOptions
	var err error
	if o.Trust.Issuers, err = trustedFromVector(in.Issuers); err != nil {
		return o, err
	}
	if o.Trust.Approvers, err = trustedFromVector(in.Approvers); err != nil {
		return o, err
	}
	o.Trust.Threshold = in.Threshold
	o.Trust.AllowSimulated = in.AllowSimulated
	o.Trust.TrustAnchors = in.TrustAnchors
	if in.EARKey != nil {
		pub, err := ParseCOSEKey(in.EARKey)
		if err != nil {
			return o, fmt.Errorf("ear_key: %w", err)
		}
		if o.Trust.EARVerify, err = NewEARVerifier(pub, EAROptions{}); err != nil {
			return o, err
		}
	}
	switch in.Mode {
	case "online", "":
		o.Mode = ModeOnline
		o.Now = time.Unix(in.Now, 0)
		o.Skew = time.Duration(in.Skew) * time.Second
		o.MaxAge = time.Duration(in.MaxAge) * time.Second
		rc := NewMemoryReplayCache()
		for _, id := range in.ReplaySeen {
			rc.Seen(id, o.Now.Add(24*time.Hour))
		}
		o.Replay = rc
	case "audit":
		o.Mode = ModeAudit
	default:
		return o, fmt.Errorf("unknown mode %q", in.Mode)
	}
	return o, nil
}

func (in *VectorInputs) bundle() (*Bundle, error) {
	if in.Bundle != nil {
		return UnmarshalBundle(in.Bundle)
	}
	b := &Bundle{Receipt: in.Receipt, Action: in.Action, Policy: in.Policy}
	if len(in.Salts) > 0 {
		b.Salts = make(map[string][]byte, len(in.Salts))
		for k, v := range in.Salts {
			b.Salts[k] = v
		}
	}
	return b, nil
}

func runReceiptVerify(in *VectorInputs) (*Report, error) {
	opts, err := in.options()
	if err != nil {
		return nil, fmt.Errorf("vector setup: %w", err)
	}
	b, err := in.bundle()
	if err != nil {
		return nil, err
	}
	return Verify(b, opts)
}

func compareReport(rep *Report, exp *VectorExpected) error {
	if exp.OK != nil && rep.OK != *exp.OK {
		return fmt.Errorf("ok = %v, want %v", rep.OK, *exp.OK)
	}
	for _, name := range slices.Sorted(maps.Keys(exp.Checks)) {
		if got := rep.Status(name); got != exp.Checks[name] {
			return fmt.Errorf("check %s = %q, want %q", name, got, exp.Checks[name])
		}
	}
	r := rep.Receipt
	if exp.ReceiptID != nil && !bytes.Equal(r.ReceiptID, exp.ReceiptID) {
		return fmt.Errorf("receipt_id %x, want %x", r.ReceiptID, []byte(exp.ReceiptID))
	}
	if exp.ActionHash != nil && !bytes.Equal(r.ActionHash.Value, exp.ActionHash) {
		return fmt.Errorf("action_hash %x, want %x", r.ActionHash.Value, []byte(exp.ActionHash))
	}
	if exp.PolicyHash != nil && !bytes.Equal(r.PolicyHash.Value, exp.PolicyHash) {
		return fmt.Errorf("policy_hash %x, want %x", r.PolicyHash.Value, []byte(exp.PolicyHash))
	}
	if exp.Timestamp != 0 && r.Timestamp != exp.Timestamp {
		return fmt.Errorf("timestamp %d, want %d", r.Timestamp, exp.Timestamp)
	}
	return nil
}

func runRedeem(in *VectorInputs) error {
	r, err := ParseReceipt(in.Receipt)
	if err != nil {
		return err
	}
	ledger := NewMemoryTokenLedger()
	for _, rd := range in.Redemptions {
		if err := Redeem(r.ExecutionToken, rd.Secret, rd.Audience, time.Unix(rd.Now, 0), rd.PeerKeyHash, ledger); err != nil {
			return err
		}
	}
	return nil
}

func runDisclose(in *VectorInputs) error {
	b, err := in.bundle()
	if err != nil {
		return err
	}
	r, err := ParseReceipt(b.Receipt)
	if err != nil {
		return err
	}
	return b.CheckDisclosure(r, in.Identifier, in.Value)
}

func runApprovalVerify(in *VectorInputs) (*SignedApproval, error) {
	keys, err := trustedFromVector(in.Approvers)
	if err != nil || len(keys) != 1 {
		return nil, fmt.Errorf("vector setup: want one approver key: %v", err)
	}
	return VerifyApproval(in.Approval, keys[0])
}

func compareApproval(sa *SignedApproval, exp *VectorExpected) error {
	switch {
	case exp.Approver != "" && sa.Approver != exp.Approver:
		return fmt.Errorf("approver %q, want %q", sa.Approver, exp.Approver)
	case exp.ReceiptID != nil && !bytes.Equal(sa.ReceiptID, exp.ReceiptID):
		return fmt.Errorf("receipt_id mismatch")
	case exp.Nonce != nil && !bytes.Equal(sa.Nonce, exp.Nonce):
		return fmt.Errorf("nonce mismatch")
	case exp.IssuedAt != 0 && sa.IssuedAt != exp.IssuedAt, exp.Expires != 0 && sa.Expires != exp.Expires:
		return fmt.Errorf("iat/exp %d/%d, want %d/%d", sa.IssuedAt, sa.Expires, exp.IssuedAt, exp.Expires)
	case exp.Audience != "" && sa.Audience != exp.Audience:
		return fmt.Errorf("aud %q, want %q", sa.Audience, exp.Audience)
	}
	return nil
}

// runSign re-creates an Ed25519 signing vector byte for byte.
func runSign(kind string, in *VectorInputs, exp *VectorExpected) error {
	if len(in.Seed) != ed25519.SeedSize {
		return fmt.Errorf("seed must be %d bytes", ed25519.SeedSize)
	}
	s, err := NewSigner(ed25519.NewKeyFromSeed(in.Seed), in.Name)
	if err != nil {
		return err
	}
	typ, sub := ReceiptType, in.Subject
	if kind == VectorKindApproval {
		typ, sub = ApprovalType, ""
		if _, err := decodeApproval("payload", in.Payload); err != nil {
			return compareOutcome(err, exp, nil)
		}
	} else if _, err := decodeReceiptPayload(in.Payload); err != nil {
		return compareOutcome(err, exp, nil)
	}
	if exp.Error != "" {
		return fmt.Errorf("expected error %q, got success", exp.Error)
	}
	tbs, err := SigStructure(s, typ, sub, in.Payload)
	if err != nil {
		return err
	}
	out, err := signEnvelope(s, typ, sub, in.Payload)
	if err != nil {
		return err
	}
	switch {
	case !bytes.Equal(s.kid, exp.Kid):
		return fmt.Errorf("kid %x, want %x", s.kid, []byte(exp.Kid))
	case !bytes.Equal(tbs, exp.SigStructure):
		return fmt.Errorf("sig_structure differs:\n got %x\nwant %x", tbs, []byte(exp.SigStructure))
	case !bytes.Equal(out, exp.COSE):
		return fmt.Errorf("COSE_Sign1 differs:\n got %x\nwant %x", out, []byte(exp.COSE))
	}
	return nil
}
