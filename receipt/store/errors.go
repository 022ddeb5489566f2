package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by a Store method wraps at most one of
// these, with context, so callers branch with errors.Is.
var (
	// ErrNotFound reports an unknown receipt or execution token id.
	ErrNotFound = errors.New("store: not found")
	// ErrDuplicate reports an insert of an id (receipt or token) that is already stored.
	ErrDuplicate = errors.New("store: duplicate id")
	// ErrTokenConsumed reports a redemption of an execution token that was already redeemed.
	ErrTokenConsumed = errors.New("store: execution token already consumed")
	// ErrTokenMismatch reports a redemption whose secret digest does not match; the token
	// is left unconsumed.
	ErrTokenMismatch = errors.New("store: execution token digest mismatch")
	// ErrTokenExpired reports a redemption at or after the token's expiry.
	ErrTokenExpired = errors.New("store: execution token expired")
	// ErrTokenNotYetValid reports a redemption before the token's not-before time.
	ErrTokenNotYetValid = errors.New("store: execution token not yet valid")
	// ErrTokenAudience reports a redemption by an audience the token was not issued for.
	ErrTokenAudience = errors.New("store: execution token audience mismatch")
	// ErrContextReused reports a second use of a certificate request context.
	ErrContextReused = errors.New("store: request context already used")
	// ErrInvalidInput reports an argument rejected before the database is touched
	// (size limits, missing times); *LimitError matches it too.
	ErrInvalidInput = errors.New("store: invalid input")
	// ErrClosed reports an insert on a closed Store, or one still queued for a group
	// commit when Close was called (it was not stored).
	ErrClosed = errors.New("store: closed")
	// ErrSchemaTooNew reports a database migrated by a newer seatrx; the store refuses
	// to open it rather than risk misreading it.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrSchemaMismatch reports a database whose applied migrations disagree with the
	// embedded ones (a missing version or an edited migration file).
	ErrSchemaMismatch = errors.New("store: database schema does not match embedded migrations")
)

// LimitError reports an input whose length is outside its allowed range. It
// matches ErrInvalidInput under errors.Is and names the offending field.
type LimitError struct {
	Field    string // argument or struct field, e.g. "Receipt.COSE"
	Len      int    // length seen
	Min, Max int    // allowed range, inclusive
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("store: invalid input: %s length %d outside [%d, %d]", e.Field, e.Len, e.Min, e.Max)
}

// Is makes errors.Is(err, ErrInvalidInput) true for a *LimitError.
func (e *LimitError) Is(target error) bool { return target == ErrInvalidInput }
