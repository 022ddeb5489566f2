package receipt

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Mode selects how time and replay are judged.
type Mode int

const (
	// ModeOnline checks the timestamp against Now (skew, max age) and
	// records the receipt id in a replay cache (VerifyOptions.NoReplay
	// reports that check as skipped instead).
	ModeOnline Mode = iota
	// ModeAudit has no "now": the timestamp must lie inside the issuer key's
	// validity window, and replay cannot be judged (reported as skipped).
	ModeAudit
)

// String returns "online" or "audit".
func (m Mode) String() string {
	if m == ModeAudit {
		return "audit"
	}
	return "online"
}

// Check statuses in a Report.
const (
	StatusPass        = "pass"
	StatusFail        = "fail"
	StatusNotPossible = "not-possible"
	StatusSkipped     = "skipped"
)

// Check names in a Report, in verification order.
const (
	CheckStructure      = "structure"
	CheckHeader         = "header"
	CheckSignature      = "signature"
	CheckPayload        = "payload"
	CheckActionHash     = "action_hash"
	CheckPolicyHash     = "policy_hash"
	CheckConsistency    = "consistency"
	CheckApprovals      = "approvals"
	CheckAttestation    = "attestation"
	CheckTrustAnchors   = "trust_anchors"
	CheckMasking        = "masking"
	CheckTime           = "time"
	CheckReplay         = "replay"
	CheckExecutionToken = "execution_token"
)

// EARChecker decides whether the EAR carried in a receipt's
// hae_attestation_token is acceptable. This package does not judge EARs
// itself: the relying party injects the one EAR verifier it also uses on the
// wire (package verify wires evidence/ear in), so that a token refused there
// is refused inside a receipt too, with the same code.
type EARChecker interface {
	// CheckEAR verifies token as of at, the receipt's timestamp. binder is
	// the expected eat_nonce, taken from the action preimage or else the
	// context snapshot; nil means the bundle carries neither and the nonce
	// cannot be compared (Verify then reports the check as not-possible).
	// A failure should name its stable code through a ProblemCode() method
	// ("ear.nonce"); other errors are reported as receipt.attestation.
	CheckEAR(token, binder []byte, at time.Time) error
}

// EARKeyChecker is an EARChecker that also returns the trusted key that
// verified the token, so that the report can name it (KeyUse).
type EARKeyChecker interface {
	EARChecker
	CheckEARKey(token, binder []byte, at time.Time) (TrustedKey, error)
}

// EARCheckFunc adapts a function to EARChecker.
type EARCheckFunc func(token, binder []byte, at time.Time) error

// CheckEAR calls f.
func (f EARCheckFunc) CheckEAR(token, binder []byte, at time.Time) error { return f(token, binder, at) }

// TrustStore is the verifier's configuration, taken from its own policy and
// never from the receipt: trusted issuer keys, approver keys and threshold,
// the EAR verifier, and trust-anchor rules.
type TrustStore struct {
	Issuers []TrustedKey
	// Approvers, Threshold and Required say who must approve every
	// receipt, unless ApproversFor is set.
	Approvers []TrustedKey
	// Threshold is N of N-of-M; 0 means 1.
	Threshold int
	// Required lists approver ids whose approval every receipt must carry
	// (the issuer's appraiser, which vouches for the attestation).
	Required []string
	// ApproversFor, if set, says who must approve a receipt for action a
	// (the verified action preimage; nil when the bundle has none), in
	// place of Approvers, Threshold and Required: the verifier's policy
	// may ask for other approvers per kind of action. An error fails the
	// approvals check (approval_rule).
	ApproversFor func(a *Action) (ApproverSet, error)
	// EAR checks hae_attestation_token; nil reports the attestation check as
	// skipped (never as passed).
	EAR EARChecker
	// AllowSimulated accepts receipts whose snapshot says the evidence
	// chained to a test PKI (simulated TEE).
	AllowSimulated bool
	// TrustAnchors, if non-empty, lists the accepted trust-anchor
	// fingerprints; every fingerprint the receipt names must be in it.
	TrustAnchors []string
	// HashAlgs, if non-empty, restricts the accepted hash algorithms.
	HashAlgs []int64
}

