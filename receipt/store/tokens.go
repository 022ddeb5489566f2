package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Redemption records the single consumption of an execution token.
type Redemption struct {
	TokenID, ReceiptID []byte
	RedeemedAt         time.Time // whole seconds
	By                 string    // redeemer (e.g. the peer's connection or identity)
}

// RedeemToken consumes the execution token id exactly once. It checks, in
// order: the digest of the presented secret in constant time
// (ErrTokenMismatch; a wrong secret never consumes the token and learns
// nothing about its state), prior consumption (ErrTokenConsumed), the audience
// (ErrTokenAudience) and the validity window at now (ErrTokenNotYetValid,
// ErrTokenExpired). An unknown id is ErrNotFound. The consumption is a single
// conditional UPDATE, so of any number of concurrent callers (in this process
// or another one on the same database) exactly one succeeds and the others get
// ErrTokenConsumed; it is committed before RedeemToken returns.
func (s *Store) RedeemToken(ctx context.Context, id, digest []byte, audience, by string, now time.Time) (*Redemption, error) {
	if err := checkRedeemInput(id, digest, audience, by, now); err != nil {
		return nil, fmt.Errorf("store: redeem token: %w", err)
	}
	var (
		receiptID, stored []byte
		aud               string
		nbf, exp          int64
		redeemedAt        sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx,
		s.q(`SELECT receipt_id, digest, audience, not_before, expires, redeemed_at FROM execution_tokens WHERE id = ?`), id).
		Scan(&receiptID, &stored, &aud, &nbf, &exp, &redeemedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: redeem token %x: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: redeem token %x: %w", id, err)
	}
	// The digest, audience and window are immutable once stored; only
	// redeemed_at changes, and the UPDATE below re-checks it atomically.
	if subtle.ConstantTimeCompare(stored, digest) != 1 {
		return nil, fmt.Errorf("store: redeem token %x: %w", id, ErrTokenMismatch)
	}
	if redeemedAt.Valid {
		return nil, fmt.Errorf("store: redeem token %x: redeemed at %d: %w", id, redeemedAt.Int64, ErrTokenConsumed)
	}
	if aud != audience {
		return nil, fmt.Errorf("store: redeem token %x: audience %q, token is for %q: %w", id, audience, aud, ErrTokenAudience)
	}
	t := now.Unix()
	if t < nbf {
		return nil, fmt.Errorf("store: redeem token %x: now %d before not-before %d: %w", id, t, nbf, ErrTokenNotYetValid)
	}
	if t >= exp {
		return nil, fmt.Errorf("store: redeem token %x: now %d at or after expiry %d: %w", id, t, exp, ErrTokenExpired)
	}
	res, err := s.db.ExecContext(ctx,
		s.q(`UPDATE execution_tokens SET redeemed_at = ?, redeemed_by = ? WHERE id = ? AND redeemed_at IS NULL`),
		t, by, id)
	if err != nil {
		return nil, fmt.Errorf("store: redeem token %x: consume: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("store: redeem token %x: consume: rows affected: %w", id, err)
	}
	if n != 1 {
		return nil, fmt.Errorf("store: redeem token %x: lost the race: %w", id, ErrTokenConsumed)
	}
	return &Redemption{
		TokenID:    append([]byte(nil), id...),
		ReceiptID:  receiptID,
		RedeemedAt: fromUnix(t),
		By:         by,
	}, nil
}

// checkRedeemInput applies the size limits to a redemption request. A digest
// of the wrong length is ErrTokenMismatch, exactly like a wrong digest.
func checkRedeemInput(id, digest []byte, audience, by string, now time.Time) error {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return err
	}
	if len(digest) != DigestLen {
		return fmt.Errorf("digest length %d: %w", len(digest), ErrTokenMismatch)
	}
	if err := checkLen("audience", len(audience), 1, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("by", len(by), 0, MaxNameLen); err != nil {
		return err
	}
	return checkTime("now", now)
}
