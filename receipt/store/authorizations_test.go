package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func sampleAuthz(id string, approvers ...string) Authorization {
	return Authorization{
		ID: []byte(id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Requester: "conn-1",
		Record: []byte("opaque record"), Approvers: approvers, Threshold: min(2, len(approvers)), DenyLimit: 1,
	}
}

func decision(approver, d string) Decision {
	return Decision{Approver: approver, Decision: d, COSE: []byte("signed by " + approver)}
}

// An authorization is stored with its approvers and read back with its
// decisions, and survives closing and reopening the store.
func TestAuthorizationRoundTripAndRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		ctx := context.Background()
		path := bk.location(t)
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		a := sampleAuthz("authz-1", "alice", "bob", "carol")
		if err := s.PutAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.PutAuthorization(ctx, a); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second put: %v", err)
		}
		if _, err := s.Decide(ctx, a.ID, decision("bob", DecisionApprove), t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, ds, err := s.GetAuthorization(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != AuthzPending || got.Approvals != 1 || got.Denials != 0 || got.Threshold != 2 || got.DenyLimit != 1 ||
			!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.Requester != "conn-1" || string(got.Record) != "opaque record" ||
			!slices.Equal(got.Approvers, []string{"alice", "bob", "carol"}) || !got.DecidedAt.IsZero() {
			t.Fatalf("read back %+v", got)
		}
		if len(ds) != 1 || ds[0].Approver != "bob" || ds[0].Decision != DecisionApprove || string(ds[0].COSE) != "signed by bob" || !ds[0].At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("decisions %+v", ds)
		}
		if got.StateAt(t0.Add(59*time.Minute)) != AuthzPending || got.StateAt(t0.Add(time.Hour)) != AuthzExpired {
			t.Fatal("StateAt does not expire at ExpiresAt")
		}
		if _, _, err := s.GetAuthorization(ctx, []byte("nope")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
	})
}

// Every input is checked before the database is touched.
func TestAuthorizationInputLimits(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		many := make([]string, MaxAuthzApprovers+1)
		for i := range many {
			many[i] = fmt.Sprint("a", i)
		}
		for _, tc := range []struct {
			name string
			mod  func(*Authorization)
		}{
			{"no id", func(a *Authorization) { a.ID = nil }},
			{"no record", func(a *Authorization) { a.Record = nil }},
			{"expires before created", func(a *Authorization) { a.ExpiresAt = a.CreatedAt }},
			{"zero created", func(a *Authorization) { a.CreatedAt = time.Time{} }},
			{"no approvers", func(a *Authorization) { a.Approvers, a.Threshold, a.DenyLimit = nil, 0, 0 }},
			{"too many approvers", func(a *Authorization) { a.Approvers = many }},
			{"approver twice", func(a *Authorization) { a.Approvers = []string{"x", "x"} }},
			{"empty approver", func(a *Authorization) { a.Approvers = []string{"x", ""} }},
			{"threshold above", func(a *Authorization) { a.Threshold = 4 }},
			{"threshold zero", func(a *Authorization) { a.Threshold = 0 }},
			{"deny limit zero", func(a *Authorization) { a.DenyLimit = 0 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				a := sampleAuthz("x", "alice", "bob", "carol")
				tc.mod(&a)
				if err := s.PutAuthorization(ctx, a); !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("err = %v, want ErrInvalidInput", err)
				}
			})
		}
		if n := countRows(t, s, "authorizations"); n != 0 {
			t.Fatalf("%d rows written", n)
		}
		for name, d := range map[string]Decision{
			"no approver": {Decision: DecisionApprove, COSE: []byte{1}},
			"no COSE":     {Approver: "a", Decision: DecisionApprove},
			"abstain":     {Approver: "a", Decision: "abstain", COSE: []byte{1}},
		} {
			if _, err := s.Decide(ctx, []byte("x"), d, t0); !errors.Is(err, ErrInvalidInput) {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}

// Decisions: each eligible approver decides once; others are refused; a
// deny at the deny limit ends the authorization, after which nothing is
// recorded; an expired authorization records nothing either.
func TestDecide(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		a := sampleAuthz("authz-d", "alice", "bob", "carol")
		a.DenyLimit = 2
		if err := s.PutAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Minute)
		got, err := s.Decide(ctx, a.ID, decision("alice", DecisionDeny), now)
		if err != nil || got.State != AuthzPending || got.Denials != 1 || got.Approvals != 0 {
			t.Fatalf("first deny: %+v %v", got, err)
		}
		if _, err := s.Decide(ctx, a.ID, decision("alice", DecisionApprove), now); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("alice again: %v", err)
		}
		if _, err := s.Decide(ctx, a.ID, decision("mallory", DecisionApprove), now); !errors.Is(err, ErrNotEligible) {
			t.Fatalf("mallory: %v", err)
		}
		if _, err := s.Decide(ctx, []byte("none"), decision("alice", DecisionApprove), now); !errors.Is(err, ErrNotEligible) {
			t.Fatalf("unknown authorization: %v", err)
		}
		got, err = s.Decide(ctx, a.ID, decision("bob", DecisionDeny), now)
		if err != nil || got.State != AuthzDenied || got.Denials != 2 || !got.DecidedAt.Equal(now) {
			t.Fatalf("deny at the limit: %+v %v", got, err)
		}
		if _, err := s.Decide(ctx, a.ID, decision("carol", DecisionApprove), now); !errors.Is(err, ErrNotPending) {
			t.Fatalf("after denied: %v", err)
		}
		_, ds, _ := s.GetAuthorization(ctx, a.ID)
		if len(ds) != 2 {
			t.Fatalf("a decision after the end was recorded: %+v", ds)
		}

		b := sampleAuthz("authz-e", "alice")
		if err := s.PutAuthorization(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, b.ID, decision("alice", DecisionApprove), b.ExpiresAt); !errors.Is(err, ErrNotPending) {
			t.Fatalf("at expiry: %v", err)
		}
		if got, ds, _ := s.GetAuthorization(ctx, b.ID); len(ds) != 0 || got.Approvals != 0 {
			t.Fatalf("an expired authorization recorded a decision: %+v %+v", got, ds)
		}
	})
}

