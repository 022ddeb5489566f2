package receipt

import (
	"bytes"
	"crypto/elliptic"
	"errors"
	"testing"
	"time"
)

// pending is a receipt issued the way a server completes a pending
// authorization: the receipt_id and the token digest fixed at creation,
// the appraiser local, the other approvals collected from remote approvers.
type pending struct {
	f        *fixture
	remote   []*Signer
	created  time.Time
	expires  time.Time
	id       []byte
	secret   []byte
	approved []CollectedApproval
}

func newPending(t *testing.T) *pending {
	t.Helper()
	p := &pending{f: newFixture(t, "ES256", 1), created: testNow.Add(-20 * time.Minute), expires: testNow.Add(40 * time.Minute)}
	p.remote = []*Signer{
		mustSigner(t, seedKey("alice"), "alice").WithRole("cfo"),
		mustSigner(t, ecKey(t, elliptic.P384(), "bob"), "bob"),
	}
	p.id = bytes.Repeat([]byte{0x5a}, 16)
	p.secret = bytes.Repeat([]byte{0x7e}, TokenSecretSize)
	for _, s := range p.remote {
		p.approved = append(p.approved, CollectedApproval{Identity: Approver{ID: s.Name(), Kid: s.KeyID(), Role: s.role}, Signature: p.sign(t, s, nil)})
	}
	return p
}

// statement is what an approver signs for this authorization; mod alters it.
func (p *pending) statement(s *Signer, mod func(*Approval)) *Approval {
	action, _ := p.f.in.Action.Marshal()
	st := &Approval{
		ReceiptID: p.id, ActionHash: SHA256(action), PolicyHash: SHA256(p.f.in.PolicyCBOR), AttestationDigest: SHA256(p.f.in.EAR),
		Approver: s.Name(), Decision: DecisionApprove, Nonce: bytes.Repeat([]byte{byte(len(s.Name()))}, 16),
		IssuedAt: uint64(p.created.Add(time.Minute).Unix()), Expires: uint64(p.expires.Unix()), Audience: testIssuer,
	}
	if mod != nil {
		mod(st)
	}
	return st
}

func (p *pending) sign(t *testing.T, s *Signer, mod func(*Approval)) []byte {
	t.Helper()
	out, err := SignDecision(s, p.statement(s, mod))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *pending) input() IssueInput {
	in := p.f.in
	digest := SHA256(p.secret)
	in.ReceiptID, in.TokenDigest, in.Approvals = p.id, digest.Value, p.approved
	in.Authorization = &AuthorizationExt{Created: uint64(p.created.Unix()), Expires: uint64(p.expires.Unix())}
	return in
}

// trust requires the appraiser and two of alice and bob.
func (p *pending) trust(t *testing.T) VerifyOptions {
	o := p.f.online(t, 3)
	for _, s := range p.remote {
		o.Trust.Approvers = append(o.Trust.Approvers, s.Trusted())
	}
	o.Trust.Required = []string{p.f.approvers[0].Name()}
	return o
}