// ApproverSet is who must approve one receipt: any approval must be by one
// of Approvers, at least Threshold must be valid, and each id in Required
// must be among them.
type ApproverSet struct {
	Approvers []TrustedKey
	Threshold int
	Required  []string
}

// VerifyOptions selects the mode and supplies the trust configuration.
type VerifyOptions struct {
	Mode   Mode
	Now    time.Time     // online only; required there
	Skew   time.Duration // online; default DefaultClockSkew
	MaxAge time.Duration // online: the receipt's lifetime; default DefaultLifetime
	Replay ReplayCache   // online; required there unless NoReplay
	// NoReplay says this online verifier keeps no replay history (a one-shot
	// CLI run): the replay check is reported as skipped, never passed.
	NoReplay bool
	Trust    TrustStore
}

// CheckResult is the outcome of one verification step.
type CheckResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Code is the failure's namespaced wire code ("receipt.hash_mismatch",
	// "ear.nonce"); empty unless Status is fail.
	Code string `json:"code,omitempty"`
}

// KeyUse names one key a verification relied on, as a verifier prints it:
// its role ("issuer", "approver", "ear-verifier", "passport-verifier"), the
// id it is trusted under, its kid (RFC 9679 COSE Key Thumbprint, SHA-256,
// lowercase hex), the SHA-256 of its DER SubjectPublicKeyInfo (lowercase
// hex; what openssl computes from the key's PEM) and its validity window
// (RFC 3339, absent where unbounded).
type KeyUse struct {
	Role       string `json:"role"`
	ID         string `json:"id"`
	Kid        string `json:"kid"`
	SPKISHA256 string `json:"spki_sha256"`
	NotBefore  string `json:"not_before,omitempty"`
	NotAfter   string `json:"not_after,omitempty"`
}

// NewKeyUse describes k for a report.
func NewKeyUse(role string, k TrustedKey) KeyUse {
	u := KeyUse{Role: role, ID: k.ID}
	if kid, err := k.Kid(); err == nil {
		u.Kid = hex.EncodeToString(kid)
	}
	if fp, err := SPKIFingerprint(k.Key); err == nil {
		u.SPKISHA256 = hex.EncodeToString(fp)
	}
	if !k.NotBefore.IsZero() {
		u.NotBefore = k.NotBefore.UTC().Format(time.RFC3339)
	}
	if !k.NotAfter.IsZero() {
		u.NotAfter = k.NotAfter.UTC().Format(time.RFC3339)
	}
	return u
}

// Report is the per-check verification outcome. OK means no check failed;
// Complete additionally means none was skipped or impossible (the
// execution_token check, which only an executor can run, is not counted).
type Report struct {
	OK       bool          `json:"ok"`
	Complete bool          `json:"complete"`
	Mode     string        `json:"mode"`
	Checks   []CheckResult `json:"checks"`
	// Keys are the keys the verification relied on, in the order used.
	Keys    []KeyUse `json:"keys"`
	Receipt *Receipt `json:"-"`
	Action  *Action  `json:"-"`
	first   error
}

func (r *Report) add(name, status, detail string) {
	r.Checks = append(r.Checks, CheckResult{Name: name, Status: status, Detail: detail})
}

func (r *Report) fail(name string, err error) {
	r.Checks = append(r.Checks, CheckResult{Name: name, Status: StatusFail, Detail: err.Error(), Code: ProblemCode(err)})
	if r.first == nil {
		r.first = err
	}
}

// Status returns the status of the named check, or "" if it did not run.
func (r *Report) Status(name string) string {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

func (r *Report) finish() (*Report, error) {
	r.OK, r.Complete = true, true
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			r.OK = false
		}
		if c.Status != StatusPass && c.Name != CheckExecutionToken {
			r.Complete = false
		}
	}
	return r, r.first
}

