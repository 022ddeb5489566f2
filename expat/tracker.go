package expat

import "sync"

// Tracker enforces RFC 9261's context rules on one connection: every
// certificate_request_context is unique across both directions, an
// authenticator is accepted at most once per request, and we answer each peer
// request at most once. It is safe for concurrent use.
type Tracker struct {
	mu    sync.Mutex
	state map[string]ctxState
}

type ctxState uint8

const (
	ctxOutstanding ctxState = iota + 1 // our request, awaiting an authenticator
	ctxConsumed                        // our request, authenticator accepted or refused
	ctxAnswered                        // the peer's request, answered by us
	ctxSpontaneous                     // context of our spontaneous authenticator
)

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker { return &Tracker{state: make(map[string]ctxState)} }

// Issue records the context of a request we are about to send. It fails if
// the context was ever seen on this connection.
func (t *Tracker) Issue(ctx []byte) error { return t.add(ctx, ctxOutstanding, "our request") }

// Spontaneous records the context of a spontaneous authenticator we send.
func (t *Tracker) Spontaneous(ctx []byte) error {
	return t.add(ctx, ctxSpontaneous, "spontaneous authenticator")
}

// Answer records that we answer a peer's request with context ctx. It fails if
// the context was seen before, in either direction.
func (t *Tracker) Answer(ctx []byte) error { return t.add(ctx, ctxAnswered, "peer request") }

func (t *Tracker) add(ctx []byte, st ctxState, what string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.state[string(ctx)]; seen {
		return ErrContextReused.with("%s context %x already used on this connection", what, ctx)
	}
	t.state[string(ctx)] = st
	return nil
}

// Consume marks our outstanding request with context ctx as answered. Call it
// before validating, so that a second authenticator for the same request is
// refused even if the first one failed (fail closed): a request gets exactly
// one attempt.
func (t *Tracker) Consume(ctx []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state[string(ctx)] {
	case ctxOutstanding:
		t.state[string(ctx)] = ctxConsumed
		return nil
	case ctxConsumed:
		return ErrContextReused.with("request context %x was already answered", ctx)
	case 0:
		return ErrContextUnknown.with("context %x", ctx)
	default:
		return ErrContextUnknown.with("context %x belongs to a request we did not make", ctx)
	}
}

// Outstanding reports whether ctx is one of our requests still awaiting an answer.
func (t *Tracker) Outstanding(ctx []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state[string(ctx)] == ctxOutstanding
}