// Completion moves pending to completed and stores the receipt, only with
// the threshold met, the count unchanged and the expiry ahead; once.
func TestComplete(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		a := sampleAuthz("authz-c", "alice", "bob", "carol")
		if err := s.PutAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Minute)
		r, tok := sampleReceipt("authz-c"), sampleToken("token-c", "authz-c")
		s.Decide(ctx, a.ID, decision("alice", DecisionApprove), now)
		if err := s.Complete(ctx, a.ID, 1, r, tok, now); !errors.Is(err, ErrNotPending) {
			t.Fatalf("below threshold: %v", err)
		}
		s.Decide(ctx, a.ID, decision("carol", DecisionApprove), now)
		if err := s.Complete(ctx, a.ID, 1, r, tok, now); !errors.Is(err, ErrNotPending) {
			t.Fatalf("count moved: %v", err)
		}
		if err := s.Complete(ctx, a.ID, 2, r, tok, a.ExpiresAt); !errors.Is(err, ErrNotPending) {
			t.Fatalf("at expiry: %v", err)
		}
		if n := countRows(t, s, "receipts"); n != 0 {
			t.Fatalf("%d receipts stored by refused completions", n)
		}
		bad := sampleReceipt("other")
		if err := s.Complete(ctx, a.ID, 2, bad, tok, now); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("receipt of another id: %v", err)
		}
		if err := s.Complete(ctx, a.ID, 2, r, tok, now); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, a.ID, 2, r, tok, now); !errors.Is(err, ErrNotPending) {
			t.Fatalf("second completion: %v", err)
		}
		got, _, _ := s.GetAuthorization(ctx, a.ID)
		if got.State != AuthzCompleted || !got.DecidedAt.Equal(now) {
			t.Fatalf("after completion %+v", got)
		}
		if _, err := s.GetReceipt(ctx, a.ID); err != nil {
			t.Fatalf("receipt: %v", err)
		}
		if _, err := s.Decide(ctx, a.ID, decision("bob", DecisionApprove), now); !errors.Is(err, ErrNotPending) {
			t.Fatalf("decision after completion: %v", err)
		}
	})
}

