package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

// batchGate holds the database's write lock (an open BEGIN IMMEDIATE on
// another connection) until open is called, so that the first group commit
// waits in BEGIN and tests can queue callers behind it deterministically;
// its recorder reports the size of every committed batch.
type batchGate struct {
	*txRecorder
	base int // batches committed before the gate, not reported
	hold *sql.Tx
	once sync.Once
}

// gateFirstBatch takes the write lock of s (opened by openTemp or
// openRecorded); it must run before any Put it is meant to hold.
func gateFirstBatch(t *testing.T, s *Store) *batchGate {
	t.Helper()
	rec, ok := recorders.Load(s)
	if !ok {
		t.Fatal("gateFirstBatch: store not opened through a recorder")
	}
	hold, err := s.db.BeginTx(context.Background(), nil) // BEGIN IMMEDIATE
	if err != nil {
		t.Fatal(err)
	}
	r := rec.(*txRecorder)
	g := &batchGate{txRecorder: r, base: len(r.batchSizes()), hold: hold}
	t.Cleanup(g.open)
	return g
}

func (g *batchGate) open() { g.once.Do(func() { _ = g.hold.Rollback() }) }

// batchSizes returns the sizes of the batches committed since the gate.
func (g *batchGate) batchSizes() []int { return g.txRecorder.batchSizes()[g.base:] }

// waitFor polls cond under the committer lock until it holds (a hang is
// caught by the test binary's timeout).
func waitFor(s *Store, cond func(c *committer) bool) {
	for {
		s.gc.mu.Lock()
		ok := cond(s.gc)
		s.gc.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func waitQueued(s *Store, n int) {
	waitFor(s, func(c *committer) bool { return len(c.pending) >= n })
}

// waitBatchStarted returns once the gated first batch is executing.
func waitBatchStarted(s *Store) {
	waitFor(s, func(c *committer) bool { return c.executing })
}

// put is one PutReceiptWithToken to run concurrently.
type put struct {
	rid, tid string
	ctx      context.Context
}

// runPuts starts every put in its own goroutine after the first has been
// taken into the gated batch, queues the others behind it one by one (so the
// queue order is the slice order), opens the gate and returns each put's
// error.
func runPuts(t *testing.T, s *Store, g *batchGate, puts []put) []error {
	t.Helper()
	errs := make([]error, len(puts))
	var wg sync.WaitGroup
	start := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := puts[i].ctx
			if ctx == nil {
				ctx = context.Background()
			}
			errs[i] = s.PutReceiptWithToken(ctx, sampleReceipt(puts[i].rid), sampleToken(puts[i].tid, puts[i].rid))
		}()
	}
	start(0)
	waitBatchStarted(s)
	for i := 1; i < len(puts); i++ {
		start(i)
		waitQueued(s, i)
	}
	g.open()
	wg.Wait()
	return errs
}

// TestGroupCommitManyConcurrentDurable runs 200 inserts from 32 goroutines,
// checks every one is committed and survives close and reopen, and that they
// shared commits.
func TestGroupCommitManyConcurrentDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gc.db")
	s, _ := openRecorded(t, path)
	// Hold the first commit until all 31 other goroutines have queued, so
	// batching is certain rather than likely.
	g := gateFirstBatch(t, s)
	const total, workers = 200, 32
	next := make(chan int, total)
	for i := 0; i < total; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make([]error, total)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rid, tid := fmt.Sprintf("r%03d", i), fmt.Sprintf("t%03d", i)
				errs[i] = s.PutReceiptWithToken(context.Background(), sampleReceipt(rid), sampleToken(tid, rid))
			}
		}()
	}
	waitQueued(s, workers-1)
	g.open()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	}
	st := s.GroupCommitStats()
	if st.Items != total || st.Commits >= total || st.Retries != 0 {
		t.Errorf("stats = %+v; want Items %d, Commits < %d, no retries", st, total, total)
	}
	sum := 0
	for _, n := range g.batchSizes() {
		if n < 1 || n > maxBatch {
			t.Errorf("batch of %d inserts, want 1..%d", n, maxBatch)
		}
		sum += n
	}
	if sum != total || uint64(len(g.batchSizes())) != st.Commits {
		t.Errorf("batches %v carry %d inserts in %d commits; want %d in %d", g.batchSizes(), sum, len(g.batchSizes()), total, st.Commits)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r, k := countRows(t, s2, "receipts"), countRows(t, s2, "execution_tokens"); r != total || k != total {
		t.Fatalf("after reopen: %d receipts, %d tokens; want %d each", r, k, total)
	}
	for i := 0; i < total; i += 37 {
		tid := fmt.Sprintf("t%03d", i)
		red, err := s2.ConsumeToken(context.Background(), []byte(tid), "p", t0)
		if err != nil {
			t.Fatalf("redeem %s after reopen: %v", tid, err)
		}
		if want := fmt.Sprintf("r%03d", i); string(red.ReceiptID) != want {
			t.Errorf("token %s belongs to %q, want %q", tid, red.ReceiptID, want)
		}
	}
}

