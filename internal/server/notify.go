package server

import "sync"

// notifier wakes the long-polls waiting on an authorization when this
// server changes it. Changes made by another server on the same database
// are seen by the long-poll's periodic re-read instead.
type notifier struct {
	mu      sync.Mutex
	waiters map[string]*waiters
}

type waiters struct {
	ch chan struct{} // closed on the next change
	n  int           // long-polls holding ch
}

// wait returns a channel closed at the next notify(id), and done, which the
// caller must call when it stops waiting.
func (n *notifier) wait(id string) (<-chan struct{}, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.waiters == nil {
		n.waiters = map[string]*waiters{}
	}
	w := n.waiters[id]
	if w == nil {
		w = &waiters{ch: make(chan struct{})}
		n.waiters[id] = w
	}
	w.n++
	return w.ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if w.n--; w.n == 0 && n.waiters[id] == w {
			delete(n.waiters, id)
		}
	}
}

// notify wakes every long-poll waiting on id.
func (n *notifier) notify(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w := n.waiters[id]; w != nil {
		close(w.ch)
		delete(n.waiters, id)
	}
}
