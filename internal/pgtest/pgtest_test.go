package pgtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func currentDatabase(t *testing.T, conn *pgx.Conn) string {
	t.Helper()
	var name string
	if err := conn.QueryRow(context.Background(), "select current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestIsolation: two DSNs of one test are two databases; a table made in one
// is absent from the other, which can make its own table of the same name.
func TestIsolation(t *testing.T) {
	ctx := context.Background()
	a, b := connect(t, DSN(t)), connect(t, DSN(t))
	if da, db := currentDatabase(t, a), currentDatabase(t, b); da == db {
		t.Fatalf("both DSNs name database %s", da)
	}
	if _, err := a.Exec(ctx, "create table receipts (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Exec(ctx, "insert into receipts values (1), (2)"); err != nil {
		t.Fatal(err)
	}
	var found *string
	if err := b.QueryRow(ctx, "select to_regclass('receipts')::text").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != nil {
		t.Fatalf("table made in database A is visible in database B as %s", *found)
	}
	if _, err := b.Exec(ctx, "create table receipts (id int primary key)"); err != nil {
		t.Fatalf("database B cannot make its own table of the same name: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, "select count(*) from receipts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database B's receipts has %d rows, want 0", n)
	}
}

// TestParallelDatabases: parallel tests creating databases at once (as parallel
// test packages do) each get their own and each can use the same table name.
func TestParallelDatabases(t *testing.T) {
	for i := range 6 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			conn := connect(t, DSN(t))
			if _, err := conn.Exec(context.Background(), "create table tokens (id int primary key)"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCleanupDropsDatabase: a test's database is gone once the test ends, even
// if the test left a connection open.
func TestCleanupDropsDatabase(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
		defer cancel()
		left, err := pgx.Connect(ctx, DSN(t)) // deliberately not closed by the test
		if err != nil {
			t.Fatal(err)
		}
		name = currentDatabase(t, left)
	})
	if t.Failed() || name == "" {
		t.Skip("subtest did not get a database")
	}
	base, _, err := baseDSN()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, base).QueryRow(context.Background(),
		"select count(*) from pg_database where datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}

// recorder stands in for a testing.TB to see whether unavailable fails or skips.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }

func TestUnavailable(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		name     string
		ci       bool
		wantFail bool
	}{
		{"CI fails, never skips", true, true},
		{"locally skips", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			unavailable(r, tt.ci, cause)
			if tt.wantFail {
				if r.failed == "" || r.skipped != "" {
					t.Fatalf("failed=%q skipped=%q, want a failure only", r.failed, r.skipped)
				}
			} else if r.skipped == "" || r.failed != "" {
				t.Fatalf("failed=%q skipped=%q, want a skip only", r.failed, r.skipped)
			}
			msg := r.failed + r.skipped
			if !strings.Contains(msg, cause.Error()) {
				t.Errorf("message does not say why: %q", msg)
			}
			if !tt.ci && !strings.Contains(msg, envDSN) || !tt.ci && !strings.Contains(msg, "scripts/testdb") {
				t.Errorf("skip message does not say how to get PostgreSQL: %q", msg)
			}
		})
	}
}

// TestWithDatabase: the per-test DSN names the new database and keeps
// everything else, as pgconn reads it.
func TestWithDatabase(t *testing.T) {
	tests := []struct {
		dsn, wantHost string
		wantPort      uint16
	}{
		{"postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "127.0.0.1", 5432},
		{"postgresql://u:p%40ss@db.example:6543/test", "db.example", 6543},
		{"postgres://postgres@/test?host=/tmp/seatrx-testdb-0/sock&port=5432&sslmode=disable", "/tmp/seatrx-testdb-0/sock", 5432},
		{"postgres://postgres@127.0.0.1/?dbname=test&sslmode=disable", "127.0.0.1", 5432},
		{"host=127.0.0.1 port=5433 user=postgres dbname=test sslmode=disable", "127.0.0.1", 5433},
	}
	for _, tt := range tests {
		t.Run(tt.dsn, func(t *testing.T) {
			got, err := withDatabase(tt.dsn, "seatrx_test_00")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pgconn.ParseConfig(got)
			if err != nil {
				t.Fatalf("pgconn cannot parse %q: %v", got, err)
			}
			if cfg.Database != "seatrx_test_00" || cfg.Host != tt.wantHost || cfg.Port != tt.wantPort {
				t.Fatalf("%q: database %q host %q port %d, want seatrx_test_00 %q %d",
					got, cfg.Database, cfg.Host, cfg.Port, tt.wantHost, tt.wantPort)
			}
			orig, err := pgconn.ParseConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.User != orig.User || cfg.Password != orig.Password {
				t.Fatalf("%q: credentials changed", got)
			}
		})
	}
}
