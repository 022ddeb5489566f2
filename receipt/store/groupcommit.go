package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// maxBatch bounds how many inserts one group commit carries, so one
// transaction (and the callers waiting on it) stays short.
const maxBatch = 64

// GroupCommitStats counts the work of the group committer since Open: with
// concurrent issuance Commits grows more slowly than Items, because one COMMIT
// (one fsync) covers several inserts.
type GroupCommitStats struct {
	Commits uint64 // transactions run (each ends in one COMMIT, or a ROLLBACK when it failed)
	Items   uint64 // writes handled (UseContext, PutReceipt, PutToken, PutReceiptWithToken, PutAttestedReceipt), each counted once
	Retries uint64 // batches that failed as a whole and were retried item by item
}

// putReq is one caller's write waiting for, or carried by, a group commit:
// a used context u, a receipt r and a token t, each optional, written in
// that order and all or nothing. A token without its receipt checks that
// the receipt is stored; a non-nil a also stores the authorization that the
// receipt completed at once (PutCompletedAuthorization).
type putReq struct {
	ctx  context.Context
	what string // operation name for error messages, e.g. "put receipt"
	u    *UsedContext
	r    *Receipt
	t    *Token
	a    *Authorization
	wake chan struct{} // capacity 1; signalled on every state change

	// Guarded by committer.mu.
	state reqState
	err   error
}

type reqState int

const (
	reqQueued  reqState = iota // in committer.pending, waiting
	reqLead                    // in committer.pending, designated to run the next batch
	reqBatched                 // taken into a batch that is running
	reqDone                    // err holds the outcome
)

// committer gathers concurrent inserts into shared transactions with the
// leader/follower pattern: the first caller to find no batch running commits
// at once (a lone caller never waits); callers arriving meanwhile queue, and
// when the running batch ends the oldest of them leads the next batch,
// carrying up to maxBatch queued inserts. At most one batch runs per Store.
type committer struct {
	mu        sync.Mutex
	idle      sync.Cond // broadcast when running becomes false
	pending   []*putReq
	running   bool // a leader exists (designated or executing)
	executing bool // a batch is between being taken and its results being delivered
	closed    bool

	commits, items, retries atomic.Uint64
}

func newCommitter() *committer {
	c := &committer{}
	c.idle.L = &c.mu
	return c
}

func (r *putReq) signal() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake-up is already pending; the waiter re-reads the state
	}
}

// groupPut durably inserts req through the committer and returns its own
// outcome once the COMMIT that carries it has succeeded (or its error).
func (s *Store) groupPut(req *putReq) error {
	if err := req.ctx.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", req.what, err)
	}
	req.wake = make(chan struct{}, 1)
	c := s.gc
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fmt.Errorf("store: %s: %w", req.what, ErrClosed)
	}
	c.pending = append(c.pending, req)
	if !c.running {
		c.running = true
		req.state = reqLead
	}
	for {
		switch req.state {
		case reqDone:
			c.mu.Unlock()
			return req.err
		case reqLead:
			c.mu.Unlock()
			s.lead(req)
			c.mu.Lock()
			continue
		}
		c.mu.Unlock()
		select {
		case <-req.wake:
		case <-req.ctx.Done():
			c.mu.Lock()
			if req.state == reqQueued || req.state == reqLead {
				c.abandonLocked(req)
				c.mu.Unlock()
				return req.err
			}
			if req.state == reqDone {
				continue // outcome already there; loop reads it under the lock
			}
			// reqBatched: the rows are in a running transaction; wait for it.
			c.mu.Unlock()
			<-req.wake
		}
		c.mu.Lock()
	}
}

// abandonLocked removes a caller whose context ended before its batch started;
// a designated leader passes the leadership on.
func (c *committer) abandonLocked(req *putReq) {
	c.pending = slices.DeleteFunc(c.pending, func(p *putReq) bool { return p == req })
	wasLead := req.state == reqLead
	req.state, req.err = reqDone, fmt.Errorf("store: %s: %w", req.what, req.ctx.Err())
	if wasLead {
		c.handoffLocked()
	}
}

