package store

import (
	"fmt"
	"time"
)

// Input limits, checked before any database access so that untrusted sizes
// never reach an allocation or a query.
const (
	// MaxIDLen bounds receipt, token and replay-cache ids (seatrx uses 16 bytes).
	MaxIDLen = 64
	// MaxBlobLen bounds a stored receipt (its bundle): 1 MiB.
	MaxBlobLen = 1 << 20
	// DigestLen is the length of an execution-token digest (SHA-256 of the secret).
	DigestLen = 32
	// MaxKeyBindingLen bounds a token's key binding (a hash of the peer key, possibly
	// prefixed by its algorithm).
	MaxKeyBindingLen = 128
	// MaxSubjectLen bounds a receipt subject.
	MaxSubjectLen = 1024
	// MaxNameLen bounds audiences, redeemer names and connection ids.
	MaxNameLen = 256
	// MaxContextLen bounds a certificate_request_context (opaque <0..2^8-1> in RFC 9261).
	MaxContextLen = 255
)

// checkLen returns a *LimitError unless min <= n <= max.
func checkLen(field string, n, min, max int) error {
	if n < min || n > max {
		return &LimitError{Field: field, Len: n, Min: min, Max: max}
	}
	return nil
}

// checkTime rejects the zero time, which would silently become year 1 in seconds.
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%w: %s is the zero time", ErrInvalidInput, field)
	}
	return nil
}

func (r *Receipt) validate() error {
	if err := checkLen("Receipt.ID", len(r.ID), 1, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen("Receipt.Bundle", len(r.Bundle), 1, MaxBlobLen); err != nil {
		return err
	}
	if err := checkLen("Receipt.Subject", len(r.Subject), 0, MaxSubjectLen); err != nil {
		return err
	}
	if err := checkLen("Receipt.Owner", len(r.Owner), 0, MaxKeyBindingLen); err != nil {
		return err
	}
	return checkTime("Receipt.IssuedAt", r.IssuedAt)
}

func (t *Token) validate() error {
	if err := checkLen("Token.ID", len(t.ID), 1, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen("Token.ReceiptID", len(t.ReceiptID), 1, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen("Token.Digest", len(t.Digest), DigestLen, DigestLen); err != nil {
		return err
	}
	if err := checkLen("Token.Audience", len(t.Audience), 1, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("Token.KeyBinding", len(t.KeyBinding), 0, MaxKeyBindingLen); err != nil {
		return err
	}
	if err := checkTime("Token.NotBefore", t.NotBefore); err != nil {
		return err
	}
	if err := checkTime("Token.Expires", t.Expires); err != nil {
		return err
	}
	if t.Expires.Unix() <= t.NotBefore.Unix() {
		return fmt.Errorf("%w: Token.Expires %d not after Token.NotBefore %d (Unix seconds)",
			ErrInvalidInput, t.Expires.Unix(), t.NotBefore.Unix())
	}
	return nil
}

// nonNil maps nil to an empty slice: the SQLite driver binds a nil []byte as
// NULL, and the binary columns are NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// fromUnix converts stored integer seconds back to a UTC time.
func fromUnix(s int64) time.Time { return time.Unix(s, 0).UTC() }
