package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// States of a stored authorization. Pending is the only state that
// changes; the others are final. A pending authorization past its expiry is
// expired (StateAt), whether or not Prune has written that yet.
const (
	AuthzPending   = "pending"
	AuthzCompleted = "completed" // its receipt, with the same id, is stored
	AuthzDenied    = "denied"
	AuthzExpired   = "expired"
)

// Decisions an approver records.
const (
	DecisionApprove = "approve"
	DecisionDeny    = "deny"
)

// MaxAuthzApprovers bounds the approvers of one authorization (a receipt
// carries at most 16 approvals).
const MaxAuthzApprovers = 16

// Authorization is a pending authorization as stored. The store judges
// nothing about what is authorized (Record is the server's, opaque); it
// keeps who may decide, the counts of approvals and denials, and the state,
// and every change of them is one conditional statement, so that the
// outcome is the same with one server or several on one database.
type Authorization struct {
	ID        []byte    // the id of the receipt to be, 1..MaxIDLen bytes
	CreatedAt time.Time // whole seconds
	ExpiresAt time.Time // first second at which it is expired; after CreatedAt
	Requester string    // the server's binding of who may fetch the receipt, 0..MaxNameLen
	Record    []byte    // the server's description, 1..MaxBlobLen bytes
	Approvers []string  // who may decide: distinct ids, 0..MaxAuthzApprovers, each 1..MaxNameLen
	Threshold int       // approvals that complete it, 1..len(Approvers) (0 without approvers)
	DenyLimit int       // denials that end it, 1..len(Approvers) (0 without approvers)

	// Set by the store when read.
	State     string
	Approvals int
	Denials   int
	DecidedAt time.Time // zero while pending
}

// StateAt is the authorization's state at now: a pending one whose expiry
// has passed is expired.
func (a *Authorization) StateAt(now time.Time) string {
	if a.State == AuthzPending && now.Unix() >= a.ExpiresAt.Unix() {
		return AuthzExpired
	}
	return a.State
}

// Decision is one approver's recorded decision.
type Decision struct {
	Approver string
	Decision string    // DecisionApprove or DecisionDeny
	COSE     []byte    // the signed statement, 1..MaxBlobLen bytes
	At       time.Time // whole seconds
}

const authzColumns = `id, created_at, expires_at, requester, record, threshold, deny_limit, approvals, denials, state, decided_at`

func (a *Authorization) validate(withApprovers bool) error {
	if err := checkLen("Authorization.ID", len(a.ID), 1, MaxIDLen); err != nil {
		return err
	}
	if err := checkLen("Authorization.Requester", len(a.Requester), 0, MaxNameLen); err != nil {
		return err
	}
	if err := checkLen("Authorization.Record", len(a.Record), 1, MaxBlobLen); err != nil {
		return err
	}
	if err := checkTime("Authorization.CreatedAt", a.CreatedAt); err != nil {
		return err
	}
	if err := checkTime("Authorization.ExpiresAt", a.ExpiresAt); err != nil {
		return err
	}
	if a.ExpiresAt.Unix() <= a.CreatedAt.Unix() {
		return fmt.Errorf("%w: Authorization.ExpiresAt %d not after CreatedAt %d", ErrInvalidInput, a.ExpiresAt.Unix(), a.CreatedAt.Unix())
	}
	n := len(a.Approvers)
	if !withApprovers && n > 0 {
		return fmt.Errorf("%w: a completed authorization has no approvers to record", ErrInvalidInput)
	}
	if err := checkLen("Authorization.Approvers", n, 0, MaxAuthzApprovers); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, id := range a.Approvers {
		if err := checkLen("Authorization.Approvers[]", len(id), 1, MaxNameLen); err != nil {
			return err
		}
		if seen[id] {
			return fmt.Errorf("%w: approver %q listed twice", ErrInvalidInput, id)
		}
		seen[id] = true
	}
	lo := min(n, 1)
	if a.Threshold < lo || a.Threshold > n || a.DenyLimit < lo || a.DenyLimit > n {
		return fmt.Errorf("%w: threshold %d and deny limit %d must lie in [%d, %d]", ErrInvalidInput, a.Threshold, a.DenyLimit, lo, n)
	}
	return nil
}

