package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Defaults for Options fields left zero.
const (
	// DefaultBusyTimeout is how long a SQLite connection waits for another
	// writer (another goroutine or another process on the same file).
	DefaultBusyTimeout = 10 * time.Second
	// DefaultContextRetention is how long a used request context is remembered
	// before Prune may drop it; it must exceed the longest attested connection.
	DefaultContextRetention = 24 * time.Hour
	// DefaultQueryTimeout bounds every statement and transaction the store
	// runs (a group commit's transaction as a whole), whatever the caller's
	// context: a database that stops answering fails the call with
	// ErrUnavailable instead of holding it. It exceeds DefaultBusyTimeout.
	DefaultQueryTimeout = 15 * time.Second
	// defaultMaxOpenConns bounds the SQLite pool; SQLite has one writer at a time.
	defaultMaxOpenConns = 8
)

// Options tunes OpenWithOptions and OpenSQLiteWithOptions; the zero value
// means the defaults.
type Options struct {
	// BusyTimeout is the SQLite busy_timeout (wait for the write lock) and
	// the PostgreSQL lock_timeout; default DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ContextRetention is how long UseContext entries survive Prune.
	ContextRetention time.Duration
	// ReceiptRetention is how long receipts and their execution tokens are
	// kept: Prune deletes a receipt issued more than this long ago once
	// every token of it expired more than this long ago (a token that can
	// still be redeemed is never deleted). 0 keeps them forever, the
	// default: they are the audit record.
	ReceiptRetention time.Duration
	// QueryTimeout bounds each statement or transaction (client side, and
	// PostgreSQL's statement_timeout); default DefaultQueryTimeout.
	QueryTimeout time.Duration
	// MaxOpenConns bounds the PostgreSQL pool; default
	// DefaultPostgresMaxConns. SQLite always uses 8.
	MaxOpenConns int
}

func (o Options) queryTimeout() time.Duration {
	if o.QueryTimeout > 0 {
		return o.QueryTimeout
	}
	return DefaultQueryTimeout
}

func (o Options) busyTimeout() time.Duration {
	if o.BusyTimeout > 0 {
		return o.BusyTimeout
	}
	return DefaultBusyTimeout
}

// Store is the durable receipt store. It is safe for concurrent use, and
// several Stores (or processes) may open the same SQLite file.
type Store struct {
	dir              string // directory of the SQLite file ("" for other backends)
	db               *sql.DB
	d                dialect
	contextRetention time.Duration
	receiptRetention time.Duration // 0: forever
	queryTimeout     time.Duration
	gc               *committer  // group commit of Put* inserts
	ins              insertStmts // the group commit's inserts, prepared once
}

// sqliteDialect is the default backend: `?` placeholders, STRICT tables.
var sqliteDialect = dialect{name: "sqlite", migrations: mustSub(sqliteMigrationFiles, "migrations/sqlite")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("store: embedded migrations: " + err.Error()) // unreachable: dir is a constant
	}
	return sub
}

// OpenSQLite opens (creating the directory and file if needed) the SQLite
// store at path with default options and applies pending migrations.
func OpenSQLite(path string) (*Store, error) {
	return OpenSQLiteWithOptions(path, Options{})
}

// OpenSQLiteWithOptions is OpenSQLite with explicit options. Every connection
// runs with journal_mode=WAL, synchronous=FULL, foreign_keys=ON, the busy
// timeout, and BEGIN IMMEDIATE transactions (no lock-upgrade deadlocks).
func OpenSQLiteWithOptions(path string, o Options) (*Store, error) {
	return openSQLite("sqlite", path, o)
}

