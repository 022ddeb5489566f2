package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Code is a stable store error code; on the wire it is "store.<code>".
type Code string

// Store error codes.
const (
	CodeNotFound       Code = "not_found"
	CodeDuplicate      Code = "duplicate"
	CodeTokenConsumed  Code = "token_consumed"
	CodeContextReused  Code = "context_reused"
	CodeInvalidInput   Code = "invalid_input"
	CodeClosed         Code = "closed"
	CodeSchemaTooNew   Code = "schema_too_new"
	CodeSchemaMismatch Code = "schema_mismatch"
	CodeNotPending     Code = "not_pending"
	CodeNotEligible    Code = "not_eligible"
	CodeDiskFull       Code = "disk_full"
	CodeCorrupt        Code = "corrupt"
	CodeMissing        Code = "missing"
	CodeUnavailable    Code = "unavailable"
)

// Error is a classified store outcome that a caller branches on: the data
// or the call is the reason (an unknown id, a second redemption, an input
// over its limit), never the database failing. Every error a Store method
// returns for such a case wraps one of the Err* sentinels below, with
// context, so callers use errors.Is (or errors.As for the code).
type Error struct {
	Code Code
	msg  string
}

func (e *Error) Error() string { return "store: " + e.msg }

// ProblemCode returns "store.<code>", the namespaced wire code.
func (e *Error) ProblemCode() string { return "store." + string(e.Code) }

// Sentinel errors (each an *Error).
var (
	// ErrNotFound reports an unknown receipt or execution token id.
	ErrNotFound = &Error{CodeNotFound, "not found"}
	// ErrDuplicate reports an insert of an id (receipt or token) that is already stored.
	ErrDuplicate = &Error{CodeDuplicate, "duplicate id"}
	// ErrTokenConsumed reports a consumption of an execution token that was already consumed.
	ErrTokenConsumed = &Error{CodeTokenConsumed, "execution token already consumed"}
	// ErrContextReused reports a second use of a certificate request context.
	ErrContextReused = &Error{CodeContextReused, "request context already used"}
	// ErrInvalidInput reports an argument rejected before the database is touched
	// (size limits, missing times); *LimitError wraps it.
	ErrInvalidInput = &Error{CodeInvalidInput, "invalid input"}
	// ErrClosed reports an insert on a closed Store, or one still queued for a group
	// commit when Close was called (it was not stored).
	ErrClosed = &Error{CodeClosed, "closed"}
	// ErrSchemaTooNew reports a database migrated by a newer seatrx; the store refuses
	// to open it rather than risk misreading it.
	ErrSchemaTooNew = &Error{CodeSchemaTooNew, "database schema is newer than this binary"}
	// ErrNotPending reports a decision on, or a completion of, an
	// authorization that is no longer pending (completed, denied or
	// expired), or a completion whose approval count moved meanwhile.
	ErrNotPending = &Error{CodeNotPending, "authorization not pending"}
	// ErrNotEligible reports a decision by an approver the authorization
	// does not list.
	ErrNotEligible = &Error{CodeNotEligible, "approver not eligible for this authorization"}
	// ErrDiskFull names a write that failed because the store's file system
	// is full (see IsDiskFull); a server answers it 507 store.disk_full.
	ErrDiskFull = &Error{CodeDiskFull, "disk full"}
	// ErrCorrupt reports a database that fails SQLite's quick_check (or is
	// not a database at all) at open: the store refuses to start on it.
	ErrCorrupt = &Error{CodeCorrupt, "database is damaged"}
	// ErrMissing reports a store file that existed once (its marker is
	// there, see OpenSQLite) but is gone: the store refuses to recreate it
	// empty.
	ErrMissing = &Error{CodeMissing, "database file is missing"}
	// ErrUnavailable matches (errors.Is) a *BackendError whose cause is
	// transient: the database cannot be reached, dropped the connection,
	// is shutting down or out of connections, a query ran past its timeout,
	// or (SQLite) the write lock was not obtained within busy_timeout.
	// Nothing was stored by the failed call unless a COMMIT was
	// interrupted; retrying later is the remedy, so a server answers 503.
	ErrUnavailable = &Error{CodeUnavailable, "database unavailable"}
	// ErrSchemaMismatch reports a database whose applied migrations disagree with the
	// embedded ones (a missing version or an edited migration file).
	ErrSchemaMismatch = &Error{CodeSchemaMismatch, "database schema does not match embedded migrations"}
)