// PutAuthorization durably stores a new pending authorization and its
// approvers, in one transaction. A duplicate id is ErrDuplicate.
func (s *Store) PutAuthorization(ctx context.Context, a Authorization) error {
	if err := a.validate(true); err != nil {
		return fmt.Errorf("store: put authorization: %w", err)
	}
	if len(a.Approvers) == 0 {
		return fmt.Errorf("store: put authorization: %w: a pending authorization needs approvers (one that needs none is stored completed, with its receipt)", ErrInvalidInput)
	}
	op := fmt.Sprintf("put authorization %x", a.ID)
	return s.inTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.insertAuthorization(ctx, tx, &a, AuthzPending, time.Time{}); err != nil {
			return err
		}
		for i, id := range a.Approvers {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO authorization_approvers (authorization_id, approver, position) VALUES (?, ?, ?)`), a.ID, id, i); err != nil {
				return backend(op+": approver", err)
			}
		}
		return nil
	})
}

func (s *Store) insertAuthorization(ctx context.Context, tx *sql.Tx, a *Authorization, state string, decided time.Time) error {
	var dec any
	if !decided.IsZero() {
		dec = decided.Unix()
	}
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO authorizations (`+authzColumns+`)
VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?) ON CONFLICT (id) DO NOTHING`),
		a.ID, a.CreatedAt.Unix(), a.ExpiresAt.Unix(), a.Requester, a.Record, a.Threshold, a.DenyLimit, state, dec)
	if err != nil {
		return backend(fmt.Sprintf("put authorization %x", a.ID), err)
	}
	return insertedOne(res, "authorization", a.ID)
}

