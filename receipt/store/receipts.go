package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Receipt is an issued receipt as stored, once: the bundle the issuer hands
// out (for seatrx, the signed COSE_Sign1 with the preimages it commits to),
// opaque to the store.
type Receipt struct {
	ID       []byte    // receipt id, 1..MaxIDLen bytes
	IssuedAt time.Time // stored in whole seconds
	Subject  string    // CWT sub of the receipt (the attested peer)
	Bundle   []byte    // the receipt as issued, 1..MaxBlobLen bytes
	// Owner is who may read the receipt back: the hash of the key of the
	// peer it was issued to, 0..MaxKeyBindingLen bytes (empty: no owner,
	// e.g. a row stored before migration 5). The store keeps it; the
	// server decides who matches.
	Owner []byte
}

// Token is an execution token as stored: the digest of the one-time secret
// (never the secret itself), its audience, validity window and key binding.
type Token struct {
	ID         []byte    // token id, 1..MaxIDLen bytes
	ReceiptID  []byte    // receipt the token belongs to; must be stored first
	Digest     []byte    // SHA-256 of the secret, DigestLen bytes
	Audience   string    // executor allowed to redeem, 1..MaxNameLen bytes
	NotBefore  time.Time // first valid second (inclusive)
	Expires    time.Time // first invalid second (exclusive); after NotBefore
	KeyBinding []byte    // hash of the peer key (cnf), 0..MaxKeyBindingLen bytes
}

const insertReceipt = `INSERT INTO receipts (id, issued_at, subject, bundle, owner) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

const insertToken = `INSERT INTO execution_tokens (id, receipt_id, digest, audience, not_before, expires, key_binding)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// PutReceipt durably stores r. It returns ErrDuplicate if a receipt with the
// same id exists, and returns only after the insert is committed. Concurrent
// inserts share one COMMIT (group commit, see PutReceiptWithToken for the
// context and Close rules).
func (s *Store) PutReceipt(ctx context.Context, r Receipt) error {
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: put receipt: %w", err)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "put receipt", r: &r})
}

// PutToken durably stores t for an already stored receipt (ErrNotFound
// otherwise); ErrDuplicate if the token id exists. Prefer PutReceiptWithToken.
// It goes through the group committer like PutReceiptWithToken.
func (s *Store) PutToken(ctx context.Context, t Token) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("store: put token: %w", err)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "put token", t: &t})
}

// PutReceiptWithToken stores a receipt and its execution token atomically:
// both or neither. An empty t.ReceiptID means r.ID; any other value must equal
// r.ID. A duplicate receipt id is ErrDuplicate and its token is not stored; a
// duplicate token id is ErrDuplicate and the receipt is not stored either.
//
// It returns only after the COMMIT that carries the rows succeeded. Concurrent
// calls are group-committed: while one transaction commits, newly arriving
// inserts queue, and the next transaction carries up to 64 of them (a lone
// call commits at once). Each caller gets its own outcome. If ctx ends while
// the call is still queued, it is withdrawn and returns ctx.Err() (wrapped);
// once its rows are in a running transaction, the call waits for that
// transaction's outcome regardless of ctx. Calls queued when Close runs get
// ErrClosed and are not stored.
func (s *Store) PutReceiptWithToken(ctx context.Context, r Receipt, t Token) error {
	if len(t.ReceiptID) == 0 {
		t.ReceiptID = r.ID
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: put receipt with token: %w", err)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("store: put receipt with token: %w", err)
	}
	if string(t.ReceiptID) != string(r.ID) {
		return fmt.Errorf("store: put receipt with token: %w: Token.ReceiptID %x differs from Receipt.ID %x",
			ErrInvalidInput, t.ReceiptID, r.ID)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "put receipt with token", r: &r, t: &t})
}

// PutAttestedReceipt records the attestation u (as UseContext does) and
// stores r with its token t (as PutReceiptWithToken does) in one item of one
// group commit: the receipt exists if and only if the attestation it was
// issued for is recorded, and both are durable, with one COMMIT, before it
// returns. A context already used is ErrContextReused and nothing is stored;
// a duplicate receipt or token id is ErrDuplicate and the attestation is not
// recorded either.
func (s *Store) PutAttestedReceipt(ctx context.Context, u UsedContext, r Receipt, t Token) error {
	if len(t.ReceiptID) == 0 {
		t.ReceiptID = r.ID
	}
	if err := u.validate(); err != nil {
		return fmt.Errorf("store: put attested receipt: %w", err)
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: put attested receipt: %w", err)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("store: put attested receipt: %w", err)
	}
	if string(t.ReceiptID) != string(r.ID) {
		return fmt.Errorf("store: put attested receipt: %w: Token.ReceiptID %x differs from Receipt.ID %x",
			ErrInvalidInput, t.ReceiptID, r.ID)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "put attested receipt", u: &u, r: &r, t: &t})
}

