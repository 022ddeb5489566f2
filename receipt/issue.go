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
	// Approvers are local approver signers, distinct from the issuer key;
	// their approvals come first. Local and collected approvals together
	// number 1..MaxApprovers.
	Approvers []*Signer
	// Approvals are approvals collected from remote approvers for a pending
	// authorization, in this order after the local ones. Issue checks that
	// each binds this receipt (receipt_id, action_hash, policy_hash,
	// attestation digest, aud, decision approve, iat <= Now <= exp) and
	// names its identity, but not its signature: the caller verified it
	// against the approver's trusted key when it accepted it.
	Approvals []CollectedApproval
	// ReceiptID, if set, is the receipt_id (16 bytes) allocated when the
	// authorization was created: the collected approvals name it. Default:
	// drawn here.
	ReceiptID []byte
	// TokenDigest, if set, is the execution token's digest value (with
	// HashAlg) for a secret the caller drew and handed to the peer before;
	// Issue then draws no secret and returns none.
	TokenDigest []byte
	// Authorization, if set, is recorded as extensions."seatrx.authorization":
	// when the authorization was created and when it expires; Now must lie
	// between them.
	Authorization *AuthorizationExt
	// Extensions are extra domain members (ExtTrustAnchors is set by Issue).
	Extensions map[string]any
	// Now is the issuance time (timestamp, iat); required.
	Now time.Time
	// HashAlg defaults to HashSHA256.
	HashAlg int64
}

// CollectedApproval is one remote approver's approval: its identity as the
// receipt records it, and its approval COSE_Sign1 as the approver sent it.
type CollectedApproval struct {
	Identity  Approver
	Signature []byte
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
	if n := len(in.Approvers) + len(in.Approvals); n == 0 || n > MaxApprovers {
		return nil, nil, ferr("approver_identities", CodeApprovalCount, "%d approvers, want 1..%d", n, MaxApprovers)
	}
	if in.ReceiptID != nil && len(in.ReceiptID) != idLen {
		return nil, nil, ferr("receipt_id", CodeBadLength, "%d bytes, want %d", len(in.ReceiptID), idLen)
	}
	if in.TokenDigest != nil && len(in.TokenDigest) != hashLen(in.HashAlg) {
		return nil, nil, ferr("execution_token.digest", CodeHashLength, "%d bytes for hash algorithm %d", len(in.TokenDigest), in.HashAlg)
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

	if a := in.Authorization; a != nil {
		if err := a.validate("extensions." + ExtAuthorization); err != nil {
			return nil, nil, err
		}
		if now < a.Created || now > a.Expires {
			return nil, nil, ferr("extensions."+ExtAuthorization, CodeBadValue, "issued at %d, outside the authorization's [%d, %d]", now, a.Created, a.Expires)
		}
	}

	random := make([]byte, 2*idLen+TokenSecretSize)
	if _, err := rand.Read(random); err != nil {
		return nil, nil, fmt.Errorf("receipt: random: %w", err)
	}
	receiptID, tokenID, secret := random[:idLen], random[idLen:2*idLen], random[2*idLen:]
	if in.ReceiptID != nil {
		receiptID = in.ReceiptID
	}

	actionHash, _ := ComputeHash(in.HashAlg, action)
	policyHash, _ := ComputeHash(in.HashAlg, in.PolicyCBOR)
	attDigest, _ := ComputeHash(in.HashAlg, in.EAR)
	tokenDigest, _ := ComputeHash(in.HashAlg, secret)
	if in.TokenDigest != nil {
		tokenDigest, secret = Hash{Alg: in.HashAlg, Value: in.TokenDigest}, nil
	}
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
	for i, ca := range in.Approvals {
		path := approvalPath(len(in.Approvers) + i)
		id := ca.Identity
		if seen[string(id.Kid)] || seen["id:"+id.ID] {
			return nil, nil, ferr(fmt.Sprintf("approver_identities[%d]", len(in.Approvers)+i), CodeDuplicateApprover, "approver %q repeats a key or id (the issuer key may not approve)", id.ID)
		}
		seen[string(id.Kid)], seen["id:"+id.ID] = true, true
		e, st, err := parseApproval(path, ca.Signature, false)
		if err != nil {
			return nil, nil, err
		}
		if string(e.kid) != string(id.Kid) {
			return nil, nil, ferr(path+".protected.kid", CodeUnknownKid, "approval signed by another key than identity %q's", id.ID)
		}
		if err := st.checkAgainst(path+".payload", r, id); err != nil {
			return nil, nil, err
		}
		r.ApproverIdentities = append(r.ApproverIdentities, Approver{ID: id.ID, Kid: slices.Clone(id.Kid), Role: id.Role})
		r.ApproverSignatures = append(r.ApproverSignatures, slices.Clone(ca.Signature))
	}

	var salts map[string][]byte
	if in.Extensions != nil {
		r.Extensions = maps.Clone(in.Extensions)
	}
	if a := in.Authorization; a != nil {
		if r.Extensions == nil {
			r.Extensions = map[string]any{}
		}
		r.Extensions[ExtAuthorization] = *a
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