// GetAuthorization returns the stored authorization with id (its approvers
// in the order they were given) and the decisions recorded on it (in the
// order they were made, ties in the approvers' order), or ErrNotFound.
func (s *Store) GetAuthorization(ctx context.Context, id []byte) (*Authorization, []Decision, error) {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return nil, nil, fmt.Errorf("store: get authorization: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	op := fmt.Sprintf("get authorization %x", id)
	a, err := scanAuthorization(s.db.QueryRowContext(ctx, s.q(`SELECT `+authzColumns+` FROM authorizations WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("store: %s: %w", op, ErrNotFound)
	}
	if err != nil {
		return nil, nil, backend(op, err)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT approver, decision, cose, decided_at FROM authorization_approvers
WHERE authorization_id = ? ORDER BY position`), id)
	if err != nil {
		return nil, nil, backend(op+": approvers", err)
	}
	defer rows.Close()
	var decisions []Decision
	for rows.Next() {
		var (
			approver string
			decision sql.NullString
			cose     []byte
			at       sql.NullInt64
		)
		if err := rows.Scan(&approver, &decision, &cose, &at); err != nil {
			return nil, nil, backend(op+": approvers", err)
		}
		a.Approvers = append(a.Approvers, approver)
		if decision.Valid {
			decisions = append(decisions, Decision{Approver: approver, Decision: decision.String, COSE: cose, At: fromUnix(at.Int64)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, backend(op+": approvers", err)
	}
	slices.SortStableFunc(decisions, func(x, y Decision) int { return x.At.Compare(y.At) })
	return a, decisions, nil
}

type scanner interface{ Scan(...any) error }

func scanAuthorization(row scanner) (*Authorization, error) {
	var (
		a                Authorization
		created, expires int64
		decided          sql.NullInt64
	)
	if err := row.Scan(&a.ID, &created, &expires, &a.Requester, &a.Record, &a.Threshold, &a.DenyLimit, &a.Approvals, &a.Denials, &a.State, &decided); err != nil {
		return nil, err
	}
	a.CreatedAt, a.ExpiresAt = fromUnix(created), fromUnix(expires)
	if decided.Valid {
		a.DecidedAt = fromUnix(decided.Int64)
	}
	return &a, nil
}

// Decide records approver's decision on authorization id at now and
// returns the authorization as it then stands. It is one transaction of two
// conditional statements: the approver's row is written only if the
// approver may decide and has not (ErrNotEligible, ErrDuplicate), and the
// counts move only while the authorization is pending and unexpired
// (ErrNotPending; nothing is recorded then). A deny that reaches the deny
// limit ends it (denied) in the same statement. Reaching the threshold does
// not complete it: the caller issues the receipt and calls Complete.
func (s *Store) Decide(ctx context.Context, id []byte, d Decision, now time.Time) (*Authorization, error) {
	if err := checkLen("id", len(id), 1, MaxIDLen); err != nil {
		return nil, fmt.Errorf("store: decide: %w", err)
	}
	if err := checkLen("Decision.Approver", len(d.Approver), 1, MaxNameLen); err != nil {
		return nil, fmt.Errorf("store: decide: %w", err)
	}
	if err := checkLen("Decision.COSE", len(d.COSE), 1, MaxBlobLen); err != nil {
		return nil, fmt.Errorf("store: decide: %w", err)
	}
	if d.Decision != DecisionApprove && d.Decision != DecisionDeny {
		return nil, fmt.Errorf("store: decide: %w: decision %q", ErrInvalidInput, d.Decision)
	}
	if err := checkTime("now", now); err != nil {
		return nil, fmt.Errorf("store: decide: %w", err)
	}
	op := fmt.Sprintf("decide %x by %q", id, d.Approver)
	approve, deny := 0, 0
	if d.Decision == DecisionApprove {
		approve = 1
	} else {
		deny = 1
	}
	t := now.Unix()
	var out *Authorization
	err := s.inTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE authorization_approvers SET decision = ?, cose = ?, decided_at = ?
WHERE authorization_id = ? AND approver = ? AND decision IS NULL`), d.Decision, d.COSE, t, id, d.Approver)
		if err != nil {
			return backend(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return backend(op, err)
		} else if n == 0 {
			var decided sql.NullString
			err := tx.QueryRowContext(ctx, s.q(`SELECT decision FROM authorization_approvers WHERE authorization_id = ? AND approver = ?`), id, d.Approver).Scan(&decided)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("store: %s: %w", op, ErrNotEligible)
			case err != nil:
				return backend(op, err)
			}
			return fmt.Errorf("store: %s: already decided %q: %w", op, decided.String, ErrDuplicate)
		}
		out, err = scanAuthorization(tx.QueryRowContext(ctx, s.q(`UPDATE authorizations
SET approvals = approvals + ?, denials = denials + ?,
    state = CASE WHEN denials + ? >= deny_limit THEN 'denied' ELSE state END,
    decided_at = CASE WHEN denials + ? >= deny_limit THEN ? ELSE decided_at END
WHERE id = ? AND state = 'pending' AND expires_at > ?
RETURNING `+authzColumns), approve, deny, deny, deny, t, id, t))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: %s: %w", op, ErrNotPending)
		}
		if err != nil {
			return backend(op, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Complete issues authorization id: in one transaction it moves the
// authorization from pending to completed, only if it is unexpired at now,
// has exactly approvals approvals (the ones the receipt carries, so that no
// accepted approval is left out of it) and that is at least its threshold,
// and stores its receipt r (whose id must be id) with token t. Of any
// number of concurrent callers, here or on another server sharing the
// database, at most one succeeds; the others get ErrNotPending and store
// nothing. A caller that lost because the count moved reads the
// authorization again and retries with the approvals it now has.
func (s *Store) Complete(ctx context.Context, id []byte, approvals int, r Receipt, t Token, now time.Time) error {
	if len(t.ReceiptID) == 0 {
		t.ReceiptID = r.ID
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: complete: %w", err)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("store: complete: %w", err)
	}
	if string(r.ID) != string(id) || string(t.ReceiptID) != string(id) {
		return fmt.Errorf("store: complete: %w: the receipt and token must carry the authorization's id %x", ErrInvalidInput, id)
	}
	if err := checkTime("now", now); err != nil {
		return fmt.Errorf("store: complete: %w", err)
	}
	op := fmt.Sprintf("complete authorization %x", id)
	return s.inTx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE authorizations SET state = 'completed', decided_at = ?
WHERE id = ? AND state = 'pending' AND expires_at > ? AND approvals = ? AND approvals >= threshold`), now.Unix(), id, now.Unix(), approvals)
		if err != nil {
			return backend(op, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return backend(op, err)
		} else if n == 0 {
			return fmt.Errorf("store: %s: %w", op, ErrNotPending)
		}
		if err := s.putReceiptTx(ctx, tx, &r); err != nil {
			return err
		}
		return s.putTokenTx(ctx, tx, &t)
	})
}

// PutCompletedAuthorization stores an authorization that needed no
// approver, with its receipt and token, atomically (the receipt's id must
// be a.ID): the fast path, one group commit like PutReceiptWithToken.
func (s *Store) PutCompletedAuthorization(ctx context.Context, a Authorization, r Receipt, t Token) error {
	if len(t.ReceiptID) == 0 {
		t.ReceiptID = r.ID
	}
	if err := a.validate(false); err != nil {
		return fmt.Errorf("store: put completed authorization: %w", err)
	}
	if err := r.validate(); err != nil {
		return fmt.Errorf("store: put completed authorization: %w", err)
	}
	if err := t.validate(); err != nil {
		return fmt.Errorf("store: put completed authorization: %w", err)
	}
	if string(r.ID) != string(a.ID) || string(t.ReceiptID) != string(a.ID) {
		return fmt.Errorf("store: put completed authorization: %w: the receipt and token must carry the authorization's id %x", ErrInvalidInput, a.ID)
	}
	return s.groupPut(&putReq{ctx: ctx, what: "put completed authorization", r: &r, t: &t, a: &a})
}

// ListPending returns the authorizations pending at now on which approver
// may decide and has not, oldest first, at most limit (1..MaxList).
func (s *Store) ListPending(ctx context.Context, approver string, now time.Time, limit int) ([]Authorization, error) {
	if err := checkLen("approver", len(approver), 1, MaxNameLen); err != nil {
		return nil, fmt.Errorf("store: list pending: %w", err)
	}
	if limit < 1 || limit > MaxList {
		return nil, fmt.Errorf("store: list pending: %w: limit %d outside [1, %d]", ErrInvalidInput, limit, MaxList)
	}
	if err := checkTime("now", now); err != nil {
		return nil, fmt.Errorf("store: list pending: %w", err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	op := fmt.Sprintf("list pending for %q", approver)
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT a.id, a.created_at, a.expires_at, a.requester, a.record, a.threshold, a.deny_limit,
    a.approvals, a.denials, a.state, a.decided_at
FROM authorizations a JOIN authorization_approvers p ON p.authorization_id = a.id
WHERE p.approver = ? AND p.decision IS NULL AND a.state = 'pending' AND a.expires_at > ?
ORDER BY a.created_at, a.id LIMIT ?`), approver, now.Unix(), limit)
	if err != nil {
		return nil, backend(op, err)
	}
	defer rows.Close()
	var out []Authorization
	for rows.Next() {
		a, err := scanAuthorization(rows)
		if err != nil {
			return nil, backend(op, err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, backend(op, err)
	}
	return out, nil
}

// MaxList bounds one ListPending answer.
const MaxList = 100