// Verify checks a receipt bundle in the order of reference §3.9 and returns
// the report and the first failure (a *FieldError). Structural, header and
// signature failures stop verification; later checks all run and are reported.
func Verify(b *Bundle, opts VerifyOptions) (*Report, error) {
	rep := &Report{Mode: opts.Mode.String()}
	if b == nil {
		rep.fail(CheckStructure, ferr("bundle", CodeMissingField, "nil bundle"))
		return rep.finish()
	}
	if opts.Mode == ModeOnline {
		if opts.Now.IsZero() {
			rep.fail(CheckTime, ferr("now", CodeConfig, "online mode requires Now"))
			return rep.finish()
		}
		if opts.Replay == nil && !opts.NoReplay {
			rep.fail(CheckReplay, ferr("replay", CodeConfig, "online mode requires a replay cache (or NoReplay)"))
			return rep.finish()
		}
	}

	// 1-2. Structure and protected header.
	e, err := parseEnvelope("cose", b.Receipt, MaxReceiptSize, ReceiptType, true)
	if err != nil {
		var he headerError
		if errors.As(err, &he) {
			rep.add(CheckStructure, StatusPass, "tagged COSE_Sign1, deterministic")
			rep.fail(CheckHeader, err)
		} else {
			rep.fail(CheckStructure, err)
		}
		return rep.finish()
	}
	rep.add(CheckStructure, StatusPass, "tagged COSE_Sign1, deterministic")
	key, err := findKey(opts.Trust.Issuers, e.kid)
	if err == nil && key == nil {
		err = ferr("cose.protected.kid", CodeUnknownKid, "kid %x is not a trusted issuer key", e.kid)
	}
	if err == nil && key.Issuer != "" && key.Issuer != e.iss {
		err = ferr("cose.protected.cwt_claims.iss", CodeIssuerMismatch, "iss %q, key is configured for %q", e.iss, key.Issuer)
	}
	if err != nil {
		rep.fail(CheckHeader, err)
		return rep.finish()
	}
	rep.add(CheckHeader, StatusPass, fmt.Sprintf("alg %v, typ %s, iss %s", e.alg, e.typ, e.iss))

	// 3. Signature.
	if err := e.verifyWith("cose", key.Key); err != nil {
		rep.fail(CheckSignature, err)
		return rep.finish()
	}
	rep.add(CheckSignature, StatusPass, "issuer signature valid")
	rep.Keys = append(rep.Keys, NewKeyUse("issuer", *key))

	// 4. Payload.
	r, err := decodeReceiptPayload(e.payload)
	if err != nil {
		rep.fail(CheckPayload, err)
		return rep.finish()
	}
	r.Issuer, r.Subject, r.KeyID, r.Alg = e.iss, e.sub, e.kid, int64(e.alg)
	rep.Receipt = r
	if err := checkHashAlgs(r, opts.Trust.HashAlgs); err != nil {
		rep.fail(CheckPayload, err)
		return rep.finish()
	}
	auth, err := authorizationOf(r)
	if err != nil {
		rep.fail(CheckPayload, err)
		return rep.finish()
	}
	rep.add(CheckPayload, StatusPass, "closed deterministic map, all required fields")

	// 5. Hash recomputation.
	if b.Action == nil {
		rep.add(CheckActionHash, StatusNotPossible, "preimage absent")
	} else if err := verifyPreimage("action_hash", r.ActionHash, b.Action); err != nil {
		rep.fail(CheckActionHash, err)
	} else if a, err := ParseAction(b.Action); err != nil {
		rep.fail(CheckActionHash, err)
	} else {
		rep.Action = a
		rep.add(CheckActionHash, StatusPass, "recomputed: yes")
	}
	if b.Policy == nil {
		rep.add(CheckPolicyHash, StatusNotPossible, "preimage absent")
	} else if err := verifyPreimage("policy_hash", r.PolicyHash, b.Policy); err != nil {
		rep.fail(CheckPolicyHash, err)
	} else {
		rep.add(CheckPolicyHash, StatusPass, "recomputed: yes")
	}
	checkConsistency(rep, r, rep.Action)

	// 6. Approvals.
	checkApprovals(rep, r, opts)

	// 7. Attestation token, trust anchors, masking.
	checkAttestation(rep, r, rep.Action, auth, opts.Trust)
	checkTrustAnchors(rep, r, opts.Trust)
	checkMasking(rep, r, b)

	// 8. Time and replay.
	checkTime(rep, r, key, opts)
	rep.add(CheckExecutionToken, StatusSkipped, "checked by the executor at redemption")
	return rep.finish()
}

