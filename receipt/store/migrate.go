package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrationFiles embed.FS

// maxMigrationFile bounds one embedded migration file.
const maxMigrationFile = 1 << 20

// createMigrationsTable is portable DDL (SQLite and PostgreSQL): the ledger of
// applied migrations, each with the SHA-256 of its file.
const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT NOT NULL PRIMARY KEY,
    checksum   TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)`

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// migration is one parsed NNNN_name.sql file.
type migration struct {
	version  int
	name     string
	checksum string   // hex SHA-256 of the file
	stmts    []string // statements without their terminating ';'
}

// loadMigrations reads the *.sql files at the root of fsys. Versions must run
// 1, 2, 3, ... without gaps, so the order of application is unambiguous.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("store: migration file %q: name is not NNNN_name.sql", e.Name())
		}
		version, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		if info.Size() > maxMigrationFile {
			return nil, fmt.Errorf("store: migration file %q: %d bytes exceeds %d", e.Name(), info.Size(), maxMigrationFile)
		}
		body, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		stmts, err := splitStatements(string(body))
		if err != nil {
			return nil, fmt.Errorf("store: migration file %q: %w", e.Name(), err)
		}
		sum := sha256.Sum256(body)
		ms = append(ms, migration{version: version, name: e.Name(), checksum: hex.EncodeToString(sum[:]), stmts: stmts})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	if len(ms) == 0 {
		return nil, errors.New("store: no migrations found")
	}
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %q: version %d, want %d (versions must be 1, 2, 3, ... without gaps or repeats)", m.name, m.version, i+1)
		}
	}
	return ms, nil
}

// splitStatements splits a migration file into statements. A statement ends
// with ';' at the end of a line; whole-line "--" comments are dropped. This
// simple rule is enough for the migrations we write (no procedural bodies).
func splitStatements(body string) ([]string, error) {
	var stmts []string
	var cur []string
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		if strings.HasSuffix(t, ";") {
			cur = append(cur, strings.TrimRight(strings.TrimSuffix(strings.TrimRight(line, " \t\r"), ";"), " \t"))
			stmts = append(stmts, strings.Join(cur, "\n"))
			cur = cur[:0]
			continue
		}
		cur = append(cur, strings.TrimRight(line, "\r"))
	}
	if len(cur) != 0 {
		return nil, errors.New("last statement has no terminating ';'")
	}
	if len(stmts) == 0 {
		return nil, errors.New("no statements")
	}
	return stmts, nil
}

// migrate brings the schema up to the newest embedded migration inside one
// transaction and returns the versions it applied (none when up to date).
// It refuses a database that carries a version it does not know
// (ErrSchemaTooNew), misses an older version, or whose recorded checksum
// differs from the embedded file (ErrSchemaMismatch).
func migrate(ctx context.Context, db *sql.DB, d dialect, now time.Time) (applied []int, err error) {
	ms, err := loadMigrations(d.migrations)
	if err != nil {
		return nil, err
	}
	latest := ms[len(ms)-1].version

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, backend("migrate: begin", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if d.migrationLock != "" {
		if _, err = tx.ExecContext(ctx, d.migrationLock); err != nil {
			return nil, backend("migrate: lock", err)
		}
	}
	if _, err = tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return nil, backend("migrate: create schema_migrations", err)
	}
	have, err := appliedMigrations(ctx, tx)
	if err != nil {
		return nil, err
	}
	versions := make([]int, 0, len(have))
	for v := range have {
		versions = append(versions, v)
	}
	sort.Ints(versions)
	if n := len(versions); n > 0 && versions[n-1] > latest {
		return nil, fmt.Errorf("%w: database is at version %d, this binary knows up to %d; refusing to open (upgrade seatrx)",
			ErrSchemaTooNew, versions[n-1], latest)
	}
	for _, v := range versions {
		sum := have[v]
		if want := ms[v-1].checksum; sum != want {
			return nil, fmt.Errorf("%w: version %d (%s) checksum %s in database, %s embedded",
				ErrSchemaMismatch, v, ms[v-1].name, sum, want)
		}
	}
	maxHave := 0
	if len(versions) > 0 {
		maxHave = versions[len(versions)-1]
	}
	for _, m := range ms {
		if _, ok := have[m.version]; ok {
			continue
		}
		if m.version < maxHave {
			return nil, fmt.Errorf("%w: version %d is missing below applied version %d", ErrSchemaMismatch, m.version, maxHave)
		}
		for i, stmt := range m.stmts {
			if _, err = tx.ExecContext(ctx, stmt); err != nil {
				return nil, backend(fmt.Sprintf("migrate %s statement %d", m.name, i+1), err)
			}
		}
		if _, err = tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (?, ?, ?)`),
			m.version, m.checksum, now.Unix()); err != nil {
			return nil, backend(fmt.Sprintf("migrate %s: record version", m.name), err)
		}
		applied = append(applied, m.version)
	}
	if err = tx.Commit(); err != nil {
		return nil, backend("migrate: commit", err)
	}
	return applied, nil
}

// appliedMigrations reads the schema_migrations ledger.
func appliedMigrations(ctx context.Context, tx *sql.Tx) (map[int]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, checksum FROM schema_migrations`)
	if err != nil {
		return nil, backend("migrate: read schema_migrations", err)
	}
	defer rows.Close()
	have := make(map[int]string)
	for rows.Next() {
		var v int64
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return nil, backend("migrate: scan schema_migrations", err)
		}
		switch {
		case v > 1<<31:
			return nil, fmt.Errorf("%w: database records version %d", ErrSchemaTooNew, v)
		case v < 1:
			return nil, fmt.Errorf("%w: database records invalid version %d", ErrSchemaMismatch, v)
		}
		have[int(v)] = sum
	}
	if err := rows.Err(); err != nil {
		return nil, backend("migrate: read schema_migrations", err)
	}
	return have, nil
}
