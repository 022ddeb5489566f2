package store

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUseContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		crc := []byte{0x01, 0x02, 0x03}
		wantErr(t, s.UseContext(ctx, crc, "conn-1", t0), nil)
		wantErr(t, s.UseContext(ctx, crc, "conn-1", t0), ErrContextReused)
		wantErr(t, s.UseContext(ctx, crc, "conn-2", t0.Add(time.Hour)), ErrContextReused)
		wantErr(t, s.UseContext(ctx, []byte{0x01, 0x02}, "conn-1", t0), nil)

		for _, tc := range []struct {
			name  string
			crc   []byte
			conn  string
			now   time.Time
			field string
		}{
			{"empty crc", nil, "c", t0, "crc"},
			{"crc too long", make([]byte, MaxContextLen+1), "c", t0, "crc"},
			{"conn id too long", []byte{9}, strings.Repeat("c", MaxNameLen+1), t0, "connID"},
			{"zero now", []byte{9}, "c", time.Time{}, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := s.UseContext(ctx, tc.crc, tc.conn, tc.now)
				wantErr(t, err, ErrInvalidInput)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
			})
		}
		if n := countRows(t, s, "used_contexts"); n != 2 {
			t.Errorf("used_contexts rows = %d, want 2", n)
		}
	})
}

func TestUseContextConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		const n = 32
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				errs[i] = s.UseContext(context.Background(), []byte("same-crc"), "conn", t0)
			}(i)
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else {
				wantErr(t, err, ErrContextReused)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent UseContext calls succeeded, want 1", ok)
		}
	})
}

func TestPruneUsedContexts(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		path := bk.location(t)
		s, err := OpenWithOptions(context.Background(), path, Options{ContextRetention: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		wantErr(t, s.UseContext(ctx, []byte("old"), "c", t0), nil)
		wantErr(t, s.UseContext(ctx, []byte("new"), "c", t0.Add(30*time.Minute)), nil)

		wantErr(t, s.Prune(ctx, t0.Add(59*time.Minute)), nil)
		if n := countRows(t, s, "used_contexts"); n != 2 {
			t.Fatalf("after early prune: %d rows, want 2", n)
		}
		wantErr(t, s.Prune(ctx, t0.Add(time.Hour)), nil)
		if n := countRows(t, s, "used_contexts"); n != 1 {
			t.Fatalf("after prune at retention: %d rows, want 1", n)
		}
		wantErr(t, s.UseContext(ctx, []byte("new"), "c", t0.Add(time.Hour)), ErrContextReused)
		wantErr(t, s.Prune(ctx, time.Time{}), ErrInvalidInput)
	})
}

func TestSeenReceipt(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		id := []byte("receipt-1")
		until := t0.Add(10 * time.Minute)
		steps := []struct {
			name     string
			until    time.Time
			now      time.Time
			wantSeen bool
		}{
			{"first sight", until, t0, false},
			{"replay", until, t0.Add(time.Second), true},
			{"replay with later until", until.Add(time.Hour), t0.Add(9 * time.Minute), true},
			{"entry expired", until.Add(time.Hour), until, false},
			{"replay of renewed entry", until.Add(2 * time.Hour), until.Add(time.Minute), true},
		}
		for _, st := range steps {
			seen, err := s.SeenReceipt(ctx, id, st.until, st.now)
			if err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			if seen != st.wantSeen {
				t.Fatalf("%s: seen = %v, want %v", st.name, seen, st.wantSeen)
			}
		}
		seen, err := s.SeenReceipt(ctx, []byte("receipt-2"), until, t0)
		if err != nil || seen {
			t.Fatalf("other id: seen=%v err=%v", seen, err)
		}
	})
}

func TestSeenReceiptErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		for _, tc := range []struct {
			name       string
			id         []byte
			until, now time.Time
			field      string
		}{
			{"empty id", nil, t0.Add(time.Hour), t0, "id"},
			{"id too long", make([]byte, MaxIDLen+1), t0.Add(time.Hour), t0, "id"},
			{"until equals now", []byte("r"), t0, t0, ""},
			{"until before now", []byte("r"), t0.Add(-time.Hour), t0, ""},
			{"zero now", []byte("r"), t0, time.Time{}, ""},
			{"zero until", []byte("r"), time.Time{}, t0, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				seen, err := s.SeenReceipt(ctx, tc.id, tc.until, tc.now)
				if seen {
					t.Error("seen = true on error")
				}
				wantErr(t, err, ErrInvalidInput)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
			})
		}
		if n := countRows(t, s, "receipt_replay"); n != 0 {
			t.Errorf("receipt_replay rows = %d, want 0", n)
		}
	})
}

func TestSeenReceiptConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		const n = 32
		var wg sync.WaitGroup
		start := make(chan struct{})
		seen := make([]bool, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				seen[i], errs[i] = s.SeenReceipt(context.Background(), []byte("r"), t0.Add(time.Hour), t0)
			}(i)
		}
		close(start)
		wg.Wait()
		fresh := 0
		for i := range seen {
			if errs[i] != nil {
				t.Fatalf("goroutine %d: %v", i, errs[i])
			}
			if !seen[i] {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d callers saw the receipt as new, want exactly 1", fresh)
		}
	})
}

func TestPruneReplayCache(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		for i, until := range []time.Time{t0.Add(time.Minute), t0.Add(2 * time.Minute), t0.Add(time.Hour)} {
			if _, err := s.SeenReceipt(ctx, []byte{byte(i + 1)}, until, t0); err != nil {
				t.Fatal(err)
			}
		}
		wantErr(t, s.Prune(ctx, t0.Add(2*time.Minute)), nil)
		if n := countRows(t, s, "receipt_replay"); n != 1 {
			t.Fatalf("receipt_replay rows after prune = %d, want 1", n)
		}
		seen, err := s.SeenReceipt(ctx, []byte{3}, t0.Add(2*time.Hour), t0.Add(3*time.Minute))
		if err != nil || !seen {
			t.Fatalf("unexpired entry lost by prune: seen=%v err=%v", seen, err)
		}
	})
}

// With a receipt retention, Prune deletes a receipt and its token once both
// the receipt and the token's expiry are older than the retention; a token
// still redeemable keeps its receipt. Without one, nothing is deleted.
func TestPruneReceiptRetention(t *testing.T) {
	eachBackend(t, pruneReceiptRetention)
}

func pruneReceiptRetention(t *testing.T, bk testBackend) {
	ctx := context.Background()
	for _, keep := range []time.Duration{0, 24 * time.Hour} {
		s, err := OpenWithOptions(ctx, bk.location(t), Options{ReceiptRetention: keep})
		if err != nil {
			t.Fatal(err)
		}
		putIssued(t, s, "short", "t-short") // issued t0, token expires t0+1h
		long := sampleToken("t-long", "long")
		long.Expires = t0.Add(100 * 24 * time.Hour)
		wantErr(t, s.PutReceiptWithToken(ctx, sampleReceipt("long"), long), nil)

		wantErr(t, s.Prune(ctx, t0.Add(24*time.Hour)), nil) // the token expired 23 h ago: kept
		if n := countRows(t, s, "receipts"); n != 2 {
			t.Fatalf("retention %v: %d receipts after an early prune, want 2", keep, n)
		}
		wantErr(t, s.Prune(ctx, t0.Add(26*time.Hour)), nil)
		want := 2
		if keep > 0 {
			want = 1
		}
		if n, m := countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); n != want || m != want {
			t.Fatalf("retention %v: %d receipts, %d tokens after the prune, want %d", keep, n, m, want)
		}
		if keep > 0 {
			if _, err := s.GetReceipt(ctx, []byte("long")); err != nil {
				t.Fatalf("the receipt with a redeemable token was deleted: %v", err)
			}
		}
		s.Close()
	}
}
