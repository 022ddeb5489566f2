// Package pgtest gives each test its own, freshly created PostgreSQL database,
// so that test packages running in parallel never see each other's tables.
//
// The server comes from, first match wins:
//   - $SEATRX_TEST_PG, a DSN (it must answer; nothing else is tried);
//   - the CI service at 127.0.0.1:5432: database "test", role "postgres",
//     trust auth (skipped when SEATRX_TESTDB_FORCE_LOCAL=1);
//   - scripts/testdb, run once per test binary, which installs PostgreSQL from
//     Debian's packages when missing and starts a throwaway cluster.
//
// When none is usable the test fails under CI=true (PostgreSQL tests are never
// skipped in CI) and is skipped elsewhere, saying why and how to get one.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServiceDSN is where CI machines run PostgreSQL for the tests.
const ServiceDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

const (
	envDSN        = "SEATRX_TEST_PG"
	envForceLocal = "SEATRX_TESTDB_FORCE_LOCAL"

	// probeTimeout bounds one connection attempt to a candidate server.
	probeTimeout = 5 * time.Second
	// scriptTimeout bounds scripts/testdb, which may install packages.
	scriptTimeout = 10 * time.Minute
	// queryTimeout bounds creating and dropping a test database.
	queryTimeout = 30 * time.Second
)

// server is the PostgreSQL this test binary uses, found once.
var server struct {
	once   sync.Once
	dsn    string // administrative DSN: where test databases are created
	source string // where dsn came from, for test logs
	err    error
}

// DSN returns a DSN for a new, empty database that is dropped when t ends.
func DSN(t testing.TB) string {
	t.Helper()
	base, source, err := baseDSN()
	if err != nil {
		unavailable(t, inCI(), err)
		return ""
	}
	name, err := createDatabase(base)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(base, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	dsn, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Logf("pgtest: database %s on PostgreSQL from %s", name, source)
	return dsn
}

// unavailable ends a test that has no PostgreSQL: a failure under CI, a skip
// that says why and what to do elsewhere.
func unavailable(t testing.TB, ci bool, err error) {
	t.Helper()
	if ci {
		t.Fatalf("pgtest: PostgreSQL is required under CI=true and none is usable: %v", err)
		return
	}
	t.Skipf("pgtest: skipping, no PostgreSQL: %v\n"+
		"To run this test: set %s to a DSN; or serve database \"test\" at 127.0.0.1:5432 "+
		"(role postgres, trust auth); or run scripts/testdb, which installs Debian's "+
		"postgresql when missing (needs root or password-less sudo) and starts a throwaway cluster.",
		err, envDSN)
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

func baseDSN() (dsn, source string, err error) {
	server.once.Do(func() {
		server.dsn, server.source, server.err = findServer()
	})
	return server.dsn, server.source, server.err
}

func findServer() (dsn, source string, err error) {
	if dsn := os.Getenv(envDSN); dsn != "" {
		if err := ping(dsn); err != nil {
			return "", "", fmt.Errorf("%s is set but does not answer: %w", envDSN, err)
		}
		return dsn, envDSN, nil
	}
	var serviceErr error
	if os.Getenv(envForceLocal) != "1" {
		if serviceErr = ping(ServiceDSN); serviceErr == nil {
			return ServiceDSN, "the service at 127.0.0.1:5432", nil
		}
	}
	dsn, err = runTestdb()
	if err != nil {
		if serviceErr != nil {
			return "", "", fmt.Errorf("no service at 127.0.0.1:5432 (%v), and %w", serviceErr, err)
		}
		return "", "", err
	}
	if err := ping(dsn); err != nil {
		return "", "", fmt.Errorf("scripts/testdb printed %q, which does not answer: %w", dsn, err)
	}
	return dsn, "scripts/testdb", nil
}

func ping(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// runTestdb runs the module's scripts/testdb and returns the DSN it printed.
func runTestdb() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	script := filepath.Join(root, "scripts", "testdb")
	cmd := exec.CommandContext(ctx, script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The cluster it starts must not keep our pipes open; if something does,
	// stop waiting for it rather than hang the test binary.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s failed: %v: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Fields(stdout.String())
	if len(lines) == 0 {
		return "", fmt.Errorf("%s printed no DSN: %s", script, strings.TrimSpace(stderr.String()))
	}
	return lines[len(lines)-1], nil
}

// moduleRoot is the nearest directory at or above the working directory (a
// test's package directory) that holds go.mod and scripts/testdb.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		_, errMod := os.Stat(filepath.Join(dir, "go.mod"))
		_, errScript := os.Stat(filepath.Join(dir, "scripts", "testdb"))
		if errMod == nil && errScript == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no module root with scripts/testdb above the working directory")
		}
		dir = parent
	}
}

func createDatabase(base string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := "seatrx_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to create a test database: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return name, nil
}

// dropDatabase drops a test database, disconnecting whatever the test left
// connected (WITH (FORCE) needs PostgreSQL 13 or later).
func dropDatabase(base, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), queryTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to drop database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// withDatabase returns dsn (URL or keyword/value form) naming database name.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DSN: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		q := u.Query()
		if q.Has("dbname") {
			q.Del("dbname")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one. Test
	// database names need no quoting.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}
