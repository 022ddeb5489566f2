package conformance

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/verify"
)

// Receipt vector kinds (receipt/PROFILE.md §10), run through receipt's
// public API only.
const (
	KindReceipt  = "receipt"
	KindApproval = "approval"
)

func init() {
	Register(KindReceipt, receipt.Namespace, func(in, exp json.RawMessage) error { return runReceiptVector(KindReceipt, in, exp) })
	Register(KindApproval, receipt.Namespace, func(in, exp json.RawMessage) error { return runReceiptVector(KindApproval, in, exp) })
}

// receiptKey is a trusted key in a vector: a public COSE_Key and its identity.
type receiptKey struct {
	ID        string `json:"id"`
	Issuer    string `json:"issuer,omitempty"`
	COSEKey   Hex    `json:"cose_key"`
	NotBefore int64  `json:"not_before,omitempty"`
	NotAfter  int64  `json:"not_after,omitempty"`
}

// redemption is one execution-token redemption attempt of a "redeem" case.
type redemption struct {
	Secret      Hex    `json:"secret"`
	Audience    string `json:"aud"`
	Now         int64  `json:"now"`
	PeerKeyHash Hex    `json:"peer_key_hash,omitempty"`
}

// receiptInputs are the inputs of receipt and approval vectors; PROFILE.md
// §10 says which members each op uses. The member order is the files'.
type receiptInputs struct {
	Op string `json:"op"`

	// verify, redeem, disclose (receipt); verify (approval)
	Issuers        []receiptKey   `json:"issuers,omitempty"`
	Approvers      []receiptKey   `json:"approvers,omitempty"`
	Threshold      int            `json:"threshold,omitempty"`
	EARKey         Hex            `json:"ear_key,omitempty"`
	AllowSimulated bool           `json:"allow_simulated,omitempty"`
	TrustAnchors   []string       `json:"trust_anchors,omitempty"`
	Bundle         Hex            `json:"bundle,omitempty"`
	Receipt        Hex            `json:"receipt,omitempty"`
	Action         Hex            `json:"action,omitempty"`
	Policy         Hex            `json:"policy,omitempty"`
	Salts          map[string]Hex `json:"salts,omitempty"`
	Mode           string         `json:"mode,omitempty"`
	Now            int64          `json:"now,omitempty"`
	Skew           int64          `json:"skew,omitempty"`
	MaxAge         int64          `json:"max_age,omitempty"`
	ReplaySeen     []Hex          `json:"replay_seen,omitempty"`
	Redemptions    []redemption   `json:"redemptions,omitempty"`
	Identifier     string         `json:"identifier,omitempty"`
	Value          Hex            `json:"value,omitempty"`
	Approval       Hex            `json:"approval,omitempty"`

	// sign
	Seed    Hex    `json:"seed,omitempty"`
	Name    string `json:"name,omitempty"`
	Subject string `json:"subject,omitempty"`
	Payload Hex    `json:"payload,omitempty"`
}

// receiptExpected is the expected outcome: Error (a namespaced code) or
// results.
type receiptExpected struct {
	Error string `json:"error,omitempty"`

	OK         *bool             `json:"ok,omitempty"`
	Checks     map[string]string `json:"checks,omitempty"`
	ReceiptID  Hex               `json:"receipt_id,omitempty"`
	ActionHash Hex               `json:"action_hash,omitempty"`
	PolicyHash Hex               `json:"policy_hash,omitempty"`
	Timestamp  uint64            `json:"timestamp,omitempty"`

	Approver string `json:"approver,omitempty"`
	Nonce    Hex    `json:"nonce,omitempty"`
	IssuedAt uint64 `json:"iat,omitempty"`
	Expires  uint64 `json:"exp,omitempty"`
	Audience string `json:"aud,omitempty"`

	Kid          Hex `json:"kid,omitempty"`
	SigStructure Hex `json:"sig_structure,omitempty"`
	COSE         Hex `json:"cose,omitempty"`
}

func runReceiptVector(kind string, inputs, expected json.RawMessage) error {
	var in receiptInputs
	var exp receiptExpected
	if err := decodeStrict(inputs, &in); err != nil {
		return fmt.Errorf("inputs: %w", err)
	}
	if err := decodeStrict(expected, &exp); err != nil {
		return fmt.Errorf("expected: %w", err)
	}
	return runReceiptCase(kind, &in, &exp)
}