// TestGroupCommitBatchSizes queues 100 inserts behind a held commit: they
// must go out as batches of 64 and 36, in order.
func TestGroupCommitBatchSizes(t *testing.T) {
	s, _ := openTemp(t)
	g := gateFirstBatch(t, s)
	puts := make([]put, 101)
	for i := range puts {
		puts[i] = put{rid: fmt.Sprintf("r%d", i), tid: fmt.Sprintf("t%d", i)}
	}
	for i, err := range runPuts(t, s, g, puts) {
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	}
	if got, want := g.batchSizes(), []int{1, maxBatch, 100 - maxBatch}; !reflect.DeepEqual(got, want) {
		t.Errorf("batch sizes = %v, want %v", got, want)
	}
	if st := s.GroupCommitStats(); st != (GroupCommitStats{Commits: 3, Items: 101}) {
		t.Errorf("stats = %+v, want 3 commits of 101 items", st)
	}
}

// TestGroupCommitDuplicates puts one batch that mixes fresh inserts with
// duplicate receipt ids, duplicate token ids and a receipt id repeated inside
// the batch: exactly the duplicates fail with ErrDuplicate, none of their rows
// are stored, and the others succeed.
func TestGroupCommitDuplicates(t *testing.T) {
	s, _ := openTemp(t)
	putIssued(t, s, "old-r", "old-t")
	g := gateFirstBatch(t, s)
	puts := []put{
		{rid: "lead-r", tid: "lead-t"},
		{rid: "a-r", tid: "a-t"},
		{rid: "old-r", tid: "dupr-t"}, // receipt exists: its token must not be stored
		{rid: "b-r", tid: "old-t"},    // token exists: its receipt must be rolled back
		{rid: "c-r", tid: "c-t"},
		{rid: "a-r", tid: "a2-t"}, // same receipt id as an earlier item of this batch
		{rid: "d-r", tid: "d-t"},
	}
	errs := runPuts(t, s, g, puts)
	dup := map[int]bool{2: true, 3: true, 5: true}
	for i, err := range errs {
		if dup[i] {
			wantErr(t, err, ErrDuplicate)
		} else if err != nil {
			t.Errorf("put %d (%s): %v", i, puts[i].rid, err)
		}
	}
	if got := g.batchSizes(); !reflect.DeepEqual(got, []int{1, 6}) {
		t.Fatalf("batch sizes = %v, want [1 6] (the duplicates shared a batch)", got)
	}
	ctx := context.Background()
	for _, rid := range []string{"old-r", "lead-r", "a-r", "c-r", "d-r"} {
		if _, err := s.GetReceipt(ctx, []byte(rid)); err != nil {
			t.Errorf("receipt %s: %v", rid, err)
		}
	}
	_, err := s.GetReceipt(ctx, []byte("b-r"))
	wantErr(t, err, ErrNotFound)
	for _, tid := range []string{"dupr-t", "a2-t"} {
		_, err := s.ConsumeToken(ctx, []byte(tid), "p", t0)
		wantErr(t, err, ErrNotFound)
	}
	if r, k := countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); r != 5 || k != 5 {
		t.Errorf("%d receipts, %d tokens; want 5 each", r, k)
	}
}