// VerifyReceipt verifies a bare receipt (no preimages: hash recomputation is
// reported as not possible).
func VerifyReceipt(coseBytes []byte, opts VerifyOptions) (*Report, error) {
	return Verify(&Bundle{Receipt: coseBytes}, opts)
}

// ParseReceipt decodes a receipt strictly (envelope, header, payload) without
// verifying its signature or any trust; for rendering and diagnostics.
func ParseReceipt(coseBytes []byte) (*Receipt, error) {
	e, err := parseEnvelope("cose", coseBytes, MaxReceiptSize, ReceiptType, true)
	if err != nil {
		return nil, err
	}
	r, err := decodeReceiptPayload(e.payload)
	if err != nil {
		return nil, err
	}
	r.Issuer, r.Subject, r.KeyID, r.Alg = e.iss, e.sub, e.kid, int64(e.alg)
	return r, nil
}

func checkHashAlgs(r *Receipt, allowed []int64) error {
	if len(allowed) == 0 {
		return nil
	}
	hs := map[string]Hash{"action_hash": r.ActionHash, "policy_hash": r.PolicyHash, "execution_token.digest": r.ExecutionToken.Digest}
	for _, name := range []string{"action_hash", "policy_hash", "execution_token.digest"} {
		if !slices.Contains(allowed, hs[name].Alg) {
			return ferr(name, CodeHashAlg, "hash algorithm %d not accepted by policy", hs[name].Alg)
		}
	}
	return nil
}

// checkConsistency cross-checks the action preimage, the snapshot and the
// token key binding when they are available.
func checkConsistency(rep *Report, r *Receipt, a *Action) {
	if a == nil {
		rep.add(CheckConsistency, StatusNotPossible, "action preimage absent")
		return
	}
	if c := r.ExecutionToken.Cnf; c != nil && !c.Equal(a.PeerKey) {
		rep.fail(CheckConsistency, ferr("execution_token.cnf", CodeBadValue, "cnf is not the action's peer_key"))
		return
	}
	if s := r.ContextSnapshot; s != nil {
		switch {
		case string(s.Binder) != string(a.Binder):
			rep.fail(CheckConsistency, ferr("context_snapshot.binder", CodeBadValue, "snapshot binder differs from the action's"))
			return
		case string(s.CertRequestContext) != string(a.CertRequestContext):
			rep.fail(CheckConsistency, ferr("context_snapshot.cert_request_context", CodeBadValue, "differs from the action's"))
			return
		case !s.PeerKey.Equal(a.PeerKey):
			rep.fail(CheckConsistency, ferr("context_snapshot.peer_key", CodeBadValue, "differs from the action's"))
			return
		case !s.EvidenceDigest.Equal(a.EvidenceDigest):
			rep.fail(CheckConsistency, ferr("context_snapshot.evidence_digest", CodeBadValue, "differs from the action's"))
			return
		}
	}
	rep.add(CheckConsistency, StatusPass, "action, snapshot and token binding agree")
}

// approverSet is who must approve r: the trust store's fixed set, or what
// its ApproversFor says for the action.
func approverSet(t TrustStore, a *Action) (ApproverSet, error) {
	if t.ApproversFor == nil {
		return ApproverSet{Approvers: t.Approvers, Threshold: t.Threshold, Required: t.Required}, nil
	}
	set, err := t.ApproversFor(a)
	if err != nil {
		if ProblemCode(err) == "" {
			err = fwrap("approver_identities", CodeApprovalRule, err)
		}
		return ApproverSet{}, err
	}
	return set, nil
}