// LimitError reports an input whose length is outside its allowed range. It
// wraps ErrInvalidInput and names the offending field.
type LimitError struct {
	Field    string // argument or struct field, e.g. "Receipt.COSE"
	Len      int    // length seen
	Min, Max int    // allowed range, inclusive
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("store: invalid input: %s length %d outside [%d, %d]", e.Field, e.Len, e.Min, e.Max)
}

// Unwrap makes errors.Is(err, ErrInvalidInput) true for a *LimitError.
func (e *LimitError) Unwrap() error { return ErrInvalidInput }

// BackendError is a failure of the database itself: I/O, a lock not
// obtained in time, corruption, a cancelled context, a closed pool. It is
// never the caller's fault, so it has no wire code: a server reports it as
// an internal error and logs it. Err is the driver's error (for SQLite a
// *sqlite.Error with its result code), wrapped once, here.
type BackendError struct {
	Op  string // what the store was doing, e.g. "consume token 0a1b"
	Err error
}

func (e *BackendError) Error() string { return "store: " + e.Op + ": " + e.Err.Error() }

func (e *BackendError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true for a transient failure.
func (e *BackendError) Is(target error) bool {
	return target == ErrUnavailable && isUnavailable(e.Err)
}

// backend wraps a database error once, at the boundary; an error that is
// already classified passes through.
func backend(op string, err error) error {
	var se *Error
	var be *BackendError
	var le *LimitError
	if errors.As(err, &se) || errors.As(err, &be) || errors.As(err, &le) {
		return err
	}
	return &BackendError{Op: op, Err: err}
}

// isBusy reports a SQLITE_BUSY or SQLITE_LOCKED failure (the primary result
// code of the driver's *sqlite.Error; extended codes keep it in the low byte).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// IsDiskFull reports whether err is the store running out of space: SQLite's
// SQLITE_FULL, an ENOSPC anywhere in the chain, or an SQLite I/O error
// (SQLITE_IOERR and its extended codes, e.g. 4874 when the shared-memory
// file cannot grow) while the store's file system has less than
// DiskFullBelow bytes available, since SQLite reports a failed write
// without its errno. It is a method so that it can look at the store's own
// file system; a nil Store checks the codes only.
func (s *Store) IsDiskFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrDiskFull) {
		return true
	}
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
		return pe.Code == pgDiskFull
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return true
	case sqlite3.SQLITE_IOERR:
		if s == nil || s.dir == "" {
			return false
		}
		free, ferr := FreeBytes(s.dir)
		return ferr == nil && free < DiskFullBelow
	}
	return false
}

// isCorrupt reports SQLITE_CORRUPT or SQLITE_NOTADB: a damaged file, or
// one that is not an SQLite database.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// pgDiskFull is PostgreSQL's SQLSTATE disk_full: IsDiskFull, not unavailable.
const pgDiskFull = "53100"

// isUnavailable reports a transient database failure (see ErrUnavailable),
// from the error's type and SQLSTATE, never from its text. A cancelled
// context is the caller's doing and is not one; a deadline is (the store's
// own query timeout, or a caller's bound on a slow database).
func isUnavailable(err error) bool {
	if isBusy(err) {
		return true
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, pgconn.ErrConnClosed), pgconn.SafeToRetry(err), pgconn.Timeout(err):
		return true
	case errors.As(err, &pe):
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53") && pe.Code != pgDiskFull, // too many connections, out of memory
			strings.HasPrefix(pe.Code, "57P"),                         // admin/crash shutdown, cannot connect now
			pe.Code == "57014",                                        // query_canceled: statement_timeout
			pe.Code == "55P03",                                        // lock_not_available: lock_timeout
			pe.Code == "40001", pe.Code == "40P01":                    // serialization failure, deadlock: retry
			return true
		}
	}
	return false
}
