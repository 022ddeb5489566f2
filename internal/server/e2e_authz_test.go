package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/verify"
)

// officers are approvers with keys of every allowed kind: alice Ed25519,
// bob ES256, carol ES384, dave (in the policy, in no 2-of-3 rule), and
// o01..o15 for the many-approvers rule.
type officers map[string]crypto.Signer

func newOfficers(t *testing.T) officers {
	t.Helper()
	o := officers{}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	o["alice"] = ed
	o["bob"], _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o["carol"], _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	o["dave"], _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for i := 1; i <= policy.MaxRuleApprovers; i++ {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		o[fmt.Sprintf("o%02d", i)] = k
	}
	return o
}

// approvalPolicy: transfers of 1000 or more need 2 of alice, bob and carol
// (one deny ends it); refunds need 1 of them (a deny ends it only when no
// approval can come any more); "bulk" needs 3 of the fifteen o-officers;
// everything else the appraiser alone.
func approvalPolicy(t *testing.T, o officers, expiry string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id: approvals-test\nsnp: {}\ntdx: {}\nreceipts:\n  authorization_expiry: " + expiry + "\n  approvers:\n")
	ids := make([]string, 0, len(o))
	for id := range o {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var many []string
	for _, id := range ids {
		role := ""
		if id == "alice" {
			role = "      role: cfo\n"
		}
		b.WriteString("    - id: " + id + "\n" + role + "      public_key_pem: |\n" + indent(pemPublic(t, o[id].Public()), "        "))
		if strings.HasPrefix(id, "o") {
			many = append(many, id)
		}
	}
	b.WriteString(`  approval_rules:
    - name: large-transfer
      match: [{field: operation, equals: transfer}, {field: amount, at_least: 1000}]
      approvers: [alice, bob, carol]
      threshold: 2
      deny_ends: true
    - name: refund
      match: [{field: operation, equals: refund}]
      approvers: [alice, bob, carol]
      threshold: 1
    - name: bulk
      match: [{field: operation, equals: bulk}]
      approvers: [` + strings.Join(many, ", ") + `]
      threshold: 3
    - name: default
`)
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type authzEnv struct {
	*env
	officers officers
	policy   *policy.Policy
	plain    *client.Plain
}

func startAuthz(t *testing.T, mod func(*server.Config)) *authzEnv {
	t.Helper()
	o := newOfficers(t)
	path := approvalPolicy(t, o, "10m")
	pol, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, func(c *server.Config) {
		c.PolicyFile = path
		if mod != nil {
			mod(c)
		}
	})
	plain, err := client.NewPlain("https://"+e.addr, e.roots, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close) // before the server's shutdown, which waits for open HTTP/2 clients
	return &authzEnv{env: e, officers: o, policy: pol, plain: plain}
}

// request attests a new connection and creates an authorization for req.
func (e *authzEnv) request(t *testing.T, req map[string]any) (*client.Conn, *api.Authorization) {
	t.Helper()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	ctx := context.Background()
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.CreateAuthorization(ctx, req, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, v
}

// decide has officer id review and sign decision on authorization v (read
// afresh from the server, as an approver does) and sends it.
func (e *authzEnv) decide(t *testing.T, id, authzID, decision string) (*api.Authorization, error) {
	t.Helper()
	body := e.sign(t, id, authzID, decision)
	return e.plain.Decide(context.Background(), authzID, body)
}

func (e *authzEnv) sign(t *testing.T, id, authzID, decision string) []byte {
	t.Helper()
	v, err := e.plain.Authorization(context.Background(), authzID, 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.NewReview(v, e.officers[id])
	if err != nil {
		t.Fatalf("%s reviews %s: %v", id, authzID, err)
	}
	body, err := r.Sign(decision)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// verified verifies the requester's completed authorization under the
// policy, offline, and returns the receipt's approver ids.
func (e *authzEnv) verified(t *testing.T, c *client.Conn, v *api.Authorization, secret string) []string {
	t.Helper()
	rr, err := client.ReceiptOf(v, secret)
	if err != nil {
		t.Fatal(err)
	}
	_, kd, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := receipt.ParseKeys(kd)
	rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki, Policy: e.policy})
	if err != nil || !rep.OK {
		t.Fatalf("the receipt does not verify under the policy: %v %+v", err, rep)
	}
	// Without the policy (the keys document alone: 1-of-1 by the appraiser)
	// the officers' approvals are unknown: approvers come from a policy.
	if len(rep.Receipt.ApproverIdentities) > 1 {
		if _, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki}); receipt.Code(err) != receipt.CodeUnknownApprover {
			t.Fatalf("verified without the policy: %v", err)
		}
	}
	var ids []string
	for _, a := range rep.Receipt.ApproverIdentities {
		ids = append(ids, a.ID)
	}
	if rep.Receipt.Extensions[receipt.ExtAuthorization] == nil && len(ids) > 1 {
		t.Fatal("a receipt that waited does not record its authorization")
	}
	// The token secret handed out at creation redeems it, on the same connection.
	if _, err := c.Redeem(context.Background(), rr.ReceiptID, rr.TokenSecret); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	return ids
}

