package receipt

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"
)

// IssueInput is everything the server layer supplies to issue one receipt.
type IssueInput struct {
	// Action is the authorized action object; its deterministic encoding is
	// the action_hash preimage.
	Action Action
	// PolicyCBOR is the loaded policy as deterministic CBOR (policy_hash
	// preimage).
	PolicyCBOR []byte
	// EAR is the EAR JWT about the peer (hae_attestation_token value).
	EAR []byte
	// Subject is the CWT sub; default "urn:seatrx:peer:<hex of peer_key>".
	Subject string
	// Audience is the execution token's audience (the executor).
	Audience string
	// TokenLifetime defaults to DefaultTokenLifetime.
	TokenLifetime time.Duration
	// ApprovalLifetime bounds each local approval; default DefaultApprovalLifetime.
	ApprovalLifetime time.Duration
	// Masking is MaskNone (default) or MaskSaltedDigest.
	Masking string
	// Snapshot is the optional context snapshot (copied, never modified).
	Snapshot *ContextSnapshot
	// Approvers are local approver signers (at least one, distinct from the
	// issuer key).
	Approvers []*Signer
	// Extensions are extra domain members (ExtTrustAnchors is set by Issue).
	Extensions map[string]any
	// Now is the issuance time (timestamp, iat); required.
	Now time.Time
	// HashAlg defaults to HashSHA256.
	HashAlg int64
}

// Issue builds, approves and signs a receipt. It returns the bundle (receipt
// plus preimages and salts) and the execution-token secret, which the caller
// must hand to the peer exactly once and never store.
func Issue(issuer *Signer, in IssueInput) (*Bundle, []byte, error) {
	return issue(issuer, in, nil)
}

// IssueReceipt is Issue that also returns the decoded receipt it signed
// (with Issuer, Subject, KeyID and Alg filled), so that a caller that needs
// its fields (id, token) does not re-parse its own output.
func IssueReceipt(issuer *Signer, in IssueInput) (*Bundle, *Receipt, []byte, error) {
	var r *Receipt
	b, secret, err := issue(issuer, in, &r)
	if err != nil {
		return nil, nil, nil, err
	}
	return b, r, secret, nil
}