// handoffLocked designates the oldest queued caller as the next leader, or
// records that no leader exists.
func (c *committer) handoffLocked() {
	if len(c.pending) == 0 {
		c.running = false
		c.idle.Broadcast()
		return
	}
	next := c.pending[0]
	next.state = reqLead
	next.signal()
}

// lead runs one batch as the designated leader self, which is pending[0].
func (s *Store) lead(self *putReq) {
	c := s.gc
	c.mu.Lock()
	if self.state != reqLead { // Close failed it meanwhile
		c.mu.Unlock()
		return
	}
	if self.ctx.Err() != nil {
		c.abandonLocked(self)
		c.mu.Unlock()
		return
	}
	batch := make([]*putReq, 0, min(len(c.pending), maxBatch))
	rest := c.pending[:0]
	for _, p := range c.pending {
		switch {
		case len(batch) == maxBatch:
			rest = append(rest, p)
		case p.ctx.Err() != nil:
			p.state, p.err = reqDone, fmt.Errorf("store: %s: %w", p.what, p.ctx.Err())
			p.signal()
		default:
			p.state = reqBatched
			batch = append(batch, p)
		}
	}
	clear(c.pending[len(rest):])
	c.pending = rest
	c.executing = true
	c.mu.Unlock()

	errs := s.runBatch(batch)

	c.mu.Lock()
	for i, p := range batch {
		p.state, p.err = reqDone, errs[i]
		if p != self {
			p.signal()
		}
	}
	c.executing = false
	c.handoffLocked()
	c.mu.Unlock()
}

// runBatch commits batch in one transaction and returns each item's outcome.
// If the transaction fails as a whole (begin, savepoint or commit error), each
// item is retried alone, so one bad item cannot fail the others.
func (s *Store) runBatch(batch []*putReq) []error {
	errs := make([]error, len(batch))
	c := s.gc
	if len(batch) == 1 {
		errs[0] = s.inTx(context.Background(), batch[0].what, func(ctx context.Context, tx *sql.Tx) error {
			return s.putItemTx(ctx, tx, s.prepareInserts(ctx, tx), batch[0])
		})
		c.commits.Add(1)
		c.items.Add(1)
		return errs
	}
	err := s.inTx(context.Background(), fmt.Sprintf("group commit of %d", len(batch)), func(ctx context.Context, tx *sql.Tx) error {
		st := s.prepareInserts(ctx, tx)
		for i, p := range batch {
			e, fatal := s.putItemSavepoint(ctx, tx, st, p)
			if fatal != nil {
				return fatal
			}
			errs[i] = e
		}
		return nil
	})
	c.commits.Add(1)
	if err == nil {
		c.items.Add(uint64(len(batch)))
		return errs
	}
	c.retries.Add(1)
	for i, p := range batch {
		errs[i] = s.inTx(context.Background(), p.what, func(ctx context.Context, tx *sql.Tx) error {
			return s.putItemTx(ctx, tx, s.prepareInserts(ctx, tx), p)
		})
		c.commits.Add(1)
		c.items.Add(1)
	}
	return errs
}

// putItemSavepoint runs one item of a multi-item batch inside a savepoint, so
// that its failure (a duplicate token after its receipt was inserted, or any
// statement error, which PostgreSQL would otherwise let abort the whole
// transaction) undoes only its own rows. item is the item's outcome; fatal is
// a failure of the savepoint machinery, which dooms the transaction.
func (s *Store) putItemSavepoint(ctx context.Context, tx *sql.Tx, st *insertStmts, p *putReq) (item, fatal error) {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT seatrx_put"); err != nil {
		return nil, backend("savepoint", err)
	}
	item = s.putItemTx(ctx, tx, st, p)
	if item != nil {
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT seatrx_put"); err != nil {
			return nil, backend("rollback to savepoint", err)
		}
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT seatrx_put"); err != nil {
		return nil, backend("release savepoint", err)
	}
	return item, nil
}