func checkApprovals(rep *Report, r *Receipt, opts VerifyOptions) {
	set, err := approverSet(opts.Trust, rep.Action)
	if err != nil {
		rep.fail(CheckApprovals, err)
		return
	}
	threshold := set.Threshold
	if threshold <= 0 {
		threshold = 1
	}
	ids, kids := map[string]bool{}, map[string]bool{}
	for i, id := range r.ApproverIdentities {
		if ids[id.ID] || kids[string(id.Kid)] {
			rep.fail(CheckApprovals, ferr(fmt.Sprintf("approver_identities[%d]", i), CodeDuplicateApprover, "approver %q appears twice", id.ID))
			return
		}
		ids[id.ID], kids[string(id.Kid)] = true, true
		if string(id.Kid) == string(r.KeyID) {
			rep.fail(CheckApprovals, ferr(fmt.Sprintf("approver_identities[%d]", i), CodeDuplicateApprover, "the issuer key may not approve"))
			return
		}
	}
	valid := 0
	for i, id := range r.ApproverIdentities {
		path := approvalPath(i)
		var key *TrustedKey
		for j := range set.Approvers {
			k := &set.Approvers[j]
			if k.ID != id.ID {
				continue
			}
			if tp, err := Thumbprint(k.Key); err == nil && string(tp) == string(id.Kid) {
				key = k
				break
			}
		}
		if key == nil {
			rep.fail(CheckApprovals, ferr(fmt.Sprintf("approver_identities[%d]", i), CodeUnknownApprover, "approver %q with this kid is not in the policy's approver set", id.ID))
			return
		}
		sa, err := verifyApproval(path, r.ApproverSignatures[i], *key, false)
		if err == nil {
			err = sa.checkAgainst(path+".payload", r, id)
		}
		if err == nil && opts.Mode == ModeAudit && !key.covers(unix(sa.IssuedAt)) {
			err = ferr(path+".payload.iat", CodeOutsideKeyValidity, "approval time outside the approver key's validity")
		}
		if err == nil && opts.Mode == ModeOnline && !key.covers(opts.Now) {
			err = ferr(path, CodeOutsideKeyValidity, "approver key not valid now")
		}
		if err != nil {
			rep.fail(CheckApprovals, err)
			return
		}
		rep.Keys = append(rep.Keys, NewKeyUse("approver", *key))
		valid++
	}
	for _, req := range set.Required {
		if !ids[req] {
			rep.fail(CheckApprovals, ferr("approver_identities", CodeApprovalMissing, "no approval by %q, which the verifier requires on every receipt", req))
			return
		}
	}
	if valid < threshold {
		rep.fail(CheckApprovals, ferr("approver_signatures", CodeApprovalsBelow, "%d valid approvals, policy threshold %d", valid, threshold))
		return
	}
	rep.add(CheckApprovals, StatusPass, fmt.Sprintf("%d of %d valid, threshold %d", valid, len(r.ApproverIdentities), threshold))
}

// authorizationOf decodes extensions."seatrx.authorization", if present,
// and checks that the receipt was issued inside the authorization's window.
func authorizationOf(r *Receipt) (*AuthorizationExt, error) {
	raw, ok := r.Extensions[ExtAuthorization]
	if !ok {
		return nil, nil
	}
	const field = "extensions." + ExtAuthorization
	enc, err := marshal(raw)
	if err != nil {
		return nil, fwrap(field, CodeMalformed, err)
	}
	var a AuthorizationExt
	if err := decodeStruct(enc, field, &a); err != nil {
		return nil, err
	}
	if r.Timestamp < a.Created || r.Timestamp > a.Expires {
		return nil, ferr(field, CodeBadValue, "timestamp %d outside the authorization's [%d, %d]", r.Timestamp, a.Created, a.Expires)
	}
	return &a, nil
}

