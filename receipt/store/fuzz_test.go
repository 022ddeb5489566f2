package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// FuzzRedeem throws arbitrary ids, digests, audiences, redeemer names and
// times at RedeemToken. Each iteration stores a fresh token; the input either
// targets it (useFresh) or uses the fuzzed id. Invariants: no panic; a
// success implies the exact id, digest, audience and an in-window time; a
// wrong digest never consumes the token; every failure is a known sentinel.
func FuzzRedeem(f *testing.F) {
	s, _ := openTemp(f)
	ctx := context.Background()
	good := testDigest()
	putIssued(f, s, "spent-r", "spent")
	if _, err := s.RedeemToken(ctx, []byte("spent"), good, testAudience, "seed", t0); err != nil {
		f.Fatal(err)
	}

	f.Add([]byte("x"), good, testAudience, "peer", int64(60), true)
	f.Add([]byte("x"), good, testAudience, "peer", int64(-1), true)
	f.Add([]byte("x"), good, testAudience, "peer", int64(3600), true)
	f.Add([]byte("x"), good[:31], testAudience, "peer", int64(0), true)
	f.Add([]byte("x"), bytes.Repeat([]byte{0}, 32), testAudience, "", int64(0), true)
	f.Add([]byte("x"), good, "other", "peer", int64(0), true)
	f.Add([]byte("spent"), good, testAudience, "peer", int64(10), false)
	f.Add([]byte("unknown"), good, testAudience, "peer", int64(10), false)
	f.Add([]byte{}, []byte{}, "", "", int64(0), false)
	f.Add(make([]byte, MaxIDLen+1), good, testAudience, "p", int64(1)<<62, false)

	var n int
	f.Fuzz(func(t *testing.T, id, digest []byte, aud, by string, offset int64, useFresh bool) {
		n++
		fresh := []byte(fmt.Sprintf("fresh-%d", n))
		putIssued(t, s, fmt.Sprintf("r-%d", n), string(fresh))
		target := id
		if useFresh {
			target = fresh
		}
		// Keep now inside a sane range around the window without overflow.
		now := t0.Add(time.Duration(offset%(1<<20)) * time.Second)

		red, err := s.RedeemToken(ctx, target, digest, aud, by, now)
		consumed := tokenRedeemed(t, s, fresh)
		if err == nil {
			inWindow := !now.Before(t0) && now.Before(t0.Add(time.Hour))
			if !bytes.Equal(target, fresh) || !bytes.Equal(digest, good) || aud != testAudience || !inWindow {
				t.Fatalf("redeemed with id=%q digest=%x aud=%q now=%v", target, digest, aud, now)
			}
			if !consumed || red == nil || !bytes.Equal(red.TokenID, fresh) || red.By != by {
				t.Fatalf("success without consistent consumption: consumed=%v red=%+v", consumed, red)
			}
			return
		}
		if red != nil {
			t.Fatalf("Redemption %+v returned with error %v", red, err)
		}
		if consumed {
			t.Fatalf("failed redemption (%v) consumed the token", err)
		}
		if !bytes.Equal(digest, good) && !errors.Is(err, ErrTokenMismatch) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidInput) {
			t.Fatalf("wrong digest gave %v, want ErrTokenMismatch, ErrNotFound or ErrInvalidInput", err)
		}
		for _, known := range []error{ErrNotFound, ErrTokenMismatch, ErrTokenConsumed, ErrTokenAudience,
			ErrTokenExpired, ErrTokenNotYetValid, ErrInvalidInput} {
			if errors.Is(err, known) {
				if errors.Is(err, ErrTokenConsumed) && !bytes.Equal(target, []byte("spent")) {
					t.Fatalf("ErrTokenConsumed for a never-redeemed token %q", target)
				}
				return
			}
		}
		t.Fatalf("unexpected error kind: %v", err)
	})
}