// insertStmts holds the insert statements, prepared once per Store (and by
// database/sql once per pooled connection): parsing them for every
// transaction was a fifth of the insert CPU.
type insertStmts struct {
	used, receipt, token *sql.Stmt
}

// prepare prepares the used-context, receipt and token inserts on db.
func (st *insertStmts) prepare(db *sql.DB, d dialect) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
		what  string
	}{{&st.used, insertUsedContext, "used context"}, {&st.receipt, insertReceipt, "receipt"}, {&st.token, insertToken, "token"}} {
		var err error
		if *p.dst, err = db.Prepare(d.rebind(p.query)); err != nil {
			return backend("prepare "+p.what+" insert", err)
		}
	}
	return nil
}

func (st *insertStmts) close() {
	for _, s := range []*sql.Stmt{st.used, st.receipt, st.token} {
		if s != nil {
			s.Close()
		}
	}
}

// prepareInserts binds the Store's insert statements to tx; they are
// released with the transaction.
func (s *Store) prepareInserts(ctx context.Context, tx *sql.Tx) *insertStmts {
	return &insertStmts{used: tx.StmtContext(ctx, s.ins.used), receipt: tx.StmtContext(ctx, s.ins.receipt), token: tx.StmtContext(ctx, s.ins.token)}
}

// putItemTx performs one item's statements (prepared ones when st is not
// nil): the used context (a reused one stops here), the receipt insert (a
// duplicate stops here, so its token is never inserted), the receipt lookup
// for a token stored on its own, the token insert, and the completed
// authorization.
func (s *Store) putItemTx(ctx context.Context, tx *sql.Tx, st *insertStmts, p *putReq) (err error) {
	if p.u != nil {
		if err := s.useContextTx(ctx, tx, st, p.u); err != nil {
			return err
		}
	}
	if p.r != nil {
		if st == nil {
			if err := s.putReceiptTx(ctx, tx, p.r); err != nil {
				return err
			}
		} else if err := putReceiptStmt(ctx, st.receipt, p.r); err != nil {
			return err
		}
	}
	if p.t == nil {
		return nil
	}
	if p.r == nil {
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM receipts WHERE id = ?`), p.t.ReceiptID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: put token %x: receipt %x: %w", p.t.ID, p.t.ReceiptID, ErrNotFound)
		}
		if err != nil {
			return backend(fmt.Sprintf("put token %x: look up receipt", p.t.ID), err)
		}
	}
	if st == nil {
		err = s.putTokenTx(ctx, tx, p.t)
	} else {
		err = putTokenStmt(ctx, st.token, p.t)
	}
	if err != nil || p.a == nil {
		return err
	}
	return s.insertAuthorization(ctx, tx, p.a, AuthzCompleted, p.a.CreatedAt)
}

// GroupCommitStats reports how many transactions the group committer ran
// and how many inserts they carried (see GroupCommitStats).
func (s *Store) GroupCommitStats() GroupCommitStats {
	return GroupCommitStats{Commits: s.gc.commits.Load(), Items: s.gc.items.Load(), Retries: s.gc.retries.Load()}
}

// close stops the committer: queued callers (not yet in a running batch) get
// ErrClosed, later calls get ErrClosed, and close returns once the running
// batch, if any, has delivered its outcomes.
func (c *committer) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, p := range c.pending {
		p.state, p.err = reqDone, fmt.Errorf("store: %s: %w", p.what, ErrClosed)
		p.signal()
	}
	clear(c.pending)
	c.pending = nil
	if !c.executing {
		c.running = false
	}
	for c.running {
		c.idle.Wait()
	}
}
