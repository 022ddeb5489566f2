package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenCreatesDirectoryAndPrivateFile(t *testing.T) {
	_, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat db: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("db file mode = %o, want 600", mode)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatalf("stat dir: %v", err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("db dir mode = %o, want 700", mode)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", "db?mode=memory", "a#b", "x\x00y"} {
		if _, err := OpenSQLite(p); err == nil {
			t.Errorf("OpenSQLite(%q) succeeded", p)
		} else {
			wantErr(t, err, ErrInvalidInput)
		}
	}
}

func TestOpenFailsOnUncreatableDirectory(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenSQLite(filepath.Join(blocker, "sub", "db"))
	if err == nil || !strings.Contains(err.Error(), "create directory") {
		t.Fatalf("error = %v, want a create directory error", err)
	}
}

// TestPragmasOnEveryConnection holds several pooled connections at once and
// checks that each runs WAL, synchronous=FULL, foreign keys and a busy timeout.
func TestPragmasOnEveryConnection(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const n = 4
	for i := 0; i < n; i++ {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatalf("conn %d: %v", i, err)
		}
		defer c.Close()
		var mode string
		var sync, fk, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 || fk != 1 || busy != int(DefaultBusyTimeout.Milliseconds()) {
			t.Errorf("conn %d: journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal/2(FULL)/1/%d",
				i, mode, sync, fk, busy, DefaultBusyTimeout.Milliseconds())
		}
	}
	p, err := sqlitePragmas(ctx, s.db)
	if err != nil {
		t.Fatal(err)
	}
	if p.journalMode != "wal" || p.synchronous != 2 {
		t.Errorf("sqlitePragmas = %+v", p)
	}
}

func TestOptionsBusyTimeout(t *testing.T) {
	s, err := OpenSQLiteWithOptions(filepath.Join(t.TempDir(), "db"), Options{BusyTimeout: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := sqlitePragmas(context.Background(), s.db)
	if err != nil {
		t.Fatal(err)
	}
	if p.busyTimeout != 1500 {
		t.Errorf("busy_timeout = %d, want 1500", p.busyTimeout)
	}
}

func TestPutGetReceiptRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		r := sampleReceipt("r-1")
		r.IssuedAt = t0.Add(750 * time.Millisecond).In(time.FixedZone("X", 3600))
		if err := s.PutReceipt(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetReceipt(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.ID, r.ID) || got.Subject != r.Subject || !bytes.Equal(got.Bundle, r.Bundle) {
			t.Errorf("GetReceipt = %+v, want %+v", got, r)
		}
		if !got.IssuedAt.Equal(t0) || got.IssuedAt.Location() != time.UTC {
			t.Errorf("IssuedAt = %v, want %v (whole seconds, UTC)", got.IssuedAt, t0)
		}
	})
}

func TestPutReceiptErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		if err := s.PutReceipt(ctx, sampleReceipt("dup")); err != nil {
			t.Fatal(err)
		}
		mod := func(f func(*Receipt)) Receipt { r := sampleReceipt("x"); f(&r); return r }
		cases := []struct {
			name  string
			r     Receipt
			want  error
			field string // non-empty: expect *LimitError for this field
		}{
			{"duplicate id", sampleReceipt("dup"), ErrDuplicate, ""},
			{"empty id", mod(func(r *Receipt) { r.ID = nil }), ErrInvalidInput, "Receipt.ID"},
			{"id too long", mod(func(r *Receipt) { r.ID = make([]byte, MaxIDLen+1) }), ErrInvalidInput, "Receipt.ID"},
			{"empty bundle", mod(func(r *Receipt) { r.Bundle = nil }), ErrInvalidInput, "Receipt.Bundle"},
			{"bundle too big", mod(func(r *Receipt) { r.Bundle = make([]byte, MaxBlobLen+1) }), ErrInvalidInput, "Receipt.Bundle"},
			{"subject too long", mod(func(r *Receipt) { r.Subject = strings.Repeat("s", MaxSubjectLen+1) }), ErrInvalidInput, "Receipt.Subject"},
			{"zero issued_at", mod(func(r *Receipt) { r.IssuedAt = time.Time{} }), ErrInvalidInput, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.PutReceipt(ctx, tc.r)
				wantErr(t, err, tc.want)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
			})
		}
		if n := countRows(t, s, "receipts"); n != 1 {
			t.Errorf("receipts rows = %d, want 1 (only the first put)", n)
		}
		// Limits are inclusive: the maximum sizes are accepted.
		big := sampleReceipt(strings.Repeat("i", MaxIDLen))
		big.Bundle = make([]byte, MaxBlobLen)
		if err := s.PutReceipt(ctx, big); err != nil {
			t.Fatalf("maximum-size receipt: %v", err)
		}
	})
}

func TestGetReceiptErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		_, err := s.GetReceipt(ctx, []byte("missing"))
		wantErr(t, err, ErrNotFound)
		_, err = s.GetReceipt(ctx, nil)
		wantLimit(t, err, "id")
		_, err = s.GetReceipt(ctx, make([]byte, MaxIDLen+1))
		wantLimit(t, err, "id")
	})
}

func TestPutTokenErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		if err := s.PutReceipt(ctx, sampleReceipt("r")); err != nil {
			t.Fatal(err)
		}
		if err := s.PutToken(ctx, sampleToken("t", "r")); err != nil {
			t.Fatalf("PutToken: %v", err)
		}
		mod := func(f func(*Token)) Token { tk := sampleToken("t2", "r"); f(&tk); return tk }
		cases := []struct {
			name  string
			tok   Token
			want  error
			field string
		}{
			{"duplicate id", sampleToken("t", "r"), ErrDuplicate, ""},
			{"unknown receipt", sampleToken("t3", "nope"), ErrNotFound, ""},
			{"empty id", mod(func(k *Token) { k.ID = nil }), ErrInvalidInput, "Token.ID"},
			{"id too long", mod(func(k *Token) { k.ID = make([]byte, MaxIDLen+1) }), ErrInvalidInput, "Token.ID"},
			{"empty receipt id", mod(func(k *Token) { k.ReceiptID = nil }), ErrInvalidInput, "Token.ReceiptID"},
			{"short digest", mod(func(k *Token) { k.Digest = k.Digest[:31] }), ErrInvalidInput, "Token.Digest"},
			{"long digest", mod(func(k *Token) { k.Digest = make([]byte, 33) }), ErrInvalidInput, "Token.Digest"},
			{"empty audience", mod(func(k *Token) { k.Audience = "" }), ErrInvalidInput, "Token.Audience"},
			{"audience too long", mod(func(k *Token) { k.Audience = strings.Repeat("a", MaxNameLen+1) }), ErrInvalidInput, "Token.Audience"},
			{"key binding too long", mod(func(k *Token) { k.KeyBinding = make([]byte, MaxKeyBindingLen+1) }), ErrInvalidInput, "Token.KeyBinding"},
			{"zero not_before", mod(func(k *Token) { k.NotBefore = time.Time{} }), ErrInvalidInput, ""},
			{"zero expires", mod(func(k *Token) { k.Expires = time.Time{} }), ErrInvalidInput, ""},
			{"empty window", mod(func(k *Token) { k.Expires = k.NotBefore.Add(999 * time.Millisecond) }), ErrInvalidInput, ""},
			{"inverted window", mod(func(k *Token) { k.Expires = k.NotBefore.Add(-time.Hour) }), ErrInvalidInput, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				err := s.PutToken(ctx, tc.tok)
				wantErr(t, err, tc.want)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
			})
		}
		if n := countRows(t, s, "execution_tokens"); n != 1 {
			t.Errorf("execution_tokens rows = %d, want 1", n)
		}
	})
}

