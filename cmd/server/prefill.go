package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/receipt/store"
)

// Bounds of prefill.
const (
	maxPrefill        = 10_000_000
	defaultBundleSize = 4200 // a dev server's SNP bundle
	prefillWriters    = 128  // concurrent writers: two full group commits in flight
)

// prefillCommand fills a store with synthetic receipts, so that a server's
// cost per session can be measured at a store size that would take days of
// real sessions to reach (issue: store growth must stay flat to 10^6).
func prefillCommand() *cli.Command {
	return &cli.Command{
		Name:    "prefill",
		Summary: "fill a store with synthetic receipts, for measuring the server at a given store size",
		Usage:   "(--data DIR | --store URL) --receipts N [--bundle-size SIZE]",
		Doc: `Prefill adds N synthetic attested receipts to the store in DIR (created if
needed), each as the server writes one: a used request context, a receipt
of --bundle-size random bytes and its execution token, through the same
group-committed, durable writes. Ids, contexts and tokens are random, so the
indexes grow as they do under real traffic. The receipts verify as nothing:
use a throwaway data directory (or database), never a production one. Stop
the server first (or accept that both wait for each other's writes).
--store fills the store a server started with --store uses instead: a
PostgreSQL URL or a SQLite path.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			data := fs.String("data", "", "the server's data `DIR` (its store is DIR/seatrx.db)")
			loc := fs.String("store", "", "the store as the server's --store: a postgres:// `URL` or a SQLite path (instead of --data)")
			var n int
			cli.IntVar(fs, &n, "receipts", 0, 1, maxPrefill, "how many receipts to add")
			var size int64
			cli.SizeVar(fs, &size, "bundle-size", defaultBundleSize, 1, store.MaxBlobLen, "size of each synthetic receipt bundle")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if n == 0 {
					return cli.Usagef("missing required flag --receipts (how many receipts to add)")
				}
				if (*data == "") == (*loc == "") {
					return cli.Usagef("give exactly one of --data and --store")
				}
				if *loc == "" {
					*loc = filepath.Join(*data, "seatrx.db")
				}
				return prefill(env, *loc, n, int(size))
			}
		},
	}
}

func prefill(env *cli.Env, path string, n, size int) error {
	st, err := store.Open(context.Background(), path)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, prefillWriters)
	now := time.Now()
	for range prefillWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bundle := make([]byte, size)
			for next.Add(1) <= int64(n) {
				id := make([]byte, 16+16+32+32)
				rand.Read(id)
				rand.Read(bundle)
				digest := sha256.Sum256(id[64:])
				err := st.PutAttestedReceipt(context.Background(),
					store.UsedContext{CRC: id[32:64], ConnID: "prefill", At: now},
					store.Receipt{ID: id[:16], IssuedAt: now, Subject: "prefill", Bundle: bundle},
					store.Token{ID: id[16:32], Digest: digest[:], Audience: "urn:seatrx:issuer:prefill",
						NotBefore: now, Expires: now.Add(time.Hour), KeyBinding: id[:32]})
				if err != nil {
					errc <- err
					return
				}
				if d := done.Add(1); d%100_000 == 0 {
					fmt.Fprintf(env.Stderr, "%d receipts, %s\n", d, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return fmt.Errorf("after %d receipts: %w", done.Load(), err)
	}
	g := st.GroupCommitStats()
	fmt.Fprintf(env.Stdout, "added %d receipts to %s in %s (%d commits)\n", done.Load(), store.Redact(path), time.Since(start).Round(time.Millisecond), g.Commits)
	return nil
}