// 2 of 3: the first approval leaves it pending, the second completes it;
// the receipt carries exactly the appraiser's and those two approvals, in
// that order, and verifies under the policy; the requester alone sees it.
func TestAuthorizationTwoOfThree(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c, v := e.request(t, map[string]any{"operation": "transfer", "amount": 250000, "to": "ACME"})
	if v.State != client.StatePending || v.Rule != "large-transfer" || v.Threshold != 2 || v.DenyLimit != 1 || len(v.Approvers) != 3 ||
		v.Approvers[0].ID != "alice" || v.Approvers[0].Role != "cfo" || v.Appraiser != receipt.AppraiserID || v.Receipt != "" ||
		len(v.TokenSecret) != 2*receipt.TokenSecretSize || v.PolicyID != "approvals-test" || v.PolicyPreimage == "" ||
		v.Expires-v.Created != int64((10*time.Minute)/time.Second) || !bytes.Contains(v.Action, []byte(`"amount": 250000`)) {
		t.Fatalf("created %+v", v)
	}
	secret := v.TokenSecret

	// 1 of 3: still pending, for everyone.
	got, err := e.decide(t, "bob", v.ID, receipt.DecisionApprove)
	if err != nil || got.State != client.StatePending || got.Approvals != 1 || got.Approvers[1].Decision != "approve" {
		t.Fatalf("after bob: %+v %v", got, err)
	}
	if got, err := c.Authorization(ctx, v.ID, 0); err != nil || got.State != client.StatePending || got.Receipt != "" || got.TokenSecret != "" {
		t.Fatalf("requester after one approval: %+v %v", got, err)
	}

	// The requester long-polls; carol's approval completes it meanwhile.
	done := make(chan *api.Authorization, 1)
	go func() {
		got, err := c.Await(ctx, v.ID, nil, nil)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	got, err = e.decide(t, "carol", v.ID, receipt.DecisionApprove)
	if err != nil || got.State != client.StateCompleted || got.Approvals != 2 || got.Receipt != "" {
		t.Fatalf("after carol: %+v %v", got, err)
	}
	final := <-done
	if final == nil || final.State != client.StateCompleted || final.Receipt == "" || final.Decided == 0 {
		t.Fatalf("requester's view: %+v", final)
	}
	if ids := e.verified(t, c, final, secret); !slices.Equal(ids, []string{receipt.AppraiserID, "bob", "carol"}) {
		t.Fatalf("receipt approvers %v, want the appraiser, bob and carol", ids)
	}
	// Anyone else with the id sees the outcome, not the receipt.
	if other, err := e.plain.Authorization(ctx, v.ID, 0); err != nil || other.State != client.StateCompleted || other.Receipt != "" {
		t.Fatalf("observer's view: %+v %v", other, err)
	}
	// Approvals after completion are refused, and change nothing.
	_, err = e.decide(t, "alice", v.ID, receipt.DecisionApprove)
	wantProblem(t, err, "authz.completed")
}

// One deny from the rule's approvers ends a deny_ends authorization; the
// requester learns it; later decisions are refused.
func TestAuthorizationDenyEndsIt(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c, v := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	if _, err := e.decide(t, "alice", v.ID, receipt.DecisionApprove); err != nil {
		t.Fatal(err)
	}
	got, err := e.decide(t, "carol", v.ID, receipt.DecisionDeny)
	if err != nil || got.State != client.StateDenied || got.Denials != 1 {
		t.Fatalf("after carol's deny: %+v %v", got, err)
	}
	final, err := c.Await(ctx, v.ID, nil, nil)
	if err != nil || final.State != client.StateDenied || final.Receipt != "" {
		t.Fatalf("requester: %+v %v", final, err)
	}
	_, err = e.decide(t, "bob", v.ID, receipt.DecisionApprove)
	wantProblem(t, err, "authz.denied")

	// Without deny_ends (refund: 1 of 3) a deny ends it only when no
	// approval can reach the threshold any more: after three denies.
	_, v = e.request(t, map[string]any{"operation": "refund", "amount": 10})
	for i, id := range []string{"alice", "bob"} {
		if got, err := e.decide(t, id, v.ID, receipt.DecisionDeny); err != nil || got.State != client.StatePending || got.Denials != i+1 {
			t.Fatalf("deny %d: %+v %v", i+1, got, err)
		}
	}
	if got, err := e.decide(t, "carol", v.ID, receipt.DecisionDeny); err != nil || got.State != client.StateDenied {
		t.Fatalf("third deny: %+v %v", got, err)
	}
}

// An authorization that expired accepts no approval and issues no
// receipt; the requester learns it expired.
func TestAuthorizationExpires(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c, v := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	if _, err := e.decide(t, "alice", v.ID, receipt.DecisionApprove); err != nil {
		t.Fatal(err)
	}
	body := e.sign(t, "bob", v.ID, receipt.DecisionApprove) // signed in time, sent too late
	e.clock.Add(10*time.Minute + time.Second)
	_, err := e.plain.Decide(ctx, v.ID, body)
	wantProblem(t, err, "authz.expired")
	final, err := c.Await(ctx, v.ID, nil, nil)
	if err != nil || final.State != client.StateExpired || final.Decided != final.Expires {
		t.Fatalf("requester: %+v %v", final, err)
	}
	if n := countReceipts(t, e.env, v.ID); n != 0 {
		t.Fatalf("%d receipts for an expired authorization", n)
	}
	// The requester's flow ends with the code: its authorization expires
	// while it waits.
	checker, err := client.NewChecker(e.pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	o, err := client.Run(ctx, client.Flow{Server: "https://" + e.addr, Roots: e.roots, Prover: e.snp(sim.SNPGuestConfig{}), Checker: checker,
		Requested: map[string]any{"operation": "transfer", "amount": 5000}, AllowSimulated: true, SimulatedPKI: e.pki,
		OnPending: func(v *api.Authorization) {
			if v.State == client.StatePending && v.Approvals == 0 {
				e.clock.Add(10*time.Minute + time.Second)
			}
		}})
	var ended *client.EndedError
	if !errors.As(err, &ended) || ended.ProblemCode() != "authz.expired" || o.Authorization == nil || o.Authorization.State != client.StateExpired || o.Receipt != nil {
		t.Fatalf("flow: %v, %+v", err, o)
	}
}

// Sixteen approval requests at once (fifteen officers and one of them
// twice) on a 3-of-15 rule: exactly one receipt, carrying exactly the
// approvals the server accepted; every other request is refused as
// completed or duplicate.
func TestAuthorizationConcurrentApprovalsIssueOnce(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c, v := e.request(t, map[string]any{"operation": "bulk", "items": 15})
	if v.Threshold != 3 || len(v.Approvers) != policy.MaxRuleApprovers {
		t.Fatalf("created %+v", v)
	}
	type sent struct {
		id   string
		body []byte
	}
	var reqs []sent
	for i := 1; i <= policy.MaxRuleApprovers; i++ {
		id := fmt.Sprintf("o%02d", i)
		reqs = append(reqs, sent{id, e.sign(t, id, v.ID, receipt.DecisionApprove)})
	}
	reqs = append(reqs, sent{"o01", e.sign(t, "o01", v.ID, receipt.DecisionApprove)})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []string
		refused  = map[string]int{}
	)
	start := make(chan struct{})
	for _, r := range reqs {
		wg.Go(func() {
			<-start
			_, err := e.plain.Decide(ctx, v.ID, r.body)
			mu.Lock()
			defer mu.Unlock()
			var p *api.Problem
			switch {
			case err == nil:
				accepted = append(accepted, r.id)
			case errors.As(err, &p):
				refused[p.Code]++
			default:
				t.Errorf("%s: %v", r.id, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for code := range refused {
		if code != "authz.completed" && code != "authz.duplicate" {
			t.Fatalf("refusals %v", refused)
		}
	}
	if len(accepted) < 3 || len(accepted)+refused["authz.completed"]+refused["authz.duplicate"] != len(reqs) {
		t.Fatalf("accepted %v, refused %v", accepted, refused)
	}
	if n := countReceipts(t, e.env, v.ID); n != 1 {
		t.Fatalf("%d receipts, want exactly one", n)
	}
	final, err := c.Await(ctx, v.ID, nil, nil)
	if err != nil || final.State != client.StateCompleted {
		t.Fatalf("final %+v %v", final, err)
	}
	ids := e.verified(t, c, final, v.TokenSecret)
	slices.Sort(accepted)
	got := slices.Sorted(slices.Values(ids[1:]))
	if ids[0] != receipt.AppraiserID || !slices.Equal(got, accepted) {
		t.Fatalf("receipt approvers %v, accepted %v", ids, accepted)
	}
}

// countReceipts counts the stored receipts of authorization id, from the
// database itself.
func countReceipts(t *testing.T, e *env, id string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.data, "seatrx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, _ := hex.DecodeString(id)
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM receipts WHERE id = ?`, raw).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A pending authorization survives a restart of the server: its approvals
// so far count, and the next completes it under the same policy.
func TestAuthorizationSurvivesRestart(t *testing.T) {
	o := newOfficers(t)
	path := approvalPolicy(t, o, "10m")
	data := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	first := start(t, func(c *server.Config) { c.DataDir, c.PolicyFile = data, path })
	e := &authzEnv{env: first, officers: o}
	e.plain, _ = client.NewPlain("https://"+first.addr, first.roots, 0)
	t.Cleanup(e.plain.Close)
	c, v := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	if _, err := e.decide(t, "alice", v.ID, receipt.DecisionApprove); err != nil {
		t.Fatal(err)
	}
	c.Close() // the requester goes away with the server (its receipt then waits in the store)
	e.plain.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := first.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, PolicyFile: path, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	defer srv.Shutdown(context.Background())
	e.plain, _ = client.NewPlain("https://"+addr.String(), first.roots, 0)
	defer e.plain.Close()
	again, err := e.plain.Authorization(context.Background(), v.ID, 0)
	if err != nil || again.State != client.StatePending || again.Approvals != 1 || again.Approvers[0].Decision != "approve" {
		t.Fatalf("after restart: %+v %v", again, err)
	}
	got, err := e.decide(t, "bob", v.ID, receipt.DecisionApprove)
	if err != nil || got.State != client.StateCompleted {
		t.Fatalf("bob after restart: %+v %v", got, err)
	}
	if n := countReceipts(t, first, v.ID); n != 1 {
		t.Fatalf("%d receipts", n)
	}
}

// An approval must be exactly about this authorization: one signed over
// another action (or for another authorization, policy, attestation or
// issuer, or with times that do not cover the wait) is refused, named.
func TestAuthorizationRefusesForeignApprovals(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	_, v := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	_, other := e.request(t, map[string]any{"operation": "transfer", "amount": 6000})
	review := func(id string) *client.Review {
		fresh, _ := e.plain.Authorization(ctx, v.ID, 0)
		r, err := client.NewReview(fresh, e.officers[id])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	signed := func(id string, mod func(*receipt.Approval)) []byte {
		r := review(id)
		st, err := authz.NewStatement(r.ID, r.Hashes, id, receipt.DecisionApprove, r.Authorization.Audience, r.Authorization.Now, r.Authorization.Expires)
		if err != nil {
			t.Fatal(err)
		}
		mod(st)
		s, err := receipt.NewSigner(e.officers[id], id)
		if err != nil {
			t.Fatal(err)
		}
		out, err := receipt.SignDecision(s, st)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	otherAction, _ := hex.DecodeString(other.ID)
	for _, tc := range []struct {
		name string
		body []byte
		code string
	}{
		{"over a different action", signed("alice", func(a *receipt.Approval) {
			a.ActionHash = receipt.SHA256([]byte("the other transfer"))
		}), "authz.wrong_payload"},
		{"for another authorization", signed("alice", func(a *receipt.Approval) { a.ReceiptID = otherAction }), "authz.wrong_payload"},
		{"under another policy", signed("alice", func(a *receipt.Approval) { a.PolicyHash = receipt.SHA256([]byte("policy")) }), "authz.wrong_payload"},
		{"about another attestation", signed("alice", func(a *receipt.Approval) { a.AttestationDigest = receipt.SHA256([]byte("ear")) }), "authz.wrong_payload"},
		{"for another issuer", signed("alice", func(a *receipt.Approval) { a.Audience = "urn:seatrx:issuer:other" }), "authz.wrong_payload"},
		{"made in the future", signed("alice", func(a *receipt.Approval) { a.IssuedAt += 120 }), "authz.approval_time"},
		{"expiring before the authorization", signed("alice", func(a *receipt.Approval) { a.Expires -= 60 }), "authz.approval_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.plain.Decide(ctx, v.ID, tc.body)
			wantProblem(t, err, tc.code)
		})
	}
	// Nothing of that was counted.
	if got, _ := e.plain.Authorization(ctx, v.ID, 0); got.Approvals != 0 || got.Denials != 0 {
		t.Fatalf("refused approvals counted: %+v", got)
	}
	// An approval for one authorization is refused on the other.
	_, err := e.plain.Decide(ctx, other.ID, e.sign(t, "alice", v.ID, receipt.DecisionApprove))
	wantProblem(t, err, "authz.wrong_payload")
}

// Malformed and unauthenticated approval bodies, each refused with its
// code and HTTP status before anything is recorded.
func TestAuthorizationMalformedApprovals(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	_, v := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	good := e.sign(t, "alice", v.ID, receipt.DecisionApprove)
	id, _ := hex.DecodeString(v.ID)
	rv, _ := client.NewReview(v, e.officers["alice"])
	signAs := func(key crypto.Signer, name, decision string) []byte {
		st, err := authz.NewStatement(id, rv.Hashes, name, decision, v.Audience, v.Now, v.Expires)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := receipt.NewSigner(key, name)
		var b []byte
		if decision == receipt.DecisionApprove || decision == receipt.DecisionDeny {
			b, err = receipt.SignDecision(s, st)
		}
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	mallory, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	query, _ := client.SignQuery(e.officers["alice"], "alice", v.Audience, time.Now())
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	abstain := func() []byte {
		// A well-formed envelope around a decision the profile does not know.
		var msg []any
		dm, _ := cbor.DecOptions{}.DecMode()
		dm.Unmarshal(good[1:], &msg)
		var st map[string]any
		dm.Unmarshal(msg[2].([]byte), &st)
		st["decision"] = "abstain"
		payload, _ := cbor.Marshal(st)
		msg[2] = payload
		out, _ := cbor.Marshal(cbor.Tag{Number: 18, Content: msg})
		return out
	}()
	for _, tc := range []struct {
		name   string
		body   []byte
		code   string
		status int
	}{
		{"empty", nil, "authz.malformed_approval", 400},
		{"not CBOR", []byte("approve"), "authz.malformed_approval", 400},
		{"untagged", good[1:], "authz.malformed_approval", 400},
		{"trailing bytes", append(bytes.Clone(good), 0), "authz.malformed_approval", 400},
		{"truncated", good[:len(good)-5], "authz.malformed_approval", 400},
		{"an approver query", query, "authz.malformed_approval", 400},
		{"decision abstain", abstain, "authz.malformed_approval", 400},
		{"over the size limit", make([]byte, authz.MaxApprovalBody+1), "server.body_too_large", 413},
		{"bad signature", flipped, "authz.bad_signature", 403},
		{"unknown approver", signAs(mallory, "mallory", receipt.DecisionApprove), "authz.unknown_approver", 403},
		{"approver of another rule", signAs(e.officers["dave"], "dave", receipt.DecisionApprove), "authz.not_eligible", 403},
		{"someone else's key", signAs(e.officers["bob"], "alice", receipt.DecisionApprove), "authz.unknown_key", 403},
		{"a key outside the policy", signAs(mallory, "alice", receipt.DecisionApprove), "authz.unknown_key", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.plain.Decide(ctx, v.ID, tc.body)
			wantProblem(t, err, tc.code)
			var p *api.Problem
			if errors.As(err, &p); p.Status != tc.status {
				t.Fatalf("status %d, want %d", p.Status, tc.status)
			}
		})
	}
	if got, _ := e.plain.Authorization(ctx, v.ID, 0); got.Approvals != 0 || got.Denials != 0 {
		t.Fatalf("refused bodies counted: %+v", got)
	}
	// The good one counts once; the same approver again is a duplicate,
	// whatever the decision.
	if _, err := e.plain.Decide(ctx, v.ID, good); err != nil {
		t.Fatal(err)
	}
	_, err := e.plain.Decide(ctx, v.ID, good)
	wantProblem(t, err, "authz.duplicate")
	_, err = e.decide(t, "alice", v.ID, receipt.DecisionDeny)
	wantProblem(t, err, "authz.duplicate")

	for _, tc := range []struct{ name, path, code string }{
		{"id not hex", api.PathAuthorizations + "/zz", "authz.bad_id"},
		{"id upper case", api.PathAuthorizations + "/" + strings.ToUpper(v.ID), "authz.bad_id"},
		{"id too short", api.PathAuthorizations + "/00", "authz.bad_id"},
		{"no such id", api.PathAuthorizations + "/" + strings.Repeat("00", 16), "authz.not_found"},
		{"wait not a number", api.PathAuthorizations + "/" + v.ID + "?wait=soon", "authz.bad_wait"},
		{"wait too long", api.PathAuthorizations + "/" + v.ID + "?wait=26", "authz.bad_wait"},
		{"wait negative", api.PathAuthorizations + "/" + v.ID + "?wait=-1", "authz.bad_wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
			_, err := c.Do(ctx, "GET", tc.path, "", nil)
			wantProblem(t, err, tc.code)
		})
	}
}

// The creation checks: an attested connection, one authorization per
// attestation, a well-formed request, and actions whose tested fields have
// the tested types; an action needing no approver completes at once (the
// fast path), with the receipt in the answer.
func TestAuthorizationCreation(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	_, err := c.CreateAuthorization(ctx, map[string]any{"operation": "read"}, "")
	wantProblem(t, err, "attest.not_attested")
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateAuthorization(ctx, map[string]any{"operation": "transfer", "amount": "5000"}, "")
	wantProblem(t, err, "authz.action_field")
	// The request is read through receipt's one JSON/CBOR mapping, with its codes.
	_, err = c.Do(ctx, "POST", api.PathAuthorizations, "application/json", []byte(`{"requested": 1, "extra": 2}`))
	wantProblem(t, err, "receipt.unknown_field")
	v, err := c.CreateAuthorization(ctx, map[string]any{"operation": "read"}, "")
	if err != nil || v.State != client.StateCompleted || v.Receipt == "" || v.Rule != "default" || len(v.Approvers) != 0 || v.TokenSecret == "" {
		t.Fatalf("fast path: %+v %v", v, err)
	}
	if ids := e.verified(t, c, v, v.TokenSecret); !slices.Equal(ids, []string{receipt.AppraiserID}) {
		t.Fatalf("fast-path approvers %v", ids)
	}
	_, err = c.CreateAuthorization(ctx, map[string]any{"operation": "read"}, "")
	wantProblem(t, err, "server.attestation_used")
	// Seen again later, it is the same, completed.
	if again, err := c.Authorization(ctx, v.ID, 0); err != nil || again.State != client.StateCompleted || again.Receipt != v.Receipt || again.TokenSecret != "" {
		t.Fatalf("again: %+v %v", again, err)
	}
}

// An approver lists what awaits it with a signed query; the query is
// refused when stale, for another server, or by someone not in the policy.
func TestAuthorizationPendingList(t *testing.T) {
	e := startAuthz(t, nil)
	ctx := context.Background()
	_, v1 := e.request(t, map[string]any{"operation": "transfer", "amount": 5000})
	_, v2 := e.request(t, map[string]any{"operation": "refund", "amount": 5})
	e.request(t, map[string]any{"operation": "bulk"})
	list := func(id string, key crypto.Signer, aud string, at time.Time) (*api.PendingList, error) {
		q, err := client.SignQuery(key, id, aud, at)
		if err != nil {
			t.Fatal(err)
		}
		return e.plain.Pending(ctx, q)
	}
	now := e.clock.Now()
	l, err := list("alice", e.officers["alice"], v1.Audience, now)
	if err != nil || l.Approver != "alice" || len(l.Authorizations) != 2 || l.Authorizations[0].PolicyPreimage != "" {
		t.Fatalf("alice's list: %+v %v", l, err)
	}
	// Oldest first; created in the same second, in id order.
	if got := []string{l.Authorizations[0].ID, l.Authorizations[1].ID}; !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values([]string{v1.ID, v2.ID}))) {
		t.Fatalf("alice's list: %v, want %s and %s", got, v1.ID, v2.ID)
	}
	if _, err := e.decide(t, "alice", v1.ID, receipt.DecisionApprove); err != nil {
		t.Fatal(err)
	}
	if l, _ := list("alice", e.officers["alice"], v1.Audience, now); len(l.Authorizations) != 1 || l.Authorizations[0].ID != v2.ID {
		t.Fatalf("after deciding: %+v", l)
	}
	if l, _ := list("dave", e.officers["dave"], v1.Audience, now); len(l.Authorizations) != 0 {
		t.Fatalf("dave awaits nothing: %+v", l)
	}
	mallory, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name, id string
		key      crypto.Signer
		aud      string
		at       time.Time
		code     string
	}{
		{"stale", "alice", e.officers["alice"], v1.Audience, now.Add(-5 * time.Minute), "authz.bad_query"},
		{"from the future", "alice", e.officers["alice"], v1.Audience, now.Add(5 * time.Minute), "authz.bad_query"},
		{"another server", "alice", e.officers["alice"], "urn:seatrx:issuer:other", now, "authz.bad_query"},
		{"wrong key", "alice", e.officers["bob"], v1.Audience, now, "authz.bad_query"},
		{"not in the policy", "mallory", mallory, v1.Audience, now, "authz.unknown_approver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := list(tc.id, tc.key, tc.aud, tc.at)
			wantProblem(t, err, tc.code)
		})
	}
}

// The requester fetches its receipt on any connection that proves the same
// attested key (a new attestation with its long-lived key) or the same
// workload identity (its X.509-SVID over mTLS); another key sees the
// outcome, not the receipt.
func TestAuthorizationRequesterOnAnotherConnection(t *testing.T) {
	o := newOfficers(t)
	path := approvalPolicy(t, o, "10m")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(credentialsSection())
	f.Close()
	e := &authzEnv{env: start(t, func(c *server.Config) { c.PolicyFile = path }), officers: o}
	e.plain, _ = client.NewPlain("https://"+e.addr, e.roots, 0)
	t.Cleanup(e.plain.Close)
	ctx := context.Background()
	wk := newKey(t)
	c, _ := e.attestedWith(t, wk)
	chain, _, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.CreateAuthorization(ctx, map[string]any{"operation": "transfer", "amount": 5000}, "")
	if err != nil || v.State != client.StatePending {
		t.Fatalf("create: %+v %v", v, err)
	}
	c.Close() // the requester's connection is gone before the approvals
	for _, id := range []string{"alice", "bob"} {
		if _, err := e.decide(t, id, v.ID, receipt.DecisionApprove); err != nil {
			t.Fatal(err)
		}
	}
	// A new attestation with the same key: the receipt, and its token redeems there.
	n, _ := e.attestedWith(t, wk)
	got, err := n.Authorization(ctx, v.ID, 0)
	if err != nil || got.State != client.StateCompleted || got.Receipt == "" {
		t.Fatalf("same key, new connection: %+v %v", got, err)
	}
	rr, err := client.ReceiptOf(got, v.TokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := receipt.ParseReceipt(mustBundle(t, rr.Bundle).Receipt); r.Subject != workloadID {
		t.Fatalf("subject %q, want the workload's SPIFFE ID", r.Subject)
	}
	if _, err := n.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	// The workload's SVID over mTLS, without attesting.
	m, err := e.svidConn(t, chain[0], wk)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.Authorization(ctx, v.ID, 0); err != nil || got.Receipt == "" {
		t.Fatalf("same workload over mTLS: %+v %v", got, err)
	}
	// Another key, attested: the outcome only.
	x, _ := e.attestedWith(t, newKey(t))
	if got, err := x.Authorization(ctx, v.ID, 0); err != nil || got.State != client.StateCompleted || got.Receipt != "" {
		t.Fatalf("another key: %+v %v", got, err)
	}
}
