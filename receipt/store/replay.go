package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UsedContext is the record of one accepted attestation: the
// certificate_request_context it answered, on which connection, and when.
// A context is used once, ever (until Prune drops it after the context
// retention).
type UsedContext struct {
	CRC    []byte    // 1..MaxContextLen bytes
	ConnID string    // 0..MaxNameLen bytes
	At     time.Time // stored in whole seconds
}

func (u *UsedContext) validate() error {
	if err := checkLen("UsedContext.CRC", len(u.CRC), 1, MaxContextLen); err != nil {
		return err
	}
	if err := checkLen("UsedContext.ConnID", len(u.ConnID), 0, MaxNameLen); err != nil {
		return err
	}
	return checkTime("UsedContext.At", u.At)
}

const insertUsedContext = `INSERT INTO used_contexts (crc, conn_id, used_at) VALUES (?, ?, ?) ON CONFLICT (crc) DO NOTHING`

// UseContext records the single use of a certificate_request_context crc on
// connection connID. A second use of the same crc (on any connection, until
// Prune drops it after the context retention) is ErrContextReused. It is
// committed before it returns, through the group committer: concurrent
// attestations and receipts share one COMMIT (see PutReceiptWithToken for
// the context and Close rules).
func (s *Store) UseContext(ctx context.Context, crc []byte, connID string, now time.Time) error {
	if err := checkLen("crc", len(crc), 1, MaxContextLen); err != nil {
		return fmt.Errorf("store: use context: %w", err)
	}
	if err := checkLen("connID", len(connID), 0, MaxNameLen); err != nil {
		return fmt.Errorf("store: use context: %w", err)
	}
	if err := checkTime("now", now); err != nil {
		return fmt.Errorf("store: use context: %w", err)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "use context", u: &UsedContext{CRC: crc, ConnID: connID, At: now}})
}

func (s *Store) useContextTx(ctx context.Context, tx *sql.Tx, st *insertStmts, u *UsedContext) error {
	var res sql.Result
	var err error
	if st != nil {
		res, err = st.used.ExecContext(ctx, u.CRC, u.ConnID, u.At.Unix())
	} else {
		res, err = tx.ExecContext(ctx, s.q(insertUsedContext), u.CRC, u.ConnID, u.At.Unix())
	}
	if err != nil {
		return backend(fmt.Sprintf("use context %x", u.CRC), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return backend(fmt.Sprintf("use context %x: rows affected", u.CRC), err)
	}
	if n == 0 {
		return fmt.Errorf("store: use context %x on %q: %w", u.CRC, u.ConnID, ErrContextReused)
	}
	return nil
}

// SeenReceipt is the replay cache of online verification. It reports whether
// receipt id was already seen and is still remembered at now; if not, it
// remembers id until `until` (exclusive) and reports false. Check and insert
// are one atomic statement, so of concurrent callers exactly one sees false.
// until must be after now.
func (s *Store) SeenReceipt(ctx context.Context, id []byte, until time.Time, now time.Time) (bool, error) {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return false, fmt.Errorf("store: seen receipt: %w", err)
	}
	if err := checkTime("now", now); err != nil {
		return false, fmt.Errorf("store: seen receipt: %w", err)
	}
	if err := checkTime("until", until); err != nil {
		return false, fmt.Errorf("store: seen receipt: %w", err)
	}
	if until.Unix() <= now.Unix() {
		return false, fmt.Errorf("store: seen receipt %x: %w: until %d not after now %d (Unix seconds)",
			id, ErrInvalidInput, until.Unix(), now.Unix())
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Insert, or take over an expired entry; a live entry is left alone and
	// the statement changes no row.
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO receipt_replay (id, expires_at) VALUES (?, ?)
ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at
WHERE receipt_replay.expires_at <= ?`), id, until.Unix(), now.Unix())
	if err != nil {
		return false, backend(fmt.Sprintf("seen receipt %x", id), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, backend(fmt.Sprintf("seen receipt %x: rows affected", id), err)
	}
	return n == 0, nil
}

// Prune deletes replay-cache entries expired at now and used contexts older
// than the context retention, and marks pending authorizations past their
// expiry as expired. Receipts and their tokens (redeemed or not) are kept
// for the receipt retention (Options.ReceiptRetention; forever by default),
// authorizations forever: they are the audit record.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	if err := checkTime("now", now); err != nil {
		return fmt.Errorf("store: prune: %w", err)
	}
	return s.inTx(ctx, "prune", func(ctx context.Context, tx *sql.Tx) error {
		if s.receiptRetention > 0 {
			// Tokens first (they reference their receipt), and only
			// those expired before the cutoff: a redeemable token stays,
			// and with it its receipt.
			old := now.Add(-s.receiptRetention).Unix()
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM execution_tokens WHERE expires <= ?
AND receipt_id IN (SELECT id FROM receipts WHERE issued_at <= ?)`), old, old); err != nil {
				return backend("prune execution tokens", err)
			}
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM receipts WHERE issued_at <= ?
AND NOT EXISTS (SELECT 1 FROM execution_tokens t WHERE t.receipt_id = receipts.id)`), old); err != nil {
				return backend("prune receipts", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM receipt_replay WHERE expires_at <= ?`), now.Unix()); err != nil {
			return backend("prune replay cache", err)
		}
		cutoff := now.Add(-s.contextRetention).Unix()
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM used_contexts WHERE used_at <= ?`), cutoff); err != nil {
			return backend("prune used contexts", err)
		}
		// Expired authorizations are kept (the audit record) but marked so.
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE authorizations SET state = 'expired', decided_at = expires_at
WHERE state = 'pending' AND expires_at <= ?`), now.Unix()); err != nil {
			return backend("mark expired authorizations", err)
		}
		return nil
	})
}