// runReceiptCase checks one decoded case; the generator's tests call it on
// the cases they build, before they are written out.
func runReceiptCase(kind string, in *receiptInputs, exp *receiptExpected) error {
	switch {
	case in.Op == "sign":
		return runSign(kind, in, exp)
	case in.Op == "verify" && kind == KindReceipt:
		rep, err := runReceiptVerify(in)
		return receiptOutcome(err, exp, func() error { return compareReport(rep, exp) })
	case in.Op == "redeem" && kind == KindReceipt:
		return receiptOutcome(runRedeem(in), exp, func() error { return nil })
	case in.Op == "disclose" && kind == KindReceipt:
		return receiptOutcome(runDisclose(in), exp, func() error { return nil })
	case in.Op == "verify" && kind == KindApproval:
		sa, err := runApprovalVerify(in)
		return receiptOutcome(err, exp, func() error { return compareApproval(sa, exp) })
	}
	return fmt.Errorf("unsupported kind/op %q/%q", kind, in.Op)
}

// receiptOutcome settles a case from the operation's error: an expected
// error must be exactly the error's namespaced code; otherwise onSuccess
// compares the outputs.
func receiptOutcome(err error, exp *receiptExpected, onSuccess func() error) error {
	if exp.Error != "" {
		return checkError(exp.Error, receipt.ProblemCode(err), err)
	}
	if err != nil {
		return fmt.Errorf("expected success, got %v", err)
	}
	return onSuccess()
}

