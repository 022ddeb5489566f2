package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/seatrx/seatrx/internal/pgtest"
)

func TestIsPostgresAndRedact(t *testing.T) {
	for _, tc := range []struct {
		loc    string
		pg     bool
		redact string
	}{
		{"/var/lib/seatrx/seatrx.db", false, "/var/lib/seatrx/seatrx.db"},
		{"postgres.db", false, "postgres.db"},
		{"postgres://seatrx:s3cret@db:5432/seatrx", true, "postgres://seatrx:xxxxx@db:5432/seatrx"},
		{"postgresql://seatrx@db/seatrx?sslmode=verify-full", true, "postgresql://seatrx@db/seatrx?sslmode=verify-full"},
		{"POSTGRES://u:p@h/d", true, "postgres://u:xxxxx@h/d"},
		{"postgres://u@h/d?password=s3cret", true, "postgres://u@h/d?password=xxxxx"},
		{"postgres://u:p@h:badport:x/d", true, "postgres://(unparsable URL)"},
	} {
		if got := IsPostgres(tc.loc); got != tc.pg {
			t.Errorf("IsPostgres(%q) = %v", tc.loc, got)
		}
		if got := Redact(tc.loc); got != tc.redact {
			t.Errorf("Redact(%q) = %q, want %q", tc.loc, got, tc.redact)
		}
	}
}

// Transient failures (unreachable, dropped, shutting down, timed out, busy)
// are ErrUnavailable; the caller's own cancellation and data errors are not.
func TestIsUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connect", &pgconn.ConnectError{}, true},
		{"net", &net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{"eof", io.ErrUnexpectedEOF, true},
		{"deadline", context.DeadlineExceeded, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"lock timeout", &pgconn.PgError{Code: "55P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"cancelled by caller", context.Canceled, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax", &pgconn.PgError{Code: "42601"}, false},
		{"other", errors.New("database is locked"), false},
	} {
		err := backend("op", fmt.Errorf("wrapped: %w", tc.err))
		if got := errors.Is(err, ErrUnavailable); got != tc.want {
			t.Errorf("%s: errors.Is(ErrUnavailable) = %v, want %v", tc.name, got, tc.want)
		}
		var be *BackendError
		if !errors.As(err, &be) {
			t.Errorf("%s: not a *BackendError", tc.name)
		}
	}
}

// An unreachable PostgreSQL fails Open with ErrUnavailable, within the
// connect timeout, and the error never carries the password.
func TestPostgresUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = Open(context.Background(), "postgres://seatrx:s3cret@"+addr+"/seatrx?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open of a closed port: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error carries the password: %v", err)
	}
	_, err = Open(context.Background(), "postgres://seatrx:s3cret@[::1/x")
	if !errors.Is(err, ErrInvalidInput) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Open of a malformed URL: %v", err)
	}
}

// A server that would acknowledge COMMITs before they are durable is refused.
func TestPostgresRefusesAsyncCommit(t *testing.T) {
	dsn := pgtest.DSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	_, err := Open(context.Background(), dsn+sep+"synchronous_commit=off")
	if err == nil || !strings.Contains(err.Error(), "synchronous_commit=off") {
		t.Fatalf("Open with synchronous_commit=off: %v", err)
	}
}

// terminateBackends ends every session on the database at dsn but its own,
// as a PostgreSQL restart does to a client, and returns how many it ended.
func terminateBackends(t *testing.T, dsn string) int {
	t.Helper()
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	err = admin.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// After every connection of the pool is killed, the same Store serves
// again without a reopen: calls in between fail with ErrUnavailable (never
// a success that was not stored), and what was committed before is there.
func TestPostgresReconnectsAfterTerminate(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := testBackends[1].openAt(t, dsn, Options{})
	ctx := context.Background()
	putIssued(t, s, "r-before", "t-before")
	if n := terminateBackends(t, dsn); n == 0 {
		t.Fatal("no backend to terminate")
	}
	deadline := time.Now().Add(30 * time.Second)
	var failures int
	for i := 0; ; i++ {
		err := s.PutReceiptWithToken(ctx, sampleReceipt(fmt.Sprintf("r-after-%d", i)), sampleToken(fmt.Sprintf("t-after-%d", i), fmt.Sprintf("r-after-%d", i)))
		if err == nil {
			if _, err := s.GetReceipt(ctx, []byte(fmt.Sprintf("r-after-%d", i))); err != nil {
				t.Fatalf("acknowledged receipt not readable: %v", err)
			}
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("put after terminate: %v, want success or ErrUnavailable", err)
		}
		failures++
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect within 30 s: %v", err)
		}
	}
	t.Logf("%d call(s) failed with ErrUnavailable before the pool reconnected", failures)
	if _, err := s.ConsumeToken(ctx, []byte("t-before"), "p", t0); err != nil {
		t.Fatalf("token stored before the terminate: %v", err)
	}
}

// A query waiting on a lock beyond the lock timeout fails with
// ErrUnavailable instead of holding its caller.
func TestPostgresLockTimeout(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := testBackends[1].openAt(t, dsn, Options{BusyTimeout: 100 * time.Millisecond})
	putIssued(t, s, "r", "t")
	tx, err := s.db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`SELECT 1 FROM execution_tokens WHERE id = $1 FOR UPDATE`, []byte("t")); err != nil {
		t.Fatal(err)
	}
	_, err = s.ConsumeToken(context.Background(), []byte("t"), "p", t0)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("ConsumeToken under another's row lock: %v, want ErrUnavailable", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(context.Background(), []byte("t"), "p", t0); err != nil {
		t.Fatalf("ConsumeToken after the lock is gone: %v", err)
	}
}

// The pool is bounded: never more connections than MaxOpenConns, however
// many callers.
func TestPostgresPoolBounded(t *testing.T) {
	dsn := pgtest.DSN(t)
	s := testBackends[1].openAt(t, dsn, Options{MaxOpenConns: 3})
	putIssued(t, s, "r", "t")
	redeemConcurrently(t, []*Store{s}, []byte("t"), 64)
	if st := s.db.Stats(); st.MaxOpenConnections != 3 || st.OpenConnections > 3 {
		t.Fatalf("pool stats %+v, want at most 3 connections", st)
	}
}
