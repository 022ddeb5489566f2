package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/pgtest"
)

// testBackend is one database the shared store suite runs against: the
// semantic tests (exactly-once, atomicity, durability, replay) run under
// eachBackend, once per backend, so both backends are held to one suite.
type testBackend struct {
	name string
	// location returns where a fresh, empty store lives: a SQLite path
	// under a temp dir, or a new PostgreSQL database (internal/pgtest).
	location func(tb testing.TB) string
}

var testBackends = []testBackend{
	{"sqlite", func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "data", "seatrx.db") }},
	{"postgres", func(tb testing.TB) string { return pgtest.DSN(tb) }},
}

// eachBackend runs fn as a subtest per backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b testBackend)) {
	t.Helper()
	for _, b := range testBackends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// open opens a fresh store of backend b, closed at cleanup, and returns it
// with its location (for a second handle or a reopen).
func (b testBackend) open(tb testing.TB) (*Store, string) {
	tb.Helper()
	loc := b.location(tb)
	return b.openAt(tb, loc, Options{}), loc
}

// openAt opens a store at loc, closed at cleanup.
func (b testBackend) openAt(tb testing.TB, loc string, o Options) *Store {
	tb.Helper()
	s, err := OpenWithOptions(context.Background(), loc, o)
	if err != nil {
		tb.Fatalf("open %s store: %v", b.name, err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// t0 is a fixed issuance time for deterministic tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testAudience = "https://executor.example/run"

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testDigest() []byte {
	d := sha256.Sum256(testSecret)
	return d[:]
}

// openTemp opens a fresh store under tb's temp dir (in a sub-directory that
// does not exist yet) and closes it at cleanup.
func openTemp(tb testing.TB) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "data", "seatrx.db")
	s, _ := openRecorded(tb, path)
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func sampleReceipt(id string) Receipt {
	return Receipt{
		ID:       []byte(id),
		IssuedAt: t0,
		Subject:  "spiffe://example/peer",
		Bundle:   append([]byte{0xa3}, bytes.Repeat([]byte{0x5a}, 800)...),
	}
}

func sampleToken(id, receiptID string) Token {
	return Token{
		ID:         []byte(id),
		ReceiptID:  []byte(receiptID),
		Digest:     testDigest(),
		Audience:   testAudience,
		NotBefore:  t0,
		Expires:    t0.Add(time.Hour),
		KeyBinding: bytes.Repeat([]byte{0x11}, 32),
	}
}

// putIssued stores receipt rid with token tid, failing the test on error.
func putIssued(tb testing.TB, s *Store, rid, tid string) {
	tb.Helper()
	if err := s.PutReceiptWithToken(context.Background(), sampleReceipt(rid), sampleToken(tid, rid)); err != nil {
		tb.Fatalf("PutReceiptWithToken(%s, %s): %v", rid, tid, err)
	}
}

// tokenRedeemed reads the consumption state of a token straight from the table.
func tokenRedeemed(tb testing.TB, s *Store, id []byte) bool {
	tb.Helper()
	var n int
	err := s.db.QueryRow(s.q(`SELECT COUNT(*) FROM execution_tokens WHERE id = ? AND redeemed_at IS NOT NULL`), id).Scan(&n)
	if err != nil {
		tb.Fatalf("query token state: %v", err)
	}
	return n == 1
}

func countRows(tb testing.TB, s *Store, table string) int {
	tb.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wantErr fails unless errors.Is(err, want); want == nil means success.
func wantErr(tb testing.TB, err, want error) {
	tb.Helper()
	if want == nil {
		if err != nil {
			tb.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		tb.Fatalf("error = %v, want %v", err, want)
	}
}

// wantLimit fails unless err is a *LimitError for field.
func wantLimit(tb testing.TB, err error, field string) {
	tb.Helper()
	var le *LimitError
	if !errors.As(err, &le) {
		tb.Fatalf("error = %v, want *LimitError for %s", err, field)
	}
	if le.Field != field {
		tb.Fatalf("LimitError.Field = %q, want %q (%v)", le.Field, field, err)
	}
	if !errors.Is(err, ErrInvalidInput) {
		tb.Fatalf("LimitError does not match ErrInvalidInput: %v", err)
	}
}
