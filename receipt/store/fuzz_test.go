package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzConsume throws arbitrary ids, redeemer names and times at
// ConsumeToken. Each iteration stores a fresh token; the input either
// targets it (useFresh) or uses the fuzzed id. Invariants: no panic; a
// success consumes exactly the fresh token, once; every failure is a
// classified *Error (never a database failure).
func FuzzConsume(f *testing.F) {
	s, _ := openTemp(f)
	ctx := context.Background()
	putIssued(f, s, "spent-r", "spent")
	if _, err := s.ConsumeToken(ctx, []byte("spent"), "seed", t0); err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("x"), "peer", int64(60), true)
	f.Add([]byte("x"), "", int64(-1), true)
	f.Add([]byte("spent"), "peer", int64(10), false)
	f.Add([]byte("unknown"), "peer", int64(10), false)
	f.Add([]byte{}, "", int64(0), false)
	f.Add(make([]byte, MaxIDLen+1), "p", int64(1)<<62, false)

	var n int
	f.Fuzz(func(t *testing.T, id []byte, by string, offset int64, useFresh bool) {
		n++
		fresh := []byte(fmt.Sprintf("fresh-%d", n))
		putIssued(t, s, fmt.Sprintf("r-%d", n), string(fresh))
		target := id
		if useFresh {
			target = fresh
		}
		now := t0.Add(time.Duration(offset%(1<<20)) * time.Second)

		red, err := s.ConsumeToken(ctx, target, by, now)
		consumed := tokenRedeemed(t, s, fresh)
		if err == nil {
			if !bytes.Equal(target, fresh) || !consumed || red == nil || !bytes.Equal(red.TokenID, fresh) || red.By != by {
				t.Fatalf("success without consistent consumption: target=%q consumed=%v red=%+v", target, consumed, red)
			}
			if _, err := s.ConsumeToken(ctx, target, by, now); !errors.Is(err, ErrTokenConsumed) {
				t.Fatalf("second consumption: %v", err)
			}
			return
		}
		if red != nil || consumed {
			t.Fatalf("failed consumption (%v) returned %+v or consumed the token", err, red)
		}
		var se *Error
		if !errors.As(err, &se) {
			t.Fatalf("unclassified error: %v", err)
		}
		if errors.Is(err, ErrTokenConsumed) && !bytes.Equal(target, []byte("spent")) {
			t.Fatalf("ErrTokenConsumed for a never-consumed token %q", target)
		}
	})
}