// A receipt completed from collected approvals carries them after the local
// appraiser's, keeps the receipt_id and token digest fixed at creation,
// returns no secret, and verifies.
func TestIssueWithCollectedApprovals(t *testing.T) {
	p := newPending(t)
	b, r, secret, err := IssueReceipt(p.f.issuer, p.input())
	if err != nil {
		t.Fatal(err)
	}
	if secret != nil || !bytes.Equal(r.ReceiptID, p.id) || !r.ExecutionToken.Digest.Matches(p.secret) {
		t.Fatalf("secret %x, id %x, token digest %x", secret, r.ReceiptID, r.ExecutionToken.Digest.Value)
	}
	var ids []string
	for _, a := range r.ApproverIdentities {
		ids = append(ids, a.ID+"/"+a.Role)
	}
	if len(ids) != 3 || ids[1] != "alice/cfo" || ids[2] != "bob/" || !bytes.Equal(r.ApproverSignatures[1], p.approved[0].Signature) {
		t.Fatalf("identities %v", ids)
	}
	rep, err := Verify(b, p.trust(t))
	if err != nil || !rep.OK {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	if err := CheckTokenSecret(r.ExecutionToken, p.secret, testAudience, testNow, r.ExecutionToken.Cnf.Value); err != nil {
		t.Fatalf("the secret drawn at creation does not redeem: %v", err)
	}
}

// The EAR was judged when the authorization was created: a receipt that
// records the authorization has its EAR checked at "created", not at the
// timestamp.
func TestAuthorizationExtensionMovesTheEARCheck(t *testing.T) {
	p := newPending(t)
	b, _, err := Issue(p.f.issuer, p.input())
	if err != nil {
		t.Fatal(err)
	}
	o := p.trust(t)
	var at time.Time
	inner := o.Trust.EAR
	o.Trust.EAR = EARCheckFunc(func(tok, binder []byte, when time.Time) error {
		at = when
		return inner.CheckEAR(tok, binder, when)
	})
	if rep, err := Verify(b, o); err != nil || !rep.OK {
		t.Fatalf("verify: %v", err)
	}
	if !at.Equal(p.created.Truncate(time.Second)) {
		t.Fatalf("EAR judged at %v, want the authorization's creation %v", at, p.created)
	}

	// A receipt issued outside its authorization's window is refused.
	r := mustParse(t, b.Receipt)
	r.Extensions[ExtAuthorization] = AuthorizationExt{Created: r.Timestamp + 1, Expires: r.Timestamp + 10}
	b.Receipt = p.f.forge(t, r)
	if _, err := Verify(b, p.trust(t)); Code(err) != CodeBadValue {
		t.Fatalf("err = %v, want bad_value", err)
	}
	// Issue refuses it too, before signing.
	in := p.input()
	in.Authorization.Expires = uint64(testNow.Add(-time.Second).Unix())
	if _, _, err := Issue(p.f.issuer, in); Code(err) != CodeBadValue {
		t.Fatalf("Issue: %v", err)
	}
}

// Issue checks each collected approval against the receipt it builds: one
// made for another action, another authorization, another issuer, expired
// before the timestamp, or signed by another key than its identity's is
// refused; so are a deny and a repeated approver.
func TestIssueRefusesForeignCollectedApprovals(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*testing.T, *pending)
		code ErrorCode
	}{
		{"other action", func(t *testing.T, p *pending) {
			p.approved[0].Signature = p.sign(t, p.remote[0], func(a *Approval) { a.ActionHash = SHA256([]byte("another action")) })
		}, CodeApprovalMismatch},
		{"other authorization", func(t *testing.T, p *pending) {
			p.approved[0].Signature = p.sign(t, p.remote[0], func(a *Approval) { a.ReceiptID = bytes.Repeat([]byte{1}, 16) })
		}, CodeApprovalReceiptID},
		{"other issuer", func(t *testing.T, p *pending) {
			p.approved[1].Signature = p.sign(t, p.remote[1], func(a *Approval) { a.Audience = "https://other.example" })
		}, CodeApprovalMismatch},
		{"expired", func(t *testing.T, p *pending) {
			p.approved[1].Signature = p.sign(t, p.remote[1], func(a *Approval) { a.Expires = uint64(testNow.Add(-time.Second).Unix()) })
		}, CodeApprovalExpired},
		{"made after the timestamp", func(t *testing.T, p *pending) {
			p.approved[1].Signature = p.sign(t, p.remote[1], func(a *Approval) { a.IssuedAt = uint64(testNow.Add(time.Second).Unix()) })
		}, CodeApprovalNotYetValid},
		{"deny", func(t *testing.T, p *pending) {
			p.approved[0].Signature = p.sign(t, p.remote[0], func(a *Approval) { a.Decision = DecisionDeny })
		}, CodeApprovalDecision},
		{"identity of another key", func(t *testing.T, p *pending) { p.approved[0].Identity.Kid = p.remote[1].KeyID() }, CodeUnknownKid},
		{"identity of another approver", func(t *testing.T, p *pending) { p.approved[0].Identity.ID = "mallory" }, CodeApprovalMismatch},
		{"same approver twice", func(t *testing.T, p *pending) { p.approved[1] = p.approved[0] }, CodeDuplicateApprover},
		{"the appraiser again", func(t *testing.T, p *pending) {
			p.approved[0].Identity = Approver{ID: p.f.approvers[0].Name(), Kid: p.f.approvers[0].KeyID()}
		}, CodeDuplicateApprover},
		{"receipt id length", func(t *testing.T, p *pending) { p.id = p.id[:8] }, CodeBadLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPending(t)
			tc.mod(t, p)
			if _, _, err := Issue(p.f.issuer, p.input()); Code(err) != tc.code {
				t.Fatalf("err = %v, want %s", err, tc.code)
			}
		})
	}
	p := newPending(t)
	in := p.input()
	in.TokenDigest = in.TokenDigest[:31]
	if _, _, err := Issue(p.f.issuer, in); Code(err) != CodeHashLength {
		t.Fatalf("short token digest: %v", err)
	}
}

