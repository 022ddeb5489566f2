package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

//go:embed migrations/postgres/*.sql
var postgresMigrationFiles embed.FS

// postgresDialect: `$n` placeholders, BYTEA/BIGINT tables, and the schema
// migrated under a transaction-scoped advisory lock.
var postgresDialect = dialect{
	name:          "postgres",
	numbered:      true,
	migrations:    mustSub(postgresMigrationFiles, "migrations/postgres"),
	migrationLock: `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(migrationLockKey, 10) + `)`,
}

// migrationLockKey is the advisory lock key under which PostgreSQL migrations
// run: the first 8 bytes of "seatrxmg", so two replicas starting at once
// apply each migration exactly once (the second waits, then finds it done).
const migrationLockKey int64 = 0x7365617472786d67

// PostgreSQL defaults for Options fields left zero.
const (
	// DefaultPostgresMaxConns bounds a Store's PostgreSQL pool (per process):
	// the group commit needs one connection at a time, readers and
	// redemptions the rest. Replicas multiply it: keep N × this under the
	// server's max_connections (100 by default).
	DefaultPostgresMaxConns = 16
	// DefaultConnectTimeout bounds dialing and authenticating one PostgreSQL
	// connection.
	DefaultConnectTimeout = 5 * time.Second
	// defaultConnMaxLifetime recycles PostgreSQL connections, so a pool
	// follows a failover or a restarted server without a restart.
	defaultConnMaxLifetime = 30 * time.Minute
	// defaultConnMaxIdle closes idle PostgreSQL connections above the idle bound.
	defaultConnMaxIdle = 5 * time.Minute
)

// IsPostgres reports whether location names a PostgreSQL database (a URL
// with the postgres:// or postgresql:// scheme) rather than a SQLite file.
func IsPostgres(location string) bool {
	l := strings.ToLower(location)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns location fit for a log: a PostgreSQL URL with its password
// replaced by "xxxxx" (and a password query parameter dropped); a SQLite path
// unchanged. An unparsable URL is reduced to its scheme.
func Redact(location string) string {
	if !IsPostgres(location) {
		return location
	}
	u, err := url.Parse(location)
	if err != nil {
		return location[:strings.Index(location, "://")+3] + "(unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Open opens the store at location with default options: a PostgreSQL
// database when location is a postgres:// or postgresql:// URL, otherwise
// the SQLite file at that path (the default backend). Pending migrations are
// applied before it returns.
func Open(ctx context.Context, location string) (*Store, error) {
	return OpenWithOptions(ctx, location, Options{})
}

// OpenWithOptions is Open with explicit options.
func OpenWithOptions(ctx context.Context, location string, o Options) (*Store, error) {
	if IsPostgres(location) {
		return openPostgres(ctx, location, o)
	}
	return openSQLite("sqlite", location, o)
}

// openPostgres opens a bounded pgx pool through database/sql, so the same
// query code serves both backends. Every connection carries
// statement_timeout and lock_timeout (the server-side bound of each query;
// Options.QueryTimeout is the client-side one) and
// idle_in_transaction_session_timeout, so a dead client frees its locks.
func openPostgres(ctx context.Context, dsn string, o Options) (*Store, error) {
	name := Redact(dsn)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the DSN, password included.
		return nil, fmt.Errorf("store: open %s: %w: not a valid PostgreSQL URL", name, ErrInvalidInput)
	}
	qt := o.queryTimeout()
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	ms := func(d time.Duration) string { return strconv.FormatInt(max(d.Milliseconds(), 1), 10) }
	for k, v := range map[string]string{
		"statement_timeout":                   ms(qt),
		"lock_timeout":                        ms(o.busyTimeout()),
		"idle_in_transaction_session_timeout": ms(2 * qt),
	} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	db := stdlib.OpenDB(*cfg)
	maxConns := o.MaxOpenConns
	if maxConns <= 0 {
		maxConns = DefaultPostgresMaxConns
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxLifetime(defaultConnMaxLifetime)
	db.SetConnMaxIdleTime(defaultConnMaxIdle)
	s := newStore(db, postgresDialect, o)
	octx, cancel := context.WithTimeout(ctx, qt+cfg.ConnectTimeout)
	defer cancel()
	if err := checkPostgres(octx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	if _, err := migrate(octx, db, s.d, time.Now()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, backend("migrate", err))
	}
	if err := s.ins.prepare(db, s.d); err != nil {
		s.ins.close()
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	return s, nil
}

// checkPostgres fails closed on a server that would acknowledge a COMMIT
// before it is durable on the primary (synchronous_commit=off).
func checkPostgres(ctx context.Context, db *sql.DB) error {
	var sc string
	if err := db.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&sc); err != nil {
		return backend("connect", err)
	}
	if strings.EqualFold(sc, "off") {
		return backend("connect", errors.New("synchronous_commit=off (COMMIT would return before the WAL is flushed); want on, local, remote_write or remote_apply"))
	}
	return nil
}
