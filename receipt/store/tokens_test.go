package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConsumeTokenSuccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		putIssued(t, s, "r", "t")
		now := t0.Add(30*time.Minute + 400*time.Millisecond)
		red, err := s.ConsumeToken(context.Background(), []byte("t"), "peer-1", now)
		if err != nil {
			t.Fatal(err)
		}
		if string(red.TokenID) != "t" || string(red.ReceiptID) != "r" || red.By != "peer-1" ||
			!red.RedeemedAt.Equal(now.Truncate(time.Second)) {
			t.Errorf("Redemption = %+v", red)
		}
		if !tokenRedeemed(t, s, []byte("t")) {
			t.Error("token not marked redeemed")
		}
		var by string
		if err := s.db.QueryRow(s.q(`SELECT redeemed_by FROM execution_tokens WHERE id = ?`), []byte("t")).Scan(&by); err != nil || by != "peer-1" {
			t.Errorf("redeemed_by = %q, %v", by, err)
		}
	})
}

// TestConsumeTokenErrors runs each failing consumption on a fresh token,
// checks the specific error, then proves the failure did not consume the
// token (a correct consumption still succeeds), except for the consumed case.
// The store applies no redemption rule but single use: a consumption outside
// the token's window succeeds here (receipt.CheckTokenSecret refuses it
// before the server ever calls the store).
func TestConsumeTokenErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		type req struct {
			id  []byte
			by  string
			now time.Time
		}
		good := func(id string) req { return req{[]byte(id), "peer", t0.Add(time.Minute)} }
		cases := []struct {
			name    string
			mod     func(*req)
			consume bool // consume first
			want    error
			field   string
		}{
			{"unknown id", func(r *req) { r.id = []byte("unknown") }, false, ErrNotFound, ""},
			{"already consumed", func(*req) {}, true, ErrTokenConsumed, ""},
			{"consumed, later", func(r *req) { r.now = t0.Add(2 * time.Hour) }, true, ErrTokenConsumed, ""},
			{"empty id", func(r *req) { r.id = nil }, false, ErrInvalidInput, "id"},
			{"id too long", func(r *req) { r.id = make([]byte, MaxIDLen+1) }, false, ErrInvalidInput, "id"},
			{"by too long", func(r *req) { r.by = strings.Repeat("b", MaxNameLen+1) }, false, ErrInvalidInput, "by"},
			{"zero now", func(r *req) { r.now = time.Time{} }, false, ErrInvalidInput, ""},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				tid := fmt.Sprintf("tok-%d", i)
				putIssued(t, s, fmt.Sprintf("rcpt-%d", i), tid)
				if tc.consume {
					g := good(tid)
					if _, err := s.ConsumeToken(ctx, g.id, g.by, g.now); err != nil {
						t.Fatalf("first consumption: %v", err)
					}
				}
				r := good(tid)
				tc.mod(&r)
				red, err := s.ConsumeToken(ctx, r.id, r.by, r.now)
				if red != nil {
					t.Errorf("Redemption = %+v on error path", red)
				}
				wantErr(t, err, tc.want)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
				var se *Error
				if !errors.As(err, &se) || se.ProblemCode() != "store."+string(se.Code) {
					t.Fatalf("error %v is not a classified *Error", err)
				}
				if tc.consume {
					return
				}
				if tokenRedeemed(t, s, []byte(tid)) {
					t.Fatal("failed consumption consumed the token")
				}
				g := good(tid)
				if _, err := s.ConsumeToken(ctx, g.id, g.by, g.now); err != nil {
					t.Fatalf("correct consumption after failure: %v", err)
				}
			})
		}
	})
}

// A failing database is a *BackendError, never a classified outcome: a
// caller must not mistake it for an unknown or a consumed token.
func TestConsumeTokenBackendError(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		putIssued(t, s, "r", "t")
		if _, err := s.db.Exec(`DROP TABLE execution_tokens`); err != nil {
			t.Fatal(err)
		}
		_, err := s.ConsumeToken(context.Background(), []byte("t"), "p", t0)
		var be *BackendError
		var se *Error
		if !errors.As(err, &be) || errors.As(err, &se) {
			t.Fatalf("err = %v (%T), want a *BackendError only", err, err)
		}
		if _, err := s.GetReceipt(context.Background(), []byte("r")); err != nil {
			t.Fatalf("GetReceipt after the token table is gone: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = s.GetReceipt(ctx, []byte("r"))
		if !errors.As(err, &be) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotFound) {
			t.Fatalf("cancelled GetReceipt: %v", err)
		}
	})
}

// redeemConcurrently runs n goroutines redeeming one token, round-robin over
// stores, released together, and returns the count of each outcome.
func redeemConcurrently(t *testing.T, stores []*Store, id []byte, n int) (ok, consumed int) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, errs[i] = stores[i%len(stores)].ConsumeToken(context.Background(), id, fmt.Sprintf("g%d", i), t0.Add(time.Minute))
		}(i)
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrTokenConsumed):
			consumed++
		default:
			t.Errorf("goroutine %d: unexpected error: %v", i, err)
		}
	}
	return ok, consumed
}

func TestRedeemConcurrentExactlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		putIssued(t, s, "r", "t")
		ok, consumed := redeemConcurrently(t, []*Store{s}, []byte("t"), 64)
		if ok != 1 || consumed != 63 {
			t.Fatalf("successes = %d, ErrTokenConsumed = %d; want 1 and 63", ok, consumed)
		}
	})
}

func TestRedeemConcurrentTwoHandlesExactlyOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		path := bk.location(t)
		var stores []*Store
		for i := 0; i < 2; i++ {
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			stores = append(stores, s)
		}
		for round := 0; round < 3; round++ {
			tid := fmt.Sprintf("t%d", round)
			putIssued(t, stores[round%2], fmt.Sprintf("r%d", round), tid)
			ok, consumed := redeemConcurrently(t, stores, []byte(tid), 64)
			if ok != 1 || consumed != 63 {
				t.Fatalf("round %d: successes = %d, ErrTokenConsumed = %d; want 1 and 63", round, ok, consumed)
			}
		}
		var by string
		if err := stores[0].db.QueryRow(stores[0].q(`SELECT redeemed_by FROM execution_tokens WHERE id = ?`), []byte("t0")).Scan(&by); err != nil || !strings.HasPrefix(by, "g") {
			t.Errorf("redeemed_by = %q, %v", by, err)
		}
	})
}

func TestRedemptionCopiesID(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		putIssued(t, s, "r", "t")
		id := []byte("t")
		red, err := s.ConsumeToken(context.Background(), id, "p", t0)
		if err != nil {
			t.Fatal(err)
		}
		id[0] = 'x'
		if !bytes.Equal(red.TokenID, []byte("t")) {
			t.Errorf("Redemption.TokenID aliases the caller's slice: %q", red.TokenID)
		}
	})
}
