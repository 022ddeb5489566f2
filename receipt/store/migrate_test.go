package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// rawDB opens a SQLite file without migrations, for driving migrate directly.
func rawDB(t *testing.T) *sql.DB {
	t.Helper()
	dsn, _, err := sqliteDSN(filepath.Join(t.TempDir(), "raw.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func migrationVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].version != 1 || ms[0].name != "0001_init.sql" || len(ms[0].stmts) != 7 {
		t.Errorf("first migration = %d %s with %d statements", ms[0].version, ms[0].name, len(ms[0].stmts))
	}
	if len(ms) != 6 || ms[1].version != 2 || ms[1].name != "0002_authorizations.sql" || len(ms[1].stmts) != 4 ||
		ms[2].name != "0003_receipt_once.sql" || len(ms[2].stmts) != 2 || ms[3].name != "0004_probe.sql" || len(ms[3].stmts) != 1 ||
		ms[4].name != "0005_receipt_owner.sql" || len(ms[4].stmts) != 1 || ms[5].name != "0006_receipts_issued_at.sql" {
		t.Errorf("migrations = %+v", ms)
	}
}

// The PostgreSQL migrations are the SQLite ones' twins: same versions, same
// names, same number of statements (the types differ; the meaning not).
func TestPostgresMigrationsMatchSQLite(t *testing.T) {
	lite, err := loadMigrations(sqliteDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrations(postgresDialect.migrations)
	if err != nil {
		t.Fatal(err)
	}
	if len(pg) != len(lite) {
		t.Fatalf("%d PostgreSQL migrations, %d SQLite ones", len(pg), len(lite))
	}
	for i := range lite {
		if pg[i].name != lite[i].name || len(pg[i].stmts) != len(lite[i].stmts) {
			t.Errorf("migration %d: postgres %s with %d statements, sqlite %s with %d", i+1, pg[i].name, len(pg[i].stmts), lite[i].name, len(lite[i].stmts))
		}
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db := rawDB(t)
	applied, err := migrate(ctx, db, sqliteDialect, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(applied, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("first migrate applied %v, want [1 2 3 4 5 6]", applied)
	}
	for i := 0; i < 2; i++ {
		applied, err = migrate(ctx, db, sqliteDialect, t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Fatalf("re-run %d applied %v, want nothing", i, applied)
		}
	}
	if vs := migrationVersions(t, db); !reflect.DeepEqual(vs, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("schema_migrations = %v, want [1 2 3 4 5 6]", vs)
	}

	// Reopening through the public API is a no-op as well.
	path := filepath.Join(t.TempDir(), "x.db")
	for i := 0; i < 3; i++ {
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if vs := migrationVersions(t, s.db); !reflect.DeepEqual(vs, []int{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("open %d: schema_migrations = %v", i, vs)
		}
		s.Close()
	}
}

func TestMigrateAppliesOnlyNewVersions(t *testing.T) {
	ctx := context.Background()
	db := rawDB(t)
	v1 := fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);\n")}}
	d := dialect{name: "test", migrations: v1}
	if applied, err := migrate(ctx, db, d, t0); err != nil || !reflect.DeepEqual(applied, []int{1}) {
		t.Fatalf("v1: applied %v, %v", applied, err)
	}
	v2 := fstest.MapFS{
		"0001_a.sql": v1["0001_a.sql"],
		"0002_b.sql": {Data: []byte("-- second\nCREATE TABLE b (\n  y INTEGER\n);\nINSERT INTO b (y) VALUES (7);\n")},
		"README.txt": {Data: []byte("ignored")},
	}
	d.migrations = v2
	if applied, err := migrate(ctx, db, d, t0); err != nil || !reflect.DeepEqual(applied, []int{2}) {
		t.Fatalf("v2: applied %v, %v", applied, err)
	}
	var y int
	if err := db.QueryRow(`SELECT y FROM b`).Scan(&y); err != nil || y != 7 {
		t.Fatalf("migration 2 not applied: y=%d err=%v", y, err)
	}
}

func TestMigrateFailureRollsBack(t *testing.T) {
	ctx := context.Background()
	db := rawDB(t)
	d := dialect{name: "test", migrations: fstest.MapFS{
		"0001_ok.sql":  {Data: []byte("CREATE TABLE ok (x INTEGER);\n")},
		"0002_bad.sql": {Data: []byte("CREATE TABLE bad (x INTEGER);\nTHIS IS NOT SQL;\n")},
	}}
	_, err := migrate(ctx, db, d, t0)
	if err == nil || !strings.Contains(err.Error(), "0002_bad.sql statement 2") {
		t.Fatalf("error = %v, want failure in 0002_bad.sql statement 2", err)
	}
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name IN ('ok', 'bad', 'schema_migrations')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d objects left after failed migration, want 0 (one transaction)", n)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	s, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (9999, 'future', ?)`, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenSQLite(path)
	wantErr(t, err, ErrSchemaTooNew)
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "refusing to open") {
		t.Errorf("error %q does not name the version and the refusal", err)
	}
}

func TestOpenRefusesMismatchedSchema(t *testing.T) {
	cases := []struct {
		name string
		sql  string
	}{
		{"edited migration", `UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1`},
		{"invalid version", `INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (0, 'x', 0)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.db")
			s, err := OpenSQLite(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = OpenSQLite(path)
			wantErr(t, err, ErrSchemaMismatch)
		})
	}
}

func TestMigrateRefusesHole(t *testing.T) {
	ctx := context.Background()
	db := rawDB(t)
	files := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);\n")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER);\n")},
	}
	ms, err := loadMigrations(files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(createMigrationsTable); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, checksum, applied_at) VALUES (2, ?, 0)`, ms[1].checksum); err != nil {
		t.Fatal(err)
	}
	_, err = migrate(ctx, db, dialect{name: "test", migrations: files}, t0)
	wantErr(t, err, ErrSchemaMismatch)
}

func TestLoadMigrationsErrors(t *testing.T) {
	ok := &fstest.MapFile{Data: []byte("CREATE TABLE a (x INTEGER);\n")}
	cases := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"empty", fstest.MapFS{}, "no migrations found"},
		{"bad name", fstest.MapFS{"1_init.sql": ok}, "not NNNN_name.sql"},
		{"upper case name", fstest.MapFS{"0001_Init.sql": ok}, "not NNNN_name.sql"},
		{"gap", fstest.MapFS{"0001_a.sql": ok, "0003_c.sql": ok}, "version 3, want 2"},
		{"starts at 2", fstest.MapFS{"0002_a.sql": ok}, "version 2, want 1"},
		{"repeat", fstest.MapFS{"0001_a.sql": ok, "0001_b.sql": ok}, "version 1, want 2"},
		{"no statements", fstest.MapFS{"0001_a.sql": {Data: []byte("-- nothing\n\n")}}, "no statements"},
		{"unterminated", fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER)\n")}}, "no terminating ';'"},
		{"too big", fstest.MapFS{"0001_a.sql": {Data: make([]byte, maxMigrationFile+1)}}, "exceeds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadMigrations(tc.files)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSplitStatements(t *testing.T) {
	got, err := splitStatements("-- header\r\nCREATE TABLE a (\r\n  x INTEGER\r\n) STRICT;\r\n\n  -- note\nCREATE INDEX i ON a (x);  \n")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATE TABLE a (\n  x INTEGER\n) STRICT", "CREATE INDEX i ON a (x)"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("splitStatements = %q, want %q", got, want)
	}
}

// TestConcurrentOpenOfFreshFile opens several handles (for PostgreSQL:
// several pools, i.e. what several replicas starting at once are) on a new
// database at once: exactly one applies each migration, all open, the
// ledger has one row per version. On PostgreSQL this rests on the advisory
// lock: without it, concurrent CREATE TABLE statements fail.
func TestConcurrentOpenOfFreshFile(t *testing.T) {
	eachBackend(t, func(t *testing.T, bk testBackend) { concurrentOpen(t, bk.location(t)) })
}

func concurrentOpen(t *testing.T, path string) {
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	done := make(chan int)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		go func(i int) {
			<-start
			stores[i], errs[i] = Open(context.Background(), path)
			done <- i
		}(i)
	}
	close(start)
	for i := 0; i < n; i++ {
		<-done
	}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	if vs := migrationVersions(t, stores[0].db); !reflect.DeepEqual(vs, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("schema_migrations = %v, want [1 2 3 4 5 6]", vs)
	}
}