// TestGroupCommitFailingItemIsolated batches a token for a missing receipt
// (ErrNotFound) and a receipt-only insert with PutReceiptWithToken calls: the
// failing item must not fail or undo the others.
func TestGroupCommitFailingItemIsolated(t *testing.T) {
	s, _ := openTemp(t)
	g := gateFirstBatch(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	var errLead, errMissing, errReceipt, errOK error
	wg.Add(1)
	go func() {
		defer wg.Done()
		errLead = s.PutReceiptWithToken(ctx, sampleReceipt("r0"), sampleToken("t0", "r0"))
	}()
	waitBatchStarted(s)
	wg.Add(3)
	go func() { defer wg.Done(); errMissing = s.PutToken(ctx, sampleToken("orphan", "no-such-receipt")) }()
	waitQueued(s, 1)
	go func() { defer wg.Done(); errReceipt = s.PutReceipt(ctx, sampleReceipt("r1")) }()
	waitQueued(s, 2)
	go func() {
		defer wg.Done()
		errOK = s.PutReceiptWithToken(ctx, sampleReceipt("r2"), sampleToken("t2", "r2"))
	}()
	waitQueued(s, 3)
	g.open()
	wg.Wait()
	wantErr(t, errLead, nil)
	wantErr(t, errMissing, ErrNotFound)
	wantErr(t, errReceipt, nil)
	wantErr(t, errOK, nil)
	if got := g.batchSizes(); !reflect.DeepEqual(got, []int{1, 3}) {
		t.Fatalf("batch sizes = %v, want [1 3]", got)
	}
	if r, k := countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); r != 3 || k != 2 {
		t.Errorf("%d receipts, %d tokens; want 3 and 2", r, k)
	}
}

// TestGroupCommitWholeBatchFailureRetriesAlone fails the batch transaction as
// a whole (as a commit error would) and checks that each item is retried in
// its own transaction with its own outcome.
func TestGroupCommitWholeBatchFailureRetriesAlone(t *testing.T) {
	s, _ := openTemp(t)
	putIssued(t, s, "old-r", "old-t")
	g := gateFirstBatch(t, s)
	g.failNextBatchCommit()
	errs := runPuts(t, s, g, []put{
		{rid: "lead-r", tid: "lead-t"},
		{rid: "a-r", tid: "a-t"},
		{rid: "old-r", tid: "x-t"},
		{rid: "b-r", tid: "b-t"},
	})
	wantErr(t, errs[0], nil)
	wantErr(t, errs[1], nil)
	wantErr(t, errs[2], ErrDuplicate)
	wantErr(t, errs[3], nil)
	for _, err := range errs {
		if errors.Is(err, errInjectedCommit) {
			t.Errorf("batch failure leaked to a caller: %v", err)
		}
	}
	if n := g.faults.Load(); n != 1 {
		t.Errorf("injected %d commit failures, want 1", n)
	}
	// 1 (old) + 1 (lone lead) + 1 failed batch of 3 + 3 retries.
	if st := s.GroupCommitStats(); st.Retries != 1 || st.Commits != 6 {
		t.Errorf("stats = %+v, want 1 retry and 6 transactions", st)
	}
	if r, k := countRows(t, s, "receipts"), countRows(t, s, "execution_tokens"); r != 4 || k != 4 {
		t.Errorf("%d receipts, %d tokens; want 4 each", r, k)
	}
}

// TestGroupCommitLoneCallCommitsAtOnce checks that a lone insert is its own
// batch and is committed before it returns: a second handle on the same file
// reads it immediately.
func TestGroupCommitLoneCallCommitsAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lone.db")
	a, rec := openRecorded(t, path)
	defer a.Close()
	b, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		rid := fmt.Sprintf("lone-%d", i)
		putIssued(t, a, rid, "tok-"+rid)
		if _, err := b.GetReceipt(ctx, []byte(rid)); err != nil {
			t.Fatalf("second handle right after PutReceiptWithToken: %v", err)
		}
	}
	if sizes := rec.batchSizes(); !reflect.DeepEqual(sizes, []int{1, 1, 1}) {
		t.Errorf("batch sizes = %v, want [1 1 1]", sizes)
	}
	if st := a.GroupCommitStats(); st != (GroupCommitStats{Commits: 3, Items: 3}) {
		t.Errorf("stats = %+v, want 3 commits of 3 items", st)
	}
}