// The verifier's required approvers must each have approved, and a rule
// that cannot be resolved fails the approvals check.
func TestRequiredApproversAndApproverRules(t *testing.T) {
	p := newPending(t)
	b, _, err := Issue(p.f.issuer, p.input())
	if err != nil {
		t.Fatal(err)
	}
	o := p.trust(t)
	o.Trust.Required = []string{"alice", "carol"}
	if _, err := Verify(b, o); Code(err) != CodeApprovalMissing {
		t.Fatalf("err = %v, want approval_missing", err)
	}

	// ApproversFor replaces the fixed set, given the verified action.
	o = p.trust(t)
	fixed := o.Trust
	var got *Action
	o.Trust.Approvers, o.Trust.Threshold, o.Trust.Required = nil, 0, nil
	o.Trust.ApproversFor = func(a *Action) (ApproverSet, error) {
		got = a
		return ApproverSet{Approvers: fixed.Approvers, Threshold: 3, Required: fixed.Required}, nil
	}
	if rep, err := Verify(b, o); err != nil || !rep.OK || got == nil || !bytes.Equal(got.Binder, p.f.binder) {
		t.Fatalf("verify with ApproversFor: %v, action %+v", err, got)
	}
	o.Replay = NewMemoryReplayCache()
	o.Trust.ApproversFor = func(*Action) (ApproverSet, error) {
		return ApproverSet{Approvers: fixed.Approvers, Threshold: 4}, nil
	}
	if _, err := Verify(b, o); Code(err) != CodeApprovalsBelow {
		t.Fatalf("threshold 4 of 3: %v", err)
	}
	o.Trust.ApproversFor = func(*Action) (ApproverSet, error) { return ApproverSet{}, errors.New("no rule") }
	rep, err := Verify(b, o)
	if Code(err) != CodeApprovalRule || rep.Status(CheckApprovals) != StatusFail {
		t.Fatalf("failing rule: %v", err)
	}
	// Without the action preimage, the hook learns so (nil) and decides.
	o.Trust.ApproversFor = func(a *Action) (ApproverSet, error) {
		if a != nil {
			t.Fatal("action without a preimage")
		}
		return ApproverSet{}, errors.New("the policy needs the action")
	}
	b.Action = nil
	if _, err := Verify(b, o); Code(err) != CodeApprovalRule {
		t.Fatalf("no preimage: %v", err)
	}
}