// openSQLite opens the store through the database/sql driver registered as
// driverName: "sqlite" (modernc.org/sqlite) in production; tests register a
// wrapper of it to observe or fail transactions at the driver boundary.
func openSQLite(driverName, path string, o Options) (*Store, error) {
	dsn, marker, err := sqliteDSN(path, o)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, backend("open "+path, err)
	}
	db.SetMaxOpenConns(defaultMaxOpenConns)
	db.SetMaxIdleConns(defaultMaxOpenConns)
	s := newStore(db, sqliteDialect, o)
	s.dir = filepath.Dir(marker)
	ctx := context.Background()
	if err := openWithRetry(ctx, db, o.BusyTimeout); err != nil {
		_ = db.Close()
		if isCorrupt(err) {
			return nil, fmt.Errorf("store: open %s: %w: %v", path, ErrCorrupt, err)
		}
		return nil, backend("open "+path, err)
	}
	if err := quickCheck(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if _, err := migrate(ctx, db, s.d, time.Now()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, backend("migrate", err))
	}
	if err := s.ins.prepare(db, s.d); err != nil {
		s.ins.close()
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := writeMarker(marker, path); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// markerName is the file beside an SQLite store that says it was created:
// a dot file, so that neither "rm seatrx.db*" nor "rm *" takes it along.
func markerName(abs string) string {
	return filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs)+".created")
}

// writeMarker records, once, that the store at path exists; from then on
// a missing file is ErrMissing instead of a new empty store.
func writeMarker(marker, path string) error {
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	body := fmt.Sprintf("seatrx store %s created %s\nIf the store is lost for good, delete this file to start with an empty one.\n",
		path, time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(marker, []byte(body), 0o600); err != nil {
		return backend("write "+marker, err)
	}
	return nil
}

// maxQuickCheckLines bounds what quick_check may report.
const maxQuickCheckLines = 5

// quickCheck runs PRAGMA quick_check (O(size of the database), without the
// index-content checks of integrity_check): a store with damaged pages is
// refused at open with what SQLite found, instead of failing every write.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check("+strconv.Itoa(maxQuickCheckLines)+")")
	if err != nil {
		if isCorrupt(err) {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return backend("quick_check", err)
	}
	defer rows.Close()
	var found []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return backend("quick_check", err)
		}
		found = append(found, line)
	}
	if err := rows.Err(); err != nil {
		if isCorrupt(err) {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		return backend("quick_check", err)
	}
	if len(found) == 1 && found[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: PRAGMA quick_check found: %s; restore the store from a backup", ErrCorrupt, strings.Join(found, "; "))
}

// newStore wraps an open pool; the caller migrates and prepares.
func newStore(db *sql.DB, d dialect, o Options) *Store {
	s := &Store{db: db, d: d, contextRetention: o.ContextRetention, receiptRetention: o.ReceiptRetention, queryTimeout: o.queryTimeout(), gc: newCommitter()}
	if s.contextRetention <= 0 {
		s.contextRetention = DefaultContextRetention
	}
	return s
}

// Backend names the store's database: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// bound applies the store's query timeout to ctx.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.queryTimeout)
}

// openWithRetry runs the first connection's pragmas, retrying while another
// process or handle holds the lock. Switching a fresh file to WAL can return
// SQLITE_BUSY without SQLite calling the busy handler (it avoids deadlock
// there), so busy_timeout alone does not cover concurrent first opens.
func openWithRetry(ctx context.Context, db *sql.DB, busy time.Duration) error {
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	deadline := time.Now().Add(busy)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := checkSQLitePragmas(ctx, db)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(wait)
	}
}