func issue(issuer *Signer, in IssueInput, out **Receipt) (*Bundle, []byte, error) {
	if issuer == nil {
		return nil, nil, ferr("issuer", CodeConfig, "nil issuer")
	}
	if in.Now.IsZero() || in.Now.Unix() < 0 {
		return nil, nil, ferr("timestamp", CodeConfig, "issuance time not set")
	}
	if in.HashAlg == 0 {
		in.HashAlg = HashSHA256
	}
	if hashLen(in.HashAlg) == 0 {
		return nil, nil, ferr("hash_alg", CodeHashAlg, "unsupported hash algorithm %d", in.HashAlg)
	}
	if in.TokenLifetime <= 0 {
		in.TokenLifetime = DefaultTokenLifetime
	}
	if in.ApprovalLifetime <= 0 {
		in.ApprovalLifetime = DefaultApprovalLifetime
	}
	if in.Masking == "" {
		in.Masking = MaskNone
	}
	if in.Audience == "" {
		return nil, nil, ferr("execution_token.aud", CodeConfig, "no audience")
	}
	if err := CheckAudience(in.Audience); err != nil {
		return nil, nil, err
	}
	if in.Action.Requested != nil {
		// The limits of PROFILE.md §3.1, before anything is signed; the
		// server applies them when it reads the request.
		c, err := CanonicalRequested(in.Action.Requested)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(c, in.Action.Requested) {
			return nil, nil, ferr("requested", CodeNonDeterministic, "requested is not in deterministic CBOR")
		}
	}
	if len(in.EAR) == 0 || len(in.EAR) > MaxEARSize {
		return nil, nil, ferr("hae_attestation_token", CodeBadLength, "EAR is %d bytes, want 1..%d", len(in.EAR), MaxEARSize)
	}
	if len(in.Approvers) == 0 || len(in.Approvers) > MaxApprovers {
		return nil, nil, ferr("approver_identities", CodeApprovalCount, "%d approvers, want 1..%d", len(in.Approvers), MaxApprovers)
	}
	action, err := in.Action.Marshal()
	if err != nil {
		return nil, nil, err
	}
	if err := checkDeterministicAny("policy", in.PolicyCBOR, MaxPolicySize); err != nil {
		return nil, nil, err
	}
	if in.Subject == "" {
		in.Subject = "urn:seatrx:peer:" + hex.EncodeToString(in.Action.PeerKey.Value)
	}
	now := uint64(in.Now.Unix())

	random := make([]byte, 2*idLen+TokenSecretSize)
	if _, err := rand.Read(random); err != nil {
		return nil, nil, fmt.Errorf("receipt: random: %w", err)
	}
	receiptID, tokenID, secret := random[:idLen], random[idLen:2*idLen], random[2*idLen:]

	actionHash, _ := ComputeHash(in.HashAlg, action)
	policyHash, _ := ComputeHash(in.HashAlg, in.PolicyCBOR)
	attDigest, _ := ComputeHash(in.HashAlg, in.EAR)
	tokenDigest, _ := ComputeHash(in.HashAlg, secret)
	cnf := in.Action.PeerKey

	r := &Receipt{
		Profile:    ProfileID,
		ReceiptID:  receiptID,
		ActionHash: actionHash,
		PolicyHash: policyHash,
		Timestamp:  now,
		ExecutionToken: ExecutionToken{
			ID: tokenID, Digest: tokenDigest, Audience: in.Audience,
			NotBefore: now, Expires: now + uint64(in.TokenLifetime/time.Second), MaxUses: 1, Cnf: &cnf,
		},
		MaskingProfileID: in.Masking,
		AttestationToken: CMWRecord{MediaType: EARMediaType, Value: in.EAR},
		Issuer:           issuer.name,
		Subject:          in.Subject,
	}

	seen := map[string]bool{string(issuer.kid): true}
	for i, ap := range in.Approvers {
		if ap == nil {
			return nil, nil, ferr(approvalPath(i), CodeConfig, "nil approver")
		}
		if seen[string(ap.kid)] || seen["id:"+ap.name] {
			return nil, nil, ferr(fmt.Sprintf("approver_identities[%d]", i), CodeDuplicateApprover, "approver %q repeats a key or id (the issuer key may not approve)", ap.name)
		}
		seen[string(ap.kid)], seen["id:"+ap.name] = true, true
		nonce := make([]byte, idLen)
		if _, err := rand.Read(nonce); err != nil {
			return nil, nil, fmt.Errorf("receipt: random: %w", err)
		}
		st := &Approval{
			ReceiptID: receiptID, ActionHash: actionHash, PolicyHash: policyHash, AttestationDigest: attDigest,
			Approver: ap.name, Decision: DecisionApprove, Nonce: nonce,
			IssuedAt: now, Expires: now + uint64(in.ApprovalLifetime/time.Second), Audience: issuer.name,
		}
		sig, err := SignApproval(ap, st)
		if err != nil {
			return nil, nil, err
		}
		r.ApproverIdentities = append(r.ApproverIdentities, Approver{ID: ap.name, Kid: ap.KeyID(), Role: ap.role})
		r.ApproverSignatures = append(r.ApproverSignatures, sig)
	}

	var salts map[string][]byte
	if in.Extensions != nil {
		r.Extensions = maps.Clone(in.Extensions)
	}
	if in.Snapshot != nil {
		s := cloneSnapshot(in.Snapshot)
		switch in.Masking {
		case MaskNone:
		case MaskSaltedDigest:
			if salts, err = maskIdentifiers(s, in.HashAlg); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, ferr("hae_masking_profile_id", CodeMaskingProfile, "unknown masking profile %q", in.Masking)
		}
		if err := s.validate("context_snapshot"); err != nil {
			return nil, nil, err
		}
		r.ContextSnapshot = s
		if r.Extensions == nil {
			r.Extensions = map[string]any{}
		}
		r.Extensions[ExtTrustAnchors] = TrustAnchorsExt{Fingerprints: nonNil(s.TrustAnchors), Simulated: s.Simulated}
	}
	if err := r.validate(""); err != nil {
		return nil, nil, err
	}
	payload, err := marshal(r)
	if err != nil {
		return nil, nil, err
	}
	if len(payload) > MaxReceiptSize-1024 {
		return nil, nil, ferr("payload", CodeTooLarge, "payload is %d bytes", len(payload))
	}
	cose, err := signEnvelope(issuer, ReceiptType, in.Subject, payload)
	if err != nil {
		return nil, nil, err
	}
	if out != nil {
		r.KeyID, r.Alg = issuer.kid, int64(issuer.alg)
		*out = r
	}
	return &Bundle{Receipt: cose, Action: action, Policy: in.PolicyCBOR, Salts: salts}, secret, nil
}

func cloneSnapshot(in *ContextSnapshot) *ContextSnapshot {
	s := *in
	s.Collateral = slices.Clone(in.Collateral)
	s.TrustAnchors = nonNil(slices.Clone(in.TrustAnchors))
	if s.Collateral == nil {
		s.Collateral = []Collateral{}
	}
	s.Identifiers = maps.Clone(in.Identifiers)
	s.MaskedIdentifiers = maps.Clone(in.MaskedIdentifiers)
	if in.Mutual != nil {
		m := *in.Mutual
		s.Mutual = &m
	}
	if s.CertRequestContext == nil {
		s.CertRequestContext = []byte{}
	}
	return &s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
