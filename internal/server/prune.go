package server

import (
	"context"
	"time"
)

// pruneTimeout bounds one prune.
const pruneTimeout = time.Minute

// pruneEvery prunes the store every interval until stop is closed.
func (s *Server) pruneEvery(every time.Duration, stop <-chan struct{}) {
	runEvery(every, stop, func() { s.prune(context.Background()) })
}

// runEvery calls tick every interval until stop is closed: the server's
// background schedules (pruning, key reloads).
func runEvery(every time.Duration, stop <-chan struct{}, tick func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			tick()
		}
	}
}

// prune is one tick of the schedule: store.Prune at the server's clock,
// logged (a failure at ERROR; the next tick tries again).
func (s *Server) prune(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pruneTimeout)
	defer cancel()
	start := time.Now()
	if err := s.store.Prune(ctx, s.now()); err != nil {
		s.log.Error("prune the store", "err", err, "duration", time.Since(start))
		return err
	}
	s.log.Info("store pruned", "duration", time.Since(start))
	return nil
}