func checkAttestation(rep *Report, r *Receipt, a *Action, auth *AuthorizationExt, trust TrustStore) {
	if r.AttestationToken.MediaType != EARMediaType {
		rep.fail(CheckAttestation, ferr("hae_attestation_token", CodeAttestationMediaType, "media type %q, want %q", r.AttestationToken.MediaType, EARMediaType))
		return
	}
	if trust.EAR == nil {
		rep.add(CheckAttestation, StatusSkipped, "no EAR verifier configured: not checked")
		return
	}
	if n := len(r.AttestationToken.Value); n > MaxEARSize {
		rep.fail(CheckAttestation, ferr("hae_attestation_token", CodeTooLarge, "EAR is %d bytes, limit %d", n, MaxEARSize))
		return
	}
	var binder []byte
	src := ""
	switch {
	case a != nil:
		binder, src = a.Binder, "action"
	case r.ContextSnapshot != nil:
		binder, src = r.ContextSnapshot.Binder, "context_snapshot"
	}
	// The EAR was judged when the authorization was created; approvals may
	// have taken until the timestamp.
	at := unix(r.Timestamp)
	if auth != nil {
		at = unix(auth.Created)
	}
	var err error
	var used *TrustedKey
	if kc, ok := trust.EAR.(EARKeyChecker); ok {
		var k TrustedKey
		if k, err = kc.CheckEARKey(r.AttestationToken.Value, binder, at); err == nil {
			used = &k
		}
	} else {
		err = trust.EAR.CheckEAR(r.AttestationToken.Value, binder, at)
	}
	if err != nil {
		if ProblemCode(err) != "" {
			// Keep the EAR verifier's own code (ear.nonce, ...), located here.
			err = &FieldError{Field: "hae_attestation_token", Err: err}
		} else {
			err = fwrap("hae_attestation_token", CodeAttestation, err)
		}
		rep.fail(CheckAttestation, err)
		return
	}
	if used != nil {
		rep.Keys = append(rep.Keys, NewKeyUse(used.Role, *used))
	}
	if binder == nil {
		rep.add(CheckAttestation, StatusNotPossible, "EAR valid; eat_nonce not compared: the bundle carries no binder")
		return
	}
	rep.add(CheckAttestation, StatusPass, "EAR valid; eat_nonce equals the binder from "+src)
}

// anchorsOf returns the trust-anchor record from the snapshot and/or the
// extension mirror, failing if the two disagree.
func anchorsOf(r *Receipt) (*TrustAnchorsExt, error) {
	var snap, ext *TrustAnchorsExt
	if s := r.ContextSnapshot; s != nil {
		snap = &TrustAnchorsExt{Fingerprints: s.TrustAnchors, Simulated: s.Simulated}
	}
	if raw, ok := r.Extensions[ExtTrustAnchors]; ok {
		enc, err := marshal(raw)
		if err != nil {
			return nil, fwrap("extensions."+ExtTrustAnchors, CodeMalformed, err)
		}
		var t TrustAnchorsExt
		if err := decodeStruct(enc, "extensions."+ExtTrustAnchors, &t); err != nil {
			return nil, err
		}
		ext = &t
	}
	switch {
	case snap != nil && ext != nil:
		if snap.Simulated != ext.Simulated || !slices.Equal(snap.Fingerprints, ext.Fingerprints) {
			return nil, ferr("extensions."+ExtTrustAnchors, CodeBadValue, "differs from context_snapshot")
		}
		return snap, nil
	case snap != nil:
		return snap, nil
	}
	return ext, nil
}

