package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"modernc.org/sqlite"
)

// txRecorder wraps the SQLite driver to watch group commits where they
// reach the database, instead of hooks in the committer: it records the
// size of every committed insert transaction (the SAVEPOINTs of a
// multi-item batch, or 1 for a lone insert) and, when armed, fails the
// COMMIT of the next multi-item batch as a database error would.
type txRecorder struct {
	inner  sqlite.Driver
	mu     sync.Mutex
	sizes  []int
	armed  atomic.Bool
	faults atomic.Int64
}

// errInjectedCommit is the COMMIT failure a recorder injects.
var errInjectedCommit = errors.New("injected commit failure")

var recorderSeq atomic.Int64

// openRecorded opens a store at path through a fresh recorder.
func openRecorded(tb testing.TB, path string) (*Store, *txRecorder) {
	tb.Helper()
	rec := &txRecorder{}
	name := fmt.Sprintf("sqlite-recorded-%d", recorderSeq.Add(1))
	sql.Register(name, rec)
	s, err := openSQLite(name, path, Options{})
	if err != nil {
		tb.Fatalf("open recorded store: %v", err)
	}
	recorders.Store(s, rec)
	tb.Cleanup(func() { recorders.Delete(s) })
	return s, rec
}

// recorders maps a store opened by openRecorded to its recorder.
var recorders sync.Map

// failNextBatchCommit arms the fault for the next multi-item batch.
func (r *txRecorder) failNextBatchCommit() { r.armed.Store(true) }

func (r *txRecorder) batchSizes() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.sizes...)
}

func (r *txRecorder) Open(name string) (driver.Conn, error) {
	c, err := r.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &recConn{Conn: c, rec: r}, nil
}

// recConn forwards to the SQLite connection, counting what its current
// transaction inserts.
type recConn struct {
	driver.Conn
	rec        *txRecorder
	savepoints int
	inserted   bool
}

func (c *recConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	c.savepoints, c.inserted = 0, false
	return &recTx{Tx: tx, c: c}, nil
}

func (c *recConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	switch {
	case strings.HasPrefix(q, "SAVEPOINT "):
		c.savepoints++
	case isInsert(q):
		c.inserted = true
	}
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c *recConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c *recConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &recStmt{Stmt: st, c: c, insert: isInsert(q)}, nil
}

func isInsert(q string) bool {
	return strings.HasPrefix(q, "INSERT INTO receipts") || strings.HasPrefix(q, "INSERT INTO execution_tokens") || strings.HasPrefix(q, "INSERT INTO used_contexts")
}

// recStmt is a prepared statement of a recConn: its inserts count for the
// connection's transaction.
type recStmt struct {
	driver.Stmt
	c      *recConn
	insert bool
}

func (s *recStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if s.insert {
		s.c.inserted = true
	}
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *recStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (c *recConn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

type recTx struct {
	driver.Tx
	c *recConn
}

func (t *recTx) Commit() error {
	c := t.c
	size := c.savepoints
	if size == 0 && c.inserted {
		size = 1
	}
	if c.savepoints > 0 && c.rec.armed.CompareAndSwap(true, false) {
		c.rec.faults.Add(1)
		_ = t.Tx.Rollback()
		return errInjectedCommit
	}
	if err := t.Tx.Commit(); err != nil {
		return err
	}
	if size > 0 {
		c.rec.mu.Lock()
		c.rec.sizes = append(c.rec.sizes, size)
		c.rec.mu.Unlock()
	}
	return nil
}