// A deny is a valid decision on a pending authorization but never an
// approval: VerifyApproval and SignApproval refuse it, the Decision
// functions accept it, and anything else is refused by both.
func TestDecisions(t *testing.T) {
	p := newPending(t)
	s := p.remote[0]
	deny := p.sign(t, s, func(a *Approval) { a.Decision = DecisionDeny })
	if sa, err := VerifyDecision(deny, s.Trusted()); err != nil || sa.Decision != DecisionDeny {
		t.Fatalf("VerifyDecision(deny): %v", err)
	}
	if sa, err := ParseDecision(deny); err != nil || sa.Approver != "alice" || !bytes.Equal(sa.KeyID, s.KeyID()) {
		t.Fatalf("ParseDecision(deny): %v", err)
	}
	if _, err := VerifyApproval(deny, s.Trusted()); Code(err) != CodeApprovalDecision {
		t.Fatalf("VerifyApproval(deny): %v", err)
	}
	if _, err := ParseApproval(deny); Code(err) != CodeApprovalDecision {
		t.Fatalf("ParseApproval(deny): %v", err)
	}
	if _, err := SignApproval(s, p.statement(s, func(a *Approval) { a.Decision = DecisionDeny })); Code(err) != CodeApprovalDecision {
		t.Fatalf("SignApproval(deny): %v", err)
	}
	if _, err := SignDecision(s, p.statement(s, func(a *Approval) { a.Decision = "abstain" })); Code(err) != CodeApprovalDecision {
		t.Fatalf("SignDecision(abstain): %v", err)
	}
	if _, err := VerifyDecision(deny, p.remote[1].Trusted()); Code(err) != CodeUnknownKid {
		t.Fatalf("VerifyDecision under another key: %v", err)
	}
}

// An approver query authenticates an approver by its signature.
func TestApproverQuery(t *testing.T) {
	alice := mustSigner(t, seedKey("alice"), "alice")
	bob := mustSigner(t, ecKey(t, elliptic.P256(), "bob"), "bob")
	q := &ApproverQuery{Approver: "alice", Audience: testIssuer, IssuedAt: uint64(testNow.Unix()), Nonce: bytes.Repeat([]byte{9}, 16)}
	raw, err := SignApproverQuery(alice, q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyApproverQuery(raw, alice.Trusted())
	if err != nil || got.Approver != "alice" || got.Audience != testIssuer || got.IssuedAt != q.IssuedAt {
		t.Fatalf("verify: %+v %v", got, err)
	}
	if _, err := VerifyApproverQuery(raw, bob.Trusted()); Code(err) != CodeUnknownKid {
		t.Fatalf("under bob's key: %v", err)
	}
	wrongID := alice.Trusted()
	wrongID.ID = "bob"
	if _, err := VerifyApproverQuery(raw, wrongID); Code(err) != CodeApprovalMismatch {
		t.Fatalf("alice's key registered as bob: %v", err)
	}
	if _, err := SignApproverQuery(bob, q); Code(err) != CodeApprovalMismatch {
		t.Fatalf("bob signing alice's query: %v", err)
	}
	bad := *q
	bad.Nonce = bad.Nonce[:4]
	if _, err := SignApproverQuery(alice, &bad); Code(err) != CodeBadLength {
		t.Fatalf("short nonce: %v", err)
	}
	// An approval is not a query, and a query is not an approval.
	p := newPending(t)
	if _, err := ParseApproverQuery(p.approved[0].Signature); Code(err) != CodeWrongTyp {
		t.Fatalf("approval as query: %v", err)
	}
	if _, err := ParseDecision(raw); Code(err) != CodeWrongTyp {
		t.Fatalf("query as approval: %v", err)
	}
}

// An action renders for the approver who reads it: requested as JSON when
// it can be, as diagnostic notation otherwise.
func TestActionJSON(t *testing.T) {
	f := newFixture(t, "EdDSA", 1)
	b, err := f.in.Action.JSON()
	if err != nil || !bytes.Contains(b, []byte(`"op": "read"`)) || !bytes.Contains(b, []byte(`"type": "seatrx/attested-session/v1"`)) {
		t.Fatalf("%s %v", b, err)
	}
	a := f.in.Action
	a.Requested = mustCBOR(t, map[int]string{1: "integer key"})
	if b, err := a.JSON(); err != nil || !bytes.Contains(b, []byte(`"requested_edn": "{1: \"integer key\"}"`)) {
		t.Fatalf("%s %v", b, err)
	}
}