func (s *Store) putReceiptTx(ctx context.Context, tx *sql.Tx, r *Receipt) error {
	res, err := tx.ExecContext(ctx, s.q(insertReceipt), receiptArgs(r)...)
	return receiptInserted(res, err, r)
}

func (s *Store) putTokenTx(ctx context.Context, tx *sql.Tx, t *Token) error {
	res, err := tx.ExecContext(ctx, s.q(insertToken), tokenArgs(t)...)
	return tokenInserted(res, err, t)
}

// putReceiptStmt is putReceiptTx through insertReceipt prepared on the transaction.
func putReceiptStmt(ctx context.Context, st *sql.Stmt, r *Receipt) error {
	res, err := st.ExecContext(ctx, receiptArgs(r)...)
	return receiptInserted(res, err, r)
}

// putTokenStmt is putTokenTx through insertToken prepared on the transaction.
func putTokenStmt(ctx context.Context, st *sql.Stmt, t *Token) error {
	res, err := st.ExecContext(ctx, tokenArgs(t)...)
	return tokenInserted(res, err, t)
}

func receiptArgs(r *Receipt) []any {
	return []any{r.ID, r.IssuedAt.Unix(), r.Subject, r.Bundle, nonNil(r.Owner)}
}

func tokenArgs(t *Token) []any {
	return []any{t.ID, t.ReceiptID, t.Digest, t.Audience, t.NotBefore.Unix(), t.Expires.Unix(), nonNil(t.KeyBinding)}
}

func receiptInserted(res sql.Result, err error, r *Receipt) error {
	if err != nil {
		return backend(fmt.Sprintf("put receipt %x", r.ID), err)
	}
	return insertedOne(res, "receipt", r.ID)
}

func tokenInserted(res sql.Result, err error, t *Token) error {
	if err != nil {
		return backend(fmt.Sprintf("put token %x", t.ID), err)
	}
	return insertedOne(res, "token", t.ID)
}

// insertedOne maps an INSERT ... ON CONFLICT DO NOTHING that changed no row to
// ErrDuplicate.
func insertedOne(res sql.Result, kind string, id []byte) error {
	n, err := res.RowsAffected()
	if err != nil {
		return backend(fmt.Sprintf("put %s %x: rows affected", kind, id), err)
	}
	if n == 0 {
		return fmt.Errorf("store: put %s %x: %w", kind, id, ErrDuplicate)
	}
	return nil
}

// GetReceipt returns the stored receipt with the given id, or ErrNotFound.
func (s *Store) GetReceipt(ctx context.Context, id []byte) (*Receipt, error) {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return nil, fmt.Errorf("store: get receipt: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	r := Receipt{ID: append([]byte(nil), id...)}
	var issued int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT issued_at, subject, bundle, owner FROM receipts WHERE id = ?`), id).
		Scan(&issued, &r.Subject, &r.Bundle, &r.Owner)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get receipt %x: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, backend(fmt.Sprintf("get receipt %x", id), err)
	}
	r.IssuedAt = fromUnix(issued)
	return &r, nil
}

// EdgeReceipts returns the count of stored receipts and the first and last
// by issue time (nil, nil when the store holds none): what a server checks
// its keys against before it signs anything.
func (s *Store) EdgeReceipts(ctx context.Context) (n int64, first, last *Receipt, err error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM receipts`).Scan(&n); err != nil {
		return 0, nil, nil, backend("count receipts", err)
	}
	if n == 0 {
		return 0, nil, nil, nil
	}
	edge := func(order string) (*Receipt, error) {
		var r Receipt
		var issued int64
		err := s.db.QueryRowContext(ctx, `SELECT id, issued_at, subject, bundle FROM receipts ORDER BY issued_at `+order+`, id `+order+` LIMIT 1`).
			Scan(&r.ID, &issued, &r.Subject, &r.Bundle)
		if err != nil {
			return nil, backend("edge receipt", err)
		}
		r.IssuedAt = fromUnix(issued)
		return &r, nil
	}
	if first, err = edge("ASC"); err != nil {
		return 0, nil, nil, err
	}
	if last, err = edge("DESC"); err != nil {
		return 0, nil, nil, err
	}
	return n, first, last, nil
}
