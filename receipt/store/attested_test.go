package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func usedContext(crc string) UsedContext {
	return UsedContext{CRC: []byte(crc), ConnID: "conn-1", At: t0}
}

// One call records the attestation and stores its receipt and token, with
// one COMMIT; the context stays used across a restart.
func TestPutAttestedReceipt(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		path := bk.location(t)
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		wantErr(t, s.PutAttestedReceipt(ctx, usedContext("crc-1"), sampleReceipt("r1"), sampleToken("t1", "")), nil)
		if st := s.GroupCommitStats(); st != (GroupCommitStats{Commits: 1, Items: 1}) {
			t.Errorf("stats %+v: want one item in one commit", st)
		}
		if u, r, k := countRows(t, s, "used_contexts"), countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); u != 1 || r != 1 || k != 1 {
			t.Fatalf("%d used contexts, %d receipts, %d tokens; want 1 each", u, r, k)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wantErr(t, s.UseContext(ctx, []byte("crc-1"), "conn-2", t0), ErrContextReused)
		if red, err := s.ConsumeToken(ctx, []byte("t1"), "p", t0); err != nil || string(red.ReceiptID) != "r1" {
			t.Fatalf("redeem after restart: %v %v", red, err)
		}
	})
}

// A used context stores nothing; a duplicate receipt or token records no
// attestation either: all or nothing.
func TestPutAttestedReceiptAllOrNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		wantErr(t, s.UseContext(ctx, []byte("used"), "conn-0", t0), nil)
		putIssued(t, s, "old-r", "old-t")

		wantErr(t, s.PutAttestedReceipt(ctx, usedContext("used"), sampleReceipt("r1"), sampleToken("t1", "")), ErrContextReused)
		_, err := s.GetReceipt(ctx, []byte("r1"))
		wantErr(t, err, ErrNotFound)

		wantErr(t, s.PutAttestedReceipt(ctx, usedContext("fresh-1"), sampleReceipt("old-r"), sampleToken("t2", "")), ErrDuplicate)
		wantErr(t, s.PutAttestedReceipt(ctx, usedContext("fresh-2"), sampleReceipt("r3"), sampleToken("old-t", "")), ErrDuplicate)
		_, err = s.GetReceipt(ctx, []byte("r3"))
		wantErr(t, err, ErrNotFound)
		// Neither failed call recorded its attestation.
		wantErr(t, s.UseContext(ctx, []byte("fresh-1"), "conn-9", t0), nil)
		wantErr(t, s.UseContext(ctx, []byte("fresh-2"), "conn-9", t0), nil)
		if u, r, k := countRows(t, s, "used_contexts"), countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); u != 3 || r != 1 || k != 1 {
			t.Fatalf("%d used contexts, %d receipts, %d tokens; want 3, 1, 1", u, r, k)
		}
	})
}

func TestPutAttestedReceiptInvalid(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) {
		s, _ := bk.open(t)
		ctx := context.Background()
		for _, tc := range []struct {
			name  string
			mod   func(*UsedContext, *Receipt, *Token)
			field string
		}{
			{"empty crc", func(u *UsedContext, _ *Receipt, _ *Token) { u.CRC = nil }, "UsedContext.CRC"},
			{"crc too long", func(u *UsedContext, _ *Receipt, _ *Token) { u.CRC = make([]byte, MaxContextLen+1) }, "UsedContext.CRC"},
			{"conn id too long", func(u *UsedContext, _ *Receipt, _ *Token) { u.ConnID = string(make([]byte, MaxNameLen+1)) }, "UsedContext.ConnID"},
			{"zero time", func(u *UsedContext, _ *Receipt, _ *Token) { u.At = time.Time{} }, ""},
			{"empty bundle", func(_ *UsedContext, r *Receipt, _ *Token) { r.Bundle = nil }, "Receipt.Bundle"},
			{"short digest", func(_ *UsedContext, _ *Receipt, k *Token) { k.Digest = k.Digest[:8] }, "Token.Digest"},
			{"token of another receipt", func(_ *UsedContext, _ *Receipt, k *Token) { k.ReceiptID = []byte("other") }, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u, r, k := usedContext("crc"), sampleReceipt("r"), sampleToken("t", "")
				tc.mod(&u, &r, &k)
				err := s.PutAttestedReceipt(ctx, u, r, k)
				wantErr(t, err, ErrInvalidInput)
				if tc.field != "" {
					wantLimit(t, err, tc.field)
				}
			})
		}
		if n := countRows(t, s, "used_contexts") + countRows(t, s, "receipts"); n != 0 {
			t.Fatalf("%d rows written by refused calls", n)
		}
	})
}

