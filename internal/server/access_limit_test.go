package server

import (
	"testing"
	"time"
)

// The overload log lets max lines through per second, counts the rest,
// and the first line of a later second says how many were left out.
func TestLogLimiter(t *testing.T) {
	l := &logLimiter{max: 2}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Time
		ok         bool
		suppressed int
	}{
		{t0, true, 0},
		{t0.Add(100 * time.Millisecond), true, 0},
		{t0.Add(200 * time.Millisecond), false, 0},
		{t0.Add(900 * time.Millisecond), false, 0},
		{t0.Add(time.Second), true, 2},
		{t0.Add(1100 * time.Millisecond), true, 0},
		{t0.Add(1200 * time.Millisecond), false, 0},
		{t0.Add(5 * time.Second), true, 1},
	}
	for i, s := range steps {
		ok, n := l.allow(s.at)
		if ok != s.ok || n != s.suppressed {
			t.Fatalf("step %d: allow = %v, %d; want %v, %d", i, ok, n, s.ok, s.suppressed)
		}
	}
}