// sqliteDSN creates the parent directory and the file (mode 0600, so the WAL
// and shm files SQLite derives from it are private too) and builds the DSN.
// A file that is missing while its marker (markerName) is there was deleted
// after first use: ErrMissing, never a new empty store. It returns the DSN
// and the marker's path.
func sqliteDSN(path string, o Options) (string, string, error) {
	if path == "" {
		return "", "", fmt.Errorf("%w: empty database path", ErrInvalidInput)
	}
	if strings.ContainsAny(path, "?#\x00") {
		return "", "", fmt.Errorf("%w: database path %q contains '?', '#' or NUL", ErrInvalidInput, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", backend(fmt.Sprintf("database path %q", path), err)
	}
	marker := markerName(abs)
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		if _, merr := os.Stat(marker); merr == nil {
			return "", "", fmt.Errorf("store: open %s: %w: it was created before (%s) and is gone; restore it from a backup, "+
				"or delete %s to start with an empty store (every receipt and redemption record is then lost)", abs, ErrMissing, marker, marker)
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", "", backend("create directory for "+abs, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", "", backend("create "+abs, err)
	}
	if err := f.Close(); err != nil {
		return "", "", backend("create "+abs, err)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	busyMS := max(busy.Milliseconds(), 1)
	// An absolute path never starts with "file:", so the driver treats it as a
	// plain file name and reads the parameters after '?'.
	return abs + "?_pragma=busy_timeout(" + strconv.FormatInt(busyMS, 10) + ")" +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_txlock=immediate", marker, nil
}

// errPragma reports a connection that did not take the durability settings
// (e.g. a file system on which SQLite cannot use WAL).
var errPragma = errors.New("sqlite pragma not in effect")

// checkSQLitePragmas fails closed if WAL, synchronous=FULL or foreign keys did
// not take effect on a pooled connection.
func checkSQLitePragmas(ctx context.Context, db *sql.DB) error {
	p, err := sqlitePragmas(ctx, db)
	if err != nil {
		return err
	}
	if p.journalMode != "wal" || p.synchronous != 2 || p.foreignKeys != 1 {
		return fmt.Errorf("%w: journal_mode=%s synchronous=%d foreign_keys=%d, want wal/2/1",
			errPragma, p.journalMode, p.synchronous, p.foreignKeys)
	}
	return nil
}

type pragmas struct {
	journalMode string
	synchronous int
	foreignKeys int
	busyTimeout int
}

// sqlitePragmas reads the settings of one pooled connection.
func sqlitePragmas(ctx context.Context, db *sql.DB) (pragmas, error) {
	var p pragmas
	conn, err := db.Conn(ctx)
	if err != nil {
		return p, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	for _, q := range []struct {
		name string
		dst  any
	}{
		{"journal_mode", &p.journalMode},
		{"synchronous", &p.synchronous},
		{"foreign_keys", &p.foreignKeys},
		{"busy_timeout", &p.busyTimeout},
	} {
		if err := conn.QueryRowContext(ctx, "PRAGMA "+q.name).Scan(q.dst); err != nil {
			return p, fmt.Errorf("read pragma %s: %w", q.name, err)
		}
	}
	p.journalMode = strings.ToLower(p.journalMode)
	return p, nil
}

// Close closes the database; with SQLite the last close checkpoints the WAL.
// Inserts still queued for a group commit fail with ErrClosed (they are not
// stored); Close first waits for the group commit in flight, whose callers get
// its real outcome.
func (s *Store) Close() error {
	s.gc.close()
	s.ins.close()
	if err := s.db.Close(); err != nil {
		return backend("close", err)
	}
	return nil
}

// Probe proves that the store can write now: it inserts and deletes a row
// of the probe table in one committed transaction (so a full disk, a
// read-only file or a lost lock shows here, not at the next receipt).
func (s *Store) Probe(ctx context.Context) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return backend("probe", err)
	}
	id := int64(binary.BigEndian.Uint64(b[:]) >> 1)
	return s.inTx(ctx, "probe", func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO probe (id, at) VALUES (?, ?)`), id, time.Now().Unix()); err != nil {
			return backend("probe: insert", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM probe WHERE id = ?`), id); err != nil {
			return backend("probe: delete", err)
		}
		return nil
	})
}

// q rewrites a portable query for the store's dialect.
func (s *Store) q(query string) string { return s.d.rebind(query) }

// inTx runs fn in one transaction and commits; the method returns only after
// COMMIT succeeded (with synchronous=FULL: after the WAL is on stable storage).
// The transaction is bounded by the store's query timeout.
func (s *Store) inTx(ctx context.Context, what string, fn func(context.Context, *sql.Tx) error) (err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil && pgconn.SafeToRetry(err) {
		// The pooled connection had died (e.g. the server restarted) and
		// nothing was sent: the pool has dropped it, so try a fresh one.
		tx, err = s.db.BeginTx(ctx, nil)
	}
	if err != nil {
		return backend(what+": begin", err)
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return backend(what+": commit", err)
	}
	return nil
}