// TestGroupCommitCloseWithPending closes the store while one batch runs and
// others are queued: the running batch commits, the queued callers get
// ErrClosed and are not stored, Close returns, later calls get ErrClosed.
func TestGroupCommitCloseWithPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "close.db")
	s, _ := openRecorded(t, path)
	g := gateFirstBatch(t, s)
	ctx := context.Background()
	const queued = 5
	var errLead error
	lead := make(chan struct{})
	go func() {
		defer close(lead)
		errLead = s.PutReceiptWithToken(ctx, sampleReceipt("r0"), sampleToken("t0", "r0"))
	}()
	waitBatchStarted(s)
	queuedErrs := make(chan error, queued)
	for i := 1; i <= queued; i++ {
		go func() {
			rid := fmt.Sprintf("r%d", i)
			queuedErrs <- s.PutReceiptWithToken(ctx, sampleReceipt(rid), sampleToken("t"+rid, rid))
		}()
	}
	waitQueued(s, queued)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// The queued callers return while the batch in flight is still held.
	for i := 0; i < queued; i++ {
		wantErr(t, <-queuedErrs, ErrClosed)
	}
	g.open()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-lead
	wantErr(t, errLead, nil)
	wantErr(t, s.PutReceipt(ctx, sampleReceipt("late")), ErrClosed)
	wantErr(t, s.Close(), nil)

	s2, err := OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r := countRows(t, s2, "receipts"); r != 1 {
		t.Errorf("%d receipts after close, want 1 (only the batch in flight)", r)
	}
}

// TestGroupCommitContextCancelledWhileQueued cancels a queued caller while
// the batch ahead of it is held: it returns context.Canceled before that
// batch ends and is not stored; the caller behind it still commits.
func TestGroupCommitContextCancelledWhileQueued(t *testing.T) {
	s, _ := openTemp(t)
	g := gateFirstBatch(t, s)
	bg := context.Background()
	cctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	var errLead, errAfter error
	wg.Add(1)
	go func() {
		defer wg.Done()
		errLead = s.PutReceiptWithToken(bg, sampleReceipt("r0"), sampleToken("t0", "r0"))
	}()
	waitBatchStarted(s)
	cancelled := make(chan error, 1)
	go func() { cancelled <- s.PutReceiptWithToken(cctx, sampleReceipt("gone"), sampleToken("gone-t", "gone")) }()
	waitQueued(s, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		errAfter = s.PutReceiptWithToken(bg, sampleReceipt("r2"), sampleToken("t2", "r2"))
	}()
	waitQueued(s, 2)
	cancel()
	wantErr(t, <-cancelled, context.Canceled) // returns while the first batch is still held
	g.open()
	wg.Wait()
	wantErr(t, errLead, nil)
	wantErr(t, errAfter, nil)
	_, err := s.GetReceipt(bg, []byte("gone"))
	wantErr(t, err, ErrNotFound)
	if got := g.batchSizes(); !reflect.DeepEqual(got, []int{1, 1}) {
		t.Errorf("batch sizes = %v, want [1 1] (the cancelled caller withdrawn)", got)
	}
}

// TestGroupCommitContextCancelledInBatch cancels a caller whose rows are
// already in the running transaction: it waits and reports the commit.
func TestGroupCommitContextCancelledInBatch(t *testing.T) {
	s, _ := openTemp(t)
	g := gateFirstBatch(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.PutReceiptWithToken(ctx, sampleReceipt("r"), sampleToken("t", "r")) }()
	waitBatchStarted(s)
	cancel()
	g.open()
	wantErr(t, <-done, nil)
	if _, err := s.GetReceipt(context.Background(), []byte("r")); err != nil {
		t.Fatalf("receipt of a committed, then cancelled, caller: %v", err)
	}
}

// TestGroupCommitCancelledLeaderHandsOff drives the state machine directly:
// a designated leader that abandons passes leadership to the next queued
// caller, and the last one leaving clears it.
func TestGroupCommitCancelledLeaderHandsOff(t *testing.T) {
	c := newCommitter()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	mk := func(ctx context.Context) *putReq {
		return &putReq{ctx: ctx, what: "test", wake: make(chan struct{}, 1)}
	}
	lead, next := mk(ctx), mk(ctx)
	lead.state = reqLead
	c.pending, c.running = []*putReq{lead, next}, true
	c.mu.Lock()
	c.abandonLocked(lead)
	c.mu.Unlock()
	if lead.state != reqDone || !errors.Is(lead.err, context.Canceled) {
		t.Errorf("abandoned leader: state %d err %v", lead.state, lead.err)
	}
	if next.state != reqLead || len(c.pending) != 1 || !c.running {
		t.Fatalf("after hand-off: next state %d, %d pending, running %v", next.state, len(c.pending), c.running)
	}
	select {
	case <-next.wake:
	default:
		t.Error("new leader was not woken")
	}
	c.mu.Lock()
	c.abandonLocked(next)
	c.mu.Unlock()
	if c.running || len(c.pending) != 0 {
		t.Errorf("last caller left: running %v, %d pending", c.running, len(c.pending))
	}
}