// Sixteen approvers decide at once through two store handles (two servers
// on one database): exactly one completion succeeds, its receipt is stored
// once, and it carries every approval the store accepted.
func TestConcurrentApprovalsCompleteOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		ctx := context.Background()
		path := bk.location(t)
		var handles [2]*Store
		for i := range handles {
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			handles[i] = s
		}
		ids := make([]string, MaxAuthzApprovers)
		for i := range ids {
			ids[i] = fmt.Sprintf("approver-%02d", i)
		}
		a := sampleAuthz("authz-16", ids...)
		a.Threshold, a.DenyLimit = 3, 14
		if err := handles[0].PutAuthorization(ctx, a); err != nil {
			t.Fatal(err)
		}
		now := t0.Add(time.Minute)
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			completed []int // approvals carried by each successful completion
		)
		for i, id := range ids {
			wg.Go(func() {
				s := handles[i%2]
				got, err := s.Decide(ctx, a.ID, decision(id, DecisionApprove), now)
				if errors.Is(err, ErrNotPending) {
					return // completed before this approval arrived
				}
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				// What a server does: while the threshold is met, try to
				// complete with the approvals it read; retry if the count moved.
				for got.State == AuthzPending && got.Approvals >= got.Threshold {
					err := s.Complete(ctx, a.ID, got.Approvals, sampleReceipt("authz-16"), sampleToken("token-16", "authz-16"), now)
					if err == nil {
						mu.Lock()
						completed = append(completed, got.Approvals)
						mu.Unlock()
						return
					}
					if !errors.Is(err, ErrNotPending) {
						t.Errorf("%s: complete: %v", id, err)
						return
					}
					if got, _, err = s.GetAuthorization(ctx, a.ID); err != nil {
						t.Errorf("%s: %v", id, err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, ds, err := handles[1].GetAuthorization(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(completed) != 1 || got.State != AuthzCompleted || countRows(t, handles[0], "receipts") != 1 || countRows(t, handles[0], "execution_tokens") != 1 {
			t.Fatalf("completions %v, state %s, receipts %d", completed, got.State, countRows(t, handles[0], "receipts"))
		}
		if completed[0] != got.Approvals || len(ds) != got.Approvals || got.Approvals < 3 {
			t.Fatalf("the receipt carries %d approvals, the store accepted %d (%d decisions)", completed[0], got.Approvals, len(ds))
		}
	})
}

// The fast path stores a completed authorization with its receipt in one
// group commit: both or neither.
func TestPutCompletedAuthorization(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		a := Authorization{ID: []byte("fast"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Record: []byte("r")}
		if err := s.PutCompletedAuthorization(ctx, a, sampleReceipt("fast"), sampleToken("tok-fast", "fast")); err != nil {
			t.Fatal(err)
		}
		got, ds, err := s.GetAuthorization(ctx, a.ID)
		if err != nil || got.State != AuthzCompleted || len(ds) != 0 || len(got.Approvers) != 0 || !got.DecidedAt.Equal(t0) {
			t.Fatalf("%+v %v", got, err)
		}
		// A duplicate receipt stores no authorization, and a duplicate
		// authorization no receipt.
		putIssued(t, s, "taken", "tok-taken")
		b := a
		b.ID = []byte("taken")
		if err := s.PutCompletedAuthorization(ctx, b, sampleReceipt("taken"), sampleToken("tok-other", "taken")); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate receipt: %v", err)
		}
		if _, _, err := s.GetAuthorization(ctx, b.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("authorization stored without its receipt: %v", err)
		}
		if err := s.PutAuthorization(ctx, sampleAuthz("pending-x", "alice")); err != nil {
			t.Fatal(err)
		}
		c := a
		c.ID = []byte("pending-x")
		if err := s.PutCompletedAuthorization(ctx, c, sampleReceipt("pending-x"), sampleToken("tok-px", "pending-x")); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate authorization: %v", err)
		}
		if _, err := s.GetReceipt(ctx, []byte("pending-x")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("receipt stored without its authorization: %v", err)
		}
		withApprovers := a
		withApprovers.Approvers, withApprovers.Threshold, withApprovers.DenyLimit = []string{"x"}, 1, 1
		if err := s.PutCompletedAuthorization(ctx, withApprovers, sampleReceipt("fast2"), sampleToken("t2", "fast2")); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("completed with approvers: %v", err)
		}
	})
}

// An approver lists what awaits it: pending, unexpired, undecided by it.
func TestListPendingAndPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		for i, id := range []string{"l-1", "l-2", "l-3", "l-4"} {
			a := sampleAuthz(id, "alice", "bob")
			a.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			if id == "l-4" {
				a.ExpiresAt = t0.Add(time.Minute)
			}
			if err := s.PutAuthorization(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		s.PutAuthorization(ctx, sampleAuthz("l-bob-only", "bob"))
		now := t0.Add(2 * time.Minute)
		s.Decide(ctx, []byte("l-2"), decision("alice", DecisionApprove), now)
		s.Decide(ctx, []byte("l-3"), decision("bob", DecisionDeny), now) // denied (limit 1)
		list, err := s.ListPending(ctx, "alice", now, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			got = append(got, string(a.ID))
		}
		if !slices.Equal(got, []string{"l-1"}) {
			t.Fatalf("alice's pending: %v", got)
		}
		if list, _ := s.ListPending(ctx, "alice", t0, 1); len(list) != 1 || string(list[0].ID) != "l-1" {
			t.Fatalf("limit 1: %v", list)
		}
		if _, err := s.ListPending(ctx, "alice", now, MaxList+1); !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("limit above MaxList: %v", err)
		}
		if err := s.Prune(ctx, now); err != nil {
			t.Fatal(err)
		}
		if a, _, _ := s.GetAuthorization(ctx, []byte("l-4")); a.State != AuthzExpired || !a.DecidedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("after prune: %+v", a)
		}
		if a, _, _ := s.GetAuthorization(ctx, []byte("l-1")); a.State != AuthzPending {
			t.Fatalf("prune touched a live authorization: %+v", a)
		}
	})
}
