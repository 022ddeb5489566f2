package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seatrx/seatrx/receipt/store"
)

// Readiness (GET /readyz) checks, each bounded by readyTimeout:
//   - store: a write probe (store.Probe: insert and delete a row, committed);
//   - disk: at least Config.MinFree (default MinFreeBytes) available on the
//     store's file system;
//   - keys: every key role loads from the key directory, and keys are in force.
//
// One evaluation serves every request for readyCacheFor, so that /readyz
// (open to un-attested peers, like /healthz) cannot be used to make the
// server fsync in a loop.
const (
	// MinFreeBytes is the free space on the store's file system under which
	// the server is not ready (64 MiB: tens of thousands of receipts of
	// headroom, and far above store.DiskFullBelow, so an operator is told
	// before writes fail).
	MinFreeBytes  = 64 << 20
	readyTimeout  = 5 * time.Second
	readyCacheFor = time.Second
)

// readiness is the outcome of one evaluation of the checks.
type readiness struct {
	at     time.Time
	failed []string // "check: reason", in check order
	full   bool     // the store's disk is full (or under MinFreeBytes)
}

// readyState caches the newest evaluation.
type readyState struct {
	mu   sync.Mutex
	last *readiness
}

// Ready evaluates (or reuses, within readyCacheFor) the readiness checks.
func (s *Server) ready(ctx context.Context) *readiness {
	s.rdy.mu.Lock()
	defer s.rdy.mu.Unlock()
	if l := s.rdy.last; l != nil && time.Since(l.at) < readyCacheFor {
		return l
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	r := &readiness{at: time.Now()}
	if err := s.store.Probe(ctx); err != nil {
		r.failed = append(r.failed, "store: the write probe failed")
		r.full = r.full || s.store.IsDiskFull(err)
		s.log.Error("readiness: store write probe", "err", err)
	}
	if free, err := s.store.Free(); err != nil {
		r.failed = append(r.failed, "disk: free space unknown")
		s.log.Error("readiness: free space", "err", err)
	} else if want := s.minFree(); free < want {
		r.failed = append(r.failed, fmt.Sprintf("disk: %d bytes free on the store's file system, want at least %d", free, want))
		r.full = true
	}
	if s.keyState() == nil {
		r.failed = append(r.failed, "keys: no keys in force")
	}
	for _, role := range s.roles() {
		if _, err := s.keyDir.Load(role); err != nil {
			r.failed = append(r.failed, "keys: the "+role+" key does not load from the key directory")
			s.log.Error("readiness: keys", "role", role, "err", err)
		}
	}
	s.rdy.last = r
	return r
}

// handleReady is GET /readyz: 200 "ready" when every check passes, else a
// 503 problem whose detail lists the failed checks (their causes are
// logged): store.disk_full if the disk is why, server.not_ready otherwise.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	rd := s.ready(r.Context())
	if len(rd.failed) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte("ready\n"))
		return
	}
	w.Header().Set("Retry-After", "5")
	detail := "not ready: " + strings.Join(rd.failed, "; ")
	if rd.full {
		writeProblem(w, http.StatusServiceUnavailable, store.ErrDiskFull.ProblemCode(), "Storage full", detail, "")
		return
	}
	reject(w, &Error{Status: http.StatusServiceUnavailable, Code: CodeNotReady, Title: "Not ready", Detail: detail})
}

// minFree is the free space readiness wants on the store's file system.
func (s *Server) minFree() uint64 {
	if s.cfg.MinFree > 0 {
		return uint64(s.cfg.MinFree)
	}
	return MinFreeBytes
}