// Used contexts, attested receipts and plain receipts share batches, and
// each keeps its own outcome: a context used twice in one batch fails the
// second use only.
func TestGroupCommitMixesAttestations(t *testing.T) {
	s, _ := openTemp(t)
	g := gateFirstBatch(t, s)
	ctx := context.Background()
	calls := []func() error{
		func() error { return s.UseContext(ctx, []byte("lead"), "c", t0) },
		func() error {
			return s.PutAttestedReceipt(ctx, usedContext("crc-a"), sampleReceipt("ra"), sampleToken("ta", ""))
		},
		func() error { return s.UseContext(ctx, []byte("crc-b"), "c", t0) },
		func() error {
			return s.PutAttestedReceipt(ctx, usedContext("crc-a"), sampleReceipt("rx"), sampleToken("tx", ""))
		},
		func() error { return s.PutReceiptWithToken(ctx, sampleReceipt("rp"), sampleToken("tp", "")) },
		func() error { return s.UseContext(ctx, []byte("crc-b"), "c", t0) },
	}
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = calls[i]() }()
	}
	start(0)
	waitBatchStarted(s)
	for i := 1; i < len(calls); i++ {
		start(i)
		waitQueued(s, i)
	}
	g.open()
	wg.Wait()
	for i, want := range []error{nil, nil, nil, ErrContextReused, nil, ErrContextReused} {
		wantErr(t, errs[i], want)
	}
	if got := g.batchSizes(); !reflect.DeepEqual(got, []int{1, 5}) {
		t.Fatalf("batch sizes %v, want [1 5]", got)
	}
	_, err := s.GetReceipt(ctx, []byte("rx"))
	wantErr(t, err, ErrNotFound)
	if u, r := countRows(t, s, "used_contexts"), countRows(t, s, "receipts"); u != 3 || r != 2 {
		t.Fatalf("%d used contexts, %d receipts; want 3 and 2", u, r)
	}
}

// Migration 3 keeps every stored receipt: its bundle, or, for a row stored
// without one, its COSE_Sign1.
func TestMigrationReceiptOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "old.db")
	dsn, _, err := sqliteDSN(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	v1, err := sqliteMigrationFiles.ReadFile("migrations/sqlite/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate(ctx, db, dialect{name: "sqlite", migrations: fstest.MapFS{"0001_init.sql": {Data: v1}}}, t0); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		id           string
		cose, bundle []byte
	}{{"with-bundle", []byte{0xd2, 1}, []byte{0xa3, 2}}, {"cose-only", []byte{0xd2, 3}, []byte{}}} {
		if _, err := db.Exec(`INSERT INTO receipts (id, issued_at, subject, cose, bundle) VALUES (?, ?, 's', ?, ?)`, []byte(r.id), t0.Unix(), r.cose, r.bundle); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string][]byte{"with-bundle": {0xa3, 2}, "cose-only": {0xd2, 3}} {
		got, err := s.GetReceipt(ctx, []byte(id))
		if err != nil || !reflect.DeepEqual(got.Bundle, want) {
			t.Errorf("%s after migration: %x %v, want %x", id, got.Bundle, err, want)
		}
	}
	if vs := migrationVersions(t, s.db); !reflect.DeepEqual(vs, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("schema_migrations %v", vs)
	}
}