// TestPutReceiptWithTokenIsAtomic checks both-or-neither: a duplicate token
// id must roll back the new receipt too.
func TestPutReceiptWithTokenIsAtomic(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		putIssued(t, s, "r1", "t1")

		err := s.PutReceiptWithToken(ctx, sampleReceipt("r2"), sampleToken("t1", "r2"))
		wantErr(t, err, ErrDuplicate)
		_, err = s.GetReceipt(ctx, []byte("r2"))
		wantErr(t, err, ErrNotFound)

		err = s.PutReceiptWithToken(ctx, sampleReceipt("r1"), sampleToken("t9", "r1"))
		wantErr(t, err, ErrDuplicate)
		if n := countRows(t, s, "execution_tokens"); n != 1 {
			t.Errorf("execution_tokens rows = %d, want 1 (t9 rolled back)", n)
		}

		err = s.PutReceiptWithToken(ctx, sampleReceipt("r3"), sampleToken("t3", "other"))
		wantErr(t, err, ErrInvalidInput)

		bad := sampleToken("t4", "r4")
		bad.Digest = nil
		err = s.PutReceiptWithToken(ctx, sampleReceipt("r4"), bad)
		wantLimit(t, err, "Token.Digest")
		_, err = s.GetReceipt(ctx, []byte("r4"))
		wantErr(t, err, ErrNotFound)

		// An empty Token.ReceiptID means the receipt being stored.
		tk := sampleToken("t5", "")
		if err := s.PutReceiptWithToken(ctx, sampleReceipt("r5"), tk); err != nil {
			t.Fatal(err)
		}
		red, err := s.ConsumeToken(ctx, []byte("t5"), "peer", t0)
		if err != nil {
			t.Fatal(err)
		}
		if string(red.ReceiptID) != "r5" {
			t.Errorf("ReceiptID = %q, want r5", red.ReceiptID)
		}
	})
}

// TestDurability writes through one handle, reads through a second handle
// before the first is closed (committed means visible), then closes both and
// reads everything back from a fresh handle, including the consumption.
func TestDurability(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		ctx := context.Background()
		path := bk.location(t)
		a, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		putIssued(t, a, "r1", "t1")
		putIssued(t, a, "r2", "t2")
		if _, err := b.GetReceipt(ctx, []byte("r1")); err != nil {
			t.Fatalf("second handle right after commit: %v", err)
		}
		if _, err := a.ConsumeToken(ctx, []byte("t1"), "peer-a", t0); err != nil {
			t.Fatal(err)
		}
		if err := a.UseContext(ctx, []byte("crc-1"), "conn-1", t0); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}

		c, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		want := sampleReceipt("r2")
		got, err := c.GetReceipt(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bundle, want.Bundle) || got.Subject != want.Subject || !got.IssuedAt.Equal(want.IssuedAt) {
			t.Errorf("reopened receipt = %+v, want %+v", got, want)
		}
		_, err = c.ConsumeToken(ctx, []byte("t1"), "peer-b", t0)
		wantErr(t, err, ErrTokenConsumed)
		if _, err := c.ConsumeToken(ctx, []byte("t2"), "peer-b", t0); err != nil {
			t.Errorf("unredeemed token after reopen: %v", err)
		}
		wantErr(t, c.UseContext(ctx, []byte("crc-1"), "conn-2", t0), ErrContextReused)
	})
}

func TestCanceledContext(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		wantErr(t, s.PutReceipt(ctx, sampleReceipt("r")), context.Canceled)
		_, err := s.GetReceipt(context.Background(), []byte("r"))
		wantErr(t, err, ErrNotFound)
	})
}

// isBusy recognises a lock timeout by the driver's result code, never by
// message text; the failure reaches the caller as a *BackendError.
func TestBusyIsTypedBackendError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "busy.db")
	a, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenSQLiteWithOptions(path, Options{BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tx, err := a.db.Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = b.UseContext(context.Background(), []byte("crc"), "c", t0)
	var be *BackendError
	if !errors.As(err, &be) || !isBusy(err) {
		t.Fatalf("write under another writer's lock: %v (%T)", err, err)
	}
	if isBusy(errors.New("database is locked (SQLITE_BUSY)")) {
		t.Fatal("isBusy matched message text")
	}
}

func TestEdgeReceipts(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, err := Open(context.Background(), bk.location(t))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		if n, first, last, err := s.EdgeReceipts(ctx); err != nil || n != 0 || first != nil || last != nil {
			t.Fatalf("empty store: %d %v %v %v", n, first, last, err)
		}
		t0 := time.Unix(1_800_000_000, 0)
		for i, at := range []time.Time{t0.Add(time.Hour), t0, t0.Add(2 * time.Hour)} {
			if err := s.PutReceipt(ctx, Receipt{ID: []byte{byte(i + 1)}, IssuedAt: at, Subject: "s", Bundle: []byte{0xa3}}); err != nil {
				t.Fatal(err)
			}
		}
		n, first, last, err := s.EdgeReceipts(ctx)
		if err != nil || n != 3 || first.ID[0] != 2 || last.ID[0] != 3 || !last.IssuedAt.Equal(t0.Add(2*time.Hour)) {
			t.Fatalf("%d %+v %+v %v", n, first, last, err)
		}
	})
}