func trustedKeys(keys []receiptKey) ([]receipt.TrustedKey, error) {
	out := make([]receipt.TrustedKey, 0, len(keys))
	for _, k := range keys {
		pub, err := receipt.ParseCOSEKey(k.COSEKey)
		if err != nil {
			return nil, fmt.Errorf("vector key %q: %w", k.ID, err)
		}
		tk := receipt.TrustedKey{ID: k.ID, Key: pub, Issuer: k.Issuer}
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

func (in *receiptInputs) options() (receipt.VerifyOptions, error) {
	var o receipt.VerifyOptions
	var err error
	if o.Trust.Issuers, err = trustedKeys(in.Issuers); err != nil {
		return o, err
	}
	if o.Trust.Approvers, err = trustedKeys(in.Approvers); err != nil {
		return o, err
	}
	o.Trust.Threshold = in.Threshold
	o.Trust.AllowSimulated = in.AllowSimulated
	o.Trust.TrustAnchors = in.TrustAnchors
	if in.EARKey != nil {
		pub, err := receipt.ParseCOSEKey(in.EARKey)
		if err != nil {
			return o, fmt.Errorf("ear_key: %w", err)
		}
		// The EAR is judged by evidence/ear, exactly as on the wire.
		if o.Trust.EAR, err = verify.NewEARChecker(verify.EAROptions{Trusted: []ear.TrustedVerifier{{ID: "ear_key", Key: pub}}}); err != nil {
			return o, err
		}
	}
	switch in.Mode {
	case "online", "":
		o.Mode = receipt.ModeOnline
		o.Now = time.Unix(in.Now, 0)
		o.Skew = time.Duration(in.Skew) * time.Second
		o.MaxAge = time.Duration(in.MaxAge) * time.Second
		rc := receipt.NewMemoryReplayCache()
		for _, id := range in.ReplaySeen {
			rc.Seen(id, o.Now.Add(24*time.Hour))
		}
		o.Replay = rc
	case "audit":
		o.Mode = receipt.ModeAudit
	default:
		return o, fmt.Errorf("unknown mode %q", in.Mode)
	}
	return o, nil
}

func (in *receiptInputs) bundle() (*receipt.Bundle, error) {
	if in.Bundle != nil {
		return receipt.UnmarshalBundle(in.Bundle)
	}
	b := &receipt.Bundle{Receipt: in.Receipt, Action: in.Action, Policy: in.Policy}
	if len(in.Salts) > 0 {
		b.Salts = make(map[string][]byte, len(in.Salts))
		for k, v := range in.Salts {
			b.Salts[k] = v
		}
	}
	return b, nil
}

func runReceiptVerify(in *receiptInputs) (*receipt.Report, error) {
	opts, err := in.options()
	if err != nil {
		return nil, fmt.Errorf("vector setup: %w", err)
	}
	b, err := in.bundle()
	if err != nil {
		return nil, err
	}
	return receipt.Verify(b, opts)
}

func compareReport(rep *receipt.Report, exp *receiptExpected) error {
	if exp.OK != nil && rep.OK != *exp.OK {
		return fmt.Errorf("ok = %v, want %v", rep.OK, *exp.OK)
	}
	for _, name := range slices.Sorted(maps.Keys(exp.Checks)) {
		if got := rep.Status(name); got != exp.Checks[name] {
			return fmt.Errorf("check %s = %q, want %q", name, got, exp.Checks[name])
		}
	}
	r := rep.Receipt
	switch {
	case exp.ReceiptID != nil && !bytes.Equal(r.ReceiptID, exp.ReceiptID):
		return fmt.Errorf("receipt_id %x, want %x", r.ReceiptID, []byte(exp.ReceiptID))
	case exp.ActionHash != nil && !bytes.Equal(r.ActionHash.Value, exp.ActionHash):
		return fmt.Errorf("action_hash %x, want %x", r.ActionHash.Value, []byte(exp.ActionHash))
	case exp.PolicyHash != nil && !bytes.Equal(r.PolicyHash.Value, exp.PolicyHash):
		return fmt.Errorf("policy_hash %x, want %x", r.PolicyHash.Value, []byte(exp.PolicyHash))
	case exp.Timestamp != 0 && r.Timestamp != exp.Timestamp:
		return fmt.Errorf("timestamp %d, want %d", r.Timestamp, exp.Timestamp)
	}
	return nil
}

func runRedeem(in *receiptInputs) error {
	r, err := receipt.ParseReceipt(in.Receipt)
	if err != nil {
		return err
	}
	ledger := receipt.NewMemoryTokenLedger()
	for _, rd := range in.Redemptions {
		if err := receipt.Redeem(r.ExecutionToken, rd.Secret, rd.Audience, time.Unix(rd.Now, 0), rd.PeerKeyHash, ledger); err != nil {
			return err
		}
	}
	return nil
}

func runDisclose(in *receiptInputs) error {
	b, err := in.bundle()
	if err != nil {
		return err
	}
	r, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		return err
	}
	return b.CheckDisclosure(r, in.Identifier, in.Value)
}

func runApprovalVerify(in *receiptInputs) (*receipt.SignedApproval, error) {
	keys, err := trustedKeys(in.Approvers)
	if err != nil || len(keys) != 1 {
		return nil, fmt.Errorf("vector setup: want one approver key: %v", err)
	}
	return receipt.VerifyApproval(in.Approval, keys[0])
}

func compareApproval(sa *receipt.SignedApproval, exp *receiptExpected) error {
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
func runSign(kind string, in *receiptInputs, exp *receiptExpected) error {
	if len(in.Seed) != ed25519.SeedSize {
		return fmt.Errorf("seed must be %d bytes", ed25519.SeedSize)
	}
	s, err := receipt.NewSigner(ed25519.NewKeyFromSeed(in.Seed), in.Name)
	if err != nil {
		return err
	}
	var out, tbs []byte
	if kind == KindApproval {
		out, err = receipt.SignApprovalPayload(s, in.Payload)
		if err == nil {
			tbs, err = receipt.SigStructure(s, receipt.ApprovalType, "", in.Payload)
		}
	} else {
		out, err = receipt.SignReceiptPayload(s, in.Subject, in.Payload)
		if err == nil {
			tbs, err = receipt.SigStructure(s, receipt.ReceiptType, in.Subject, in.Payload)
		}
	}
	return receiptOutcome(err, exp, func() error {
		switch {
		case !bytes.Equal(s.KeyID(), exp.Kid):
			return fmt.Errorf("kid %x, want %x", s.KeyID(), []byte(exp.Kid))
		case !bytes.Equal(tbs, exp.SigStructure):
			return fmt.Errorf("sig_structure differs:\n got %x\nwant %x", tbs, []byte(exp.SigStructure))
		case !bytes.Equal(out, exp.COSE):
			return fmt.Errorf("COSE_Sign1 differs:\n got %x\nwant %x", out, []byte(exp.COSE))
		}
		return nil
	})
}
