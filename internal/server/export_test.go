package server

import "context"

// PruneNow runs one tick of the prune schedule (tests call it instead of
// waiting for the ticker).
func (s *Server) PruneNow(ctx context.Context) error { return s.prune(ctx) }
