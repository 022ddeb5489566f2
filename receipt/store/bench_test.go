package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"
)

func benchID(prefix byte, i int) []byte {
	id := make([]byte, 16)
	id[0] = prefix
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

// BenchmarkPutReceiptWithToken measures one durable (fsync'd, WAL,
// synchronous=FULL) insert of a receipt and its execution token.
func BenchmarkPutReceiptWithToken(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	r := sampleReceipt("")
	tk := sampleToken("", "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.ID = benchID('r', i)
		tk.ID, tk.ReceiptID = benchID('t', i), r.ID
		if err := s.PutReceiptWithToken(ctx, r, tk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutReceiptWithTokenParallel measures durable inserts from
// 8 x GOMAXPROCS concurrent callers: group commit lets one COMMIT (one fsync)
// cover several of them. ns/op is wall time per insert; "commits/insert" is
// the share of transactions per insert (1 without batching).
func BenchmarkPutReceiptWithTokenParallel(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	var next atomic.Int64
	before := s.GroupCommitStats()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := sampleReceipt("")
		tk := sampleToken("", "")
		for pb.Next() {
			i := int(next.Add(1))
			r.ID = benchID('r', i)
			tk.ID, tk.ReceiptID = benchID('t', i), r.ID
			if err := s.PutReceiptWithToken(ctx, r, tk); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	after := s.GroupCommitStats()
	if items := after.Items - before.Items; items > 0 {
		b.ReportMetric(float64(after.Commits-before.Commits)/float64(items), "commits/insert")
	}
}

// seedTokens stores n receipts with tokens in one transaction (setup only).
func seedTokens(b *testing.B, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	r := sampleReceipt("")
	tk := sampleToken("", "")
	err := s.inTx(ctx, "seed", func(ctx context.Context, tx *sql.Tx) error {
		for i := 0; i < n; i++ {
			r.ID = benchID('r', i)
			tk.ID, tk.ReceiptID = benchID('t', i), r.ID
			if err := s.putReceiptTx(ctx, tx, &r); err != nil {
				return err
			}
			if err := s.putTokenTx(ctx, tx, &tk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRedeem measures one durable, exactly-once token redemption.
func BenchmarkRedeem(b *testing.B) {
	s, _ := openTemp(b)
	seedTokens(b, s, b.N)
	ctx := context.Background()
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.ConsumeToken(ctx, benchID('t', i), "bench", now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeemParallel measures redemption throughput with concurrent
// callers (each token redeemed once); SQLite serialises the writes.
func BenchmarkRedeemParallel(b *testing.B) {
	s, _ := openTemp(b)
	seedTokens(b, s, b.N)
	ctx := context.Background()
	now := t0.Add(time.Minute)
	next := make(chan int, b.N)
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ConsumeToken(ctx, benchID('t', <-next), "bench", now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkGetReceipt measures a point read of a stored receipt.
func BenchmarkGetReceipt(b *testing.B) {
	s, _ := openTemp(b)
	seedTokens(b, s, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.GetReceipt(ctx, benchID('r', i%1000)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionWrites measures the durable writes of one attested
// session from 8 x GOMAXPROCS concurrent sessions: "attested" is the server's
// default (PutAttestedReceipt: the attestation record, receipt and token in
// one item), "separate" the three-request flow (UseContext when the
// attestation is accepted, PutReceiptWithToken when the receipt is issued;
// both group-committed). ns/op is wall time per session; "commits/session"
// the share of transactions (one fsync each) per session.
func BenchmarkSessionWrites(b *testing.B) {
	for _, mode := range []string{"attested", "separate"} {
		b.Run(mode, func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			var next atomic.Int64
			before := s.GroupCommitStats()
			b.ReportAllocs()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := sampleReceipt("")
				tk := sampleToken("", "")
				for pb.Next() {
					i := int(next.Add(1))
					r.ID = benchID('r', i)
					tk.ID, tk.ReceiptID = benchID('t', i), r.ID
					u := UsedContext{CRC: benchID('c', i), ConnID: "bench", At: t0}
					var err error
					if mode == "attested" {
						err = s.PutAttestedReceipt(ctx, u, r, tk)
					} else if err = s.UseContext(ctx, u.CRC, u.ConnID, u.At); err == nil {
						err = s.PutReceiptWithToken(ctx, r, tk)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			after := s.GroupCommitStats()
			b.ReportMetric(float64(after.Commits-before.Commits)/float64(b.N), "commits/session")
		})
	}
}

// BenchmarkAttestedWrite measures one session's durable write alone
// (PutAttestedReceipt, no concurrency: one COMMIT and fsync each), the
// store's cost per session when sessions do not overlap.
func BenchmarkAttestedWrite(b *testing.B) {
	s, _ := openTemp(b)
	ctx := context.Background()
	r := sampleReceipt("")
	r.Bundle = make([]byte, 5000) // the size of a seatrx bundle
	tk := sampleToken("", "")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r.ID = benchID('r', i)
		tk.ID, tk.ReceiptID = benchID('t', i), r.ID
		if err := s.PutAttestedReceipt(ctx, UsedContext{CRC: benchID('c', i), ConnID: "bench", At: t0}, r, tk); err != nil {
			b.Fatal(err)
		}
	}
}
