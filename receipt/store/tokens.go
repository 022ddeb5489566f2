package store

import (
	"context"
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

// ConsumeToken records the single redemption of execution token id, at now,
// by by. It is the store's whole part in redemption: single use. Whether the
// token may be redeemed at all (secret, audience, validity window, key
// binding) is decided before, from the signed receipt, by
// receipt.CheckTokenSecret; the store does not judge it again.
//
// The consumption is one conditional UPDATE, so of any number of concurrent
// callers (in this process or another one on the same database) exactly one
// succeeds and the others get ErrTokenConsumed; it is committed before
// ConsumeToken returns. An unknown id is ErrNotFound; a database failure is a
// *BackendError.
func (s *Store) ConsumeToken(ctx context.Context, id []byte, by string, now time.Time) (*Redemption, error) {
	if err := checkConsumeInput(id, by, now); err != nil {
		return nil, fmt.Errorf("store: consume token: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	op := fmt.Sprintf("consume token %x", id)
	t := now.Unix()
	var receiptID []byte
	err := s.db.QueryRowContext(ctx,
		s.q(`UPDATE execution_tokens SET redeemed_at = ?, redeemed_by = ? WHERE id = ? AND redeemed_at IS NULL RETURNING receipt_id`),
		t, by, id).Scan(&receiptID)
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing changed: the token is unknown, or someone consumed it first.
		var redeemedAt sql.NullInt64
		err = s.db.QueryRowContext(ctx, s.q(`SELECT redeemed_at FROM execution_tokens WHERE id = ?`), id).Scan(&redeemedAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("store: %s: %w", op, ErrNotFound)
		case err != nil:
			return nil, backend(op+": look up", err)
		}
		return nil, fmt.Errorf("store: %s: redeemed at %d: %w", op, redeemedAt.Int64, ErrTokenConsumed)
	}
	if err != nil {
		return nil, backend(op, err)
	}
	return &Redemption{
		TokenID:    append([]byte(nil), id...),
		ReceiptID:  receiptID,
		RedeemedAt: fromUnix(t),
		By:         by,
	}, nil
}

// checkConsumeInput applies the size limits to a consumption request.
func checkConsumeInput(id []byte, by string, now time.Time) error {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen("by", len(by), 0, MaxNameLen); err != nil {
		return err
	}
	return checkTime("now", now)
}