func checkTrustAnchors(rep *Report, r *Receipt, trust TrustStore) {
	ta, err := anchorsOf(r)
	if err != nil {
		rep.fail(CheckTrustAnchors, err)
		return
	}
	if ta == nil {
		rep.add(CheckTrustAnchors, StatusNotPossible, "receipt names no trust anchors")
		return
	}
	if ta.Simulated && !trust.AllowSimulated {
		rep.fail(CheckTrustAnchors, ferr("context_snapshot.simulated", CodeTestPKI, "evidence chained to a test PKI; this verifier does not accept simulated TEEs"))
		return
	}
	if len(trust.TrustAnchors) == 0 {
		rep.add(CheckTrustAnchors, StatusSkipped, "no accepted trust-anchor list configured")
		return
	}
	for i, fp := range ta.Fingerprints {
		if !slices.Contains(trust.TrustAnchors, fp) {
			rep.fail(CheckTrustAnchors, ferr(fmt.Sprintf("context_snapshot.trust_anchors[%d]", i), CodeUntrustedAnchor, "trust anchor %s not accepted", fp))
			return
		}
	}
	rep.add(CheckTrustAnchors, StatusPass, fmt.Sprintf("%d trust anchors accepted (simulated=%v)", len(ta.Fingerprints), ta.Simulated))
}

func checkMasking(rep *Report, r *Receipt, b *Bundle) {
	var masked map[string]Hash
	if r.ContextSnapshot != nil {
		masked = r.ContextSnapshot.MaskedIdentifiers
	}
	for _, name := range slices.Sorted(maps.Keys(b.Salts)) {
		if _, ok := masked[name]; !ok {
			rep.fail(CheckMasking, ferr("bundle.salts."+name, CodeMaskMismatch, "salt for an identifier the receipt does not mask"))
			return
		}
	}
	if r.MaskingProfileID == MaskNone || len(masked) == 0 {
		rep.add(CheckMasking, StatusPass, r.MaskingProfileID+": nothing masked")
		return
	}
	if len(b.Salts) < len(masked) {
		rep.add(CheckMasking, StatusNotPossible, fmt.Sprintf("%d masked identifiers, %d salts in bundle", len(masked), len(b.Salts)))
		return
	}
	rep.add(CheckMasking, StatusPass, fmt.Sprintf("%d masked identifiers; salts present (check values with Bundle.CheckDisclosure)", len(masked)))
}

func checkTime(rep *Report, r *Receipt, key *TrustedKey, opts VerifyOptions) {
	ts := unix(r.Timestamp)
	if opts.Mode == ModeAudit {
		if !key.covers(ts) {
			rep.fail(CheckTime, ferr("timestamp", CodeOutsideKeyValidity, "timestamp %s outside the issuer key's validity", ts.Format(time.RFC3339)))
		} else {
			rep.add(CheckTime, StatusPass, "audit: timestamp inside the issuer key's validity window")
		}
		rep.add(CheckReplay, StatusSkipped, "audit mode cannot prove non-replay")
		return
	}
	skew, maxAge := opts.Skew, opts.MaxAge
	if skew <= 0 {
		skew = DefaultClockSkew
	}
	if maxAge <= 0 {
		maxAge = DefaultLifetime
	}
	switch {
	case ts.After(opts.Now.Add(skew)):
		rep.fail(CheckTime, ferr("timestamp", CodeFutureTimestamp, "timestamp %s is after now+skew", ts.Format(time.RFC3339)))
	case opts.Now.Sub(ts) > maxAge:
		rep.fail(CheckTime, ferr("timestamp", CodeTooOld, "timestamp %s is older than %s", ts.Format(time.RFC3339), maxAge))
	case !key.covers(opts.Now):
		rep.fail(CheckTime, ferr("cose.protected.kid", CodeOutsideKeyValidity, "issuer key not valid now"))
	default:
		rep.add(CheckTime, StatusPass, fmt.Sprintf("online: within skew %s and max age %s", skew, maxAge))
	}
	if rep.first != nil {
		rep.add(CheckReplay, StatusSkipped, "not recorded: receipt failed other checks")
		return
	}
	if opts.NoReplay {
		rep.add(CheckReplay, StatusSkipped, "no replay cache: a one-shot verifier cannot know whether this receipt_id was presented before")
		return
	}
	if opts.Replay.Seen(r.ReceiptID, ts.Add(maxAge+skew)) {
		rep.fail(CheckReplay, ferr("receipt_id", CodeReplayed, "receipt_id already seen"))
		return
	}
	rep.add(CheckReplay, StatusPass, "receipt_id recorded")
}
