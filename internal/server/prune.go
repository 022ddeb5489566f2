package server

import (
	"context"
	"time"
)

// pruneTimeout bounds one prune.
const pruneTimeout = time.Minute

// pruneEvery prunes the store every interval until stop is closed.
func (s *Server) pruneEvery(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.prune(context.Background())
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
