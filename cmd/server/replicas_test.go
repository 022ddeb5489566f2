package main

import (
	"context"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver, to inspect the shared database

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/pgtest"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// Bounds of the multi-replica test.
const (
	replicaCount    = 3
	replicaSessions = 500 // acknowledged sessions wanted
	replicaWorkers  = 16
	replicaDeadline = 3 * time.Minute
)

// roundRobin is a TCP load balancer in front of the replicas: each new
// connection goes to the next backend; a backend that refuses is skipped.
type roundRobin struct {
	ln    net.Listener
	mu    sync.Mutex
	addrs []string
	next  int
	wg    sync.WaitGroup
}

func newRoundRobin(t *testing.T) *roundRobin {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rr := &roundRobin{ln: ln}
	t.Cleanup(func() { ln.Close(); rr.wg.Wait() })
	rr.wg.Add(1)
	go func() {
		defer rr.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rr.wg.Add(1)
			go func() { defer rr.wg.Done(); rr.serve(c) }()
		}
	}()
	return rr
}

func (rr *roundRobin) set(i int, addr string) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for len(rr.addrs) <= i {
		rr.addrs = append(rr.addrs, "")
	}
	rr.addrs[i] = addr
}

func (rr *roundRobin) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	for tries := 0; tries < replicaCount && up == nil; tries++ {
		rr.mu.Lock()
		addr := rr.addrs[rr.next%len(rr.addrs)]
		rr.next++
		rr.mu.Unlock()
		if addr == "" {
			continue
		}
		up, _ = net.DialTimeout("tcp", addr, 2*time.Second)
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

// dbOutage is how long the database is unreachable in the multi-replica
// test's simulated restart.
const dbOutage = 2 * time.Second

// dbProxy is a TCP proxy between the replicas and PostgreSQL that can
// take the database away: down cuts every proxied connection and refuses
// new ones until up. The test uses the shared PostgreSQL service (CI's),
// which it must not restart under other tests; to the replicas an outage
// behind the proxy is what a restart is (connections gone, then nothing,
// then a fresh server).
type dbProxy struct {
	dsn   string // the replicas' DSN, through the proxy
	ln    net.Listener
	netw  string // upstream network and address
	addr  string
	mu    sync.Mutex
	isUp  bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newDBProxy(t *testing.T, dsn string) *dbProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &dbProxy{netw: "tcp", addr: net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))), isUp: true, conns: map[net.Conn]bool{}}
	if filepath.IsAbs(cfg.Host) { // a Unix socket directory (scripts/testdb)
		p.netw, p.addr = "unix", filepath.Join(cfg.Host, fmt.Sprintf(".s.PGSQL.%d", cfg.Port))
	}
	p.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", Host: p.ln.Addr().String(), Path: "/" + cfg.Database, RawQuery: "sslmode=disable"}
	u.User = url.User(cfg.User)
	if cfg.Password != "" {
		u.User = url.UserPassword(cfg.User, cfg.Password)
	}
	p.dsn = u.String()
	t.Cleanup(func() { p.ln.Close(); p.down(); p.wg.Wait() })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *dbProxy) serve(c net.Conn) {
	defer c.Close()
	p.mu.Lock()
	ok := p.isUp
	p.mu.Unlock()
	if !ok {
		return
	}
	up, err := net.DialTimeout(p.netw, p.addr, 2*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	p.mu.Lock()
	if !p.isUp {
		p.mu.Unlock()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// down cuts every proxied connection and refuses new ones; it returns how
// many client connections it cut.
func (p *dbProxy) down() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isUp = false
	for c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	p.conns = map[net.Conn]bool{}
	return n
}

func (p *dbProxy) up() {
	p.mu.Lock()
	p.isUp = true
	p.mu.Unlock()
}

// ack is an acknowledged session: the receipt the client got back.
type ack struct {
	id, bundle []byte
	redeemed   bool
}

// Three seatrx-server processes share one PostgreSQL database and one key
// directory behind a round-robin TCP balancer; 16 workers run attested
// sessions (attest-and-issue, then redeem, and a second receipt attempt on
// the same attestation). Meanwhile one replica is killed with SIGKILL and
// restarted, and PostgreSQL goes away for dbOutage with every connection
// cut (a restart as its clients see it; see dbProxy). Afterwards every
// acknowledged receipt is in the store, byte for byte, and verifies; no
// token was redeemed twice; no attestation got two receipts.
func TestReplicasSurviveKillAndDatabaseRestart(t *testing.T) {
	dsn := pgtest.DSN(t)
	pg := newDBProxy(t, dsn)
	data := filepath.Join(t.TempDir(), "data")
	replicas := make([]*started, replicaCount)
	lb := newRoundRobin(t)
	run := func(i int) {
		args := []string{"--dev", "--data", data, "--store", pg.dsn}
		if i > 0 {
			args = append(args, "--keys-readonly")
		}
		replicas[i] = start(t, args...)
		go func(lines chan map[string]any) {
			for range lines { // keep the server's stderr flowing
			}
		}(replicas[i].lines)
		if replicas[i].summary["store_backend"] != "postgres" {
			t.Fatalf("replica %d summary: %v", i, replicas[i].summary)
		}
		lb.set(i, replicas[i].summary["addr"].(string))
	}
	for i := range replicaCount { // the first creates the keys and dev files; the others only read them
		run(i)
	}
	cas, err := keyfile.LoadCertificates(filepath.Join(server.DevDir(data), "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cas[0])
	pki, err := sim.Load(filepath.Join(server.DevDir(data), "sim-pki"))
	if err != nil {
		t.Fatal(err)
	}
	checker, err := client.NewChecker(pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + lb.ln.Addr().String()

	ctx, cancel := context.WithTimeout(context.Background(), replicaDeadline)
	defer cancel()
	var (
		mu       sync.Mutex
		acks     []ack
		failures = map[string]int{}
		done     atomic.Int64
	)
	session := func(w, n int) error {
		prover := &tlsbind.Prover{Attester: evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{}))}
		c, err := client.Dial(ctx, client.Config{Server: url, Roots: roots, Prover: prover, Checker: checker})
		if err != nil {
			return err
		}
		defer c.Close()
		_, rr, err := c.AttestAndIssue(ctx, map[string]any{"op": "replicas", "w": w, "n": n}, "")
		if err != nil {
			return err
		}
		a := ack{id: rr.ReceiptID, bundle: rr.Bundle}
		mu.Lock()
		acks = append(acks, a)
		k := len(acks) - 1
		mu.Unlock()
		// The attestation has its receipt: a second one is refused.
		if _, err := c.RequestReceipt(ctx, map[string]any{"op": "again"}, ""); !isProblem(err, "server.attestation_used") {
			return invariant("second receipt on one attestation", err)
		}
		if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
			return err
		}
		mu.Lock()
		acks[k].redeemed = true
		mu.Unlock()
		if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); !isProblem(err, "receipt.token_consumed") {
			return invariant("second redemption", err)
		}
		return nil
	}
	var wg sync.WaitGroup
	var fatal atomic.Value
	for w := range replicaWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				mu.Lock()
				enough := len(acks) >= replicaSessions
				mu.Unlock()
				if enough {
					return
				}
				err := session(w, n)
				if err == nil {
					done.Add(1)
					continue
				}
				var p *api.Problem
				code := "transport"
				if errors.As(err, &p) {
					code = p.Code
				}
				if errors.Is(err, errInvariant) {
					code = "invariant"
				}
				switch code {
				case "transport", "store.unavailable", "attest.not_attested":
					// A killed replica or a dropped database connection:
					// the session failed and nothing it was not told
					// about may be trusted; retry with a new one.
				default:
					fatal.CompareAndSwap(nil, fmt.Errorf("worker %d session %d: %w", w, n, err))
					cancel()
					return
				}
				mu.Lock()
				failures[code]++
				mu.Unlock()
			}
		}()
	}
	// The disruptions, at a third and two thirds of the run, from the test
	// goroutine (start may fail the test).
	if waitFor(ctx, &done, replicaSessions/3) {
		victim := replicas[1]
		lb.set(1, "")
		victim.cmd.Process.Kill() // SIGKILL: no shutdown, requests in flight die
		victim.cmd.Wait()
		run(1)
		t.Logf("replica 1 killed with SIGKILL at %d sessions and restarted", done.Load())
	}
	if waitFor(ctx, &done, 2*replicaSessions/3) {
		// A PostgreSQL restart as its clients see it: every connection
		// cut (client side by the proxy, server side by
		// pg_terminate_backend), then nothing answers for a while.
		cut := pg.down()
		n, err := terminateBackends(dsn)
		if err != nil {
			t.Error(err)
		}
		time.Sleep(dbOutage) // the outage itself: what is measured is how replicas come through it
		pg.up()
		t.Logf("PostgreSQL unreachable for %s at %d sessions: %d proxied and %d server-side connections cut", dbOutage, done.Load(), cut, n)
	}
	wg.Wait()
	if err, _ := fatal.Load().(error); err != nil {
		t.Fatal(err)
	}
	if len(acks) < replicaSessions {
		t.Fatalf("%d acknowledged sessions within %s, want %d (failures %v)", len(acks), replicaDeadline, replicaSessions, failures)
	}
	t.Logf("%d acknowledged sessions, %d complete; failed and retried: %v", len(acks), done.Load(), failures)

	// Every acknowledged receipt is stored as acknowledged and verifies.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := client.Dial(context.Background(), client.Config{Server: url, Roots: roots,
		Prover: &tlsbind.Prover{Attester: evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{}))}, Checker: checker})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, _, err := c.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	redeemed := 0
	for _, a := range acks {
		if seen[string(a.id)] {
			t.Fatalf("receipt id %x acknowledged twice", a.id)
		}
		seen[string(a.id)] = true
		var bundle []byte
		var redeemedAt sql.NullInt64
		err := db.QueryRow(`SELECT r.bundle, t.redeemed_at FROM receipts r JOIN execution_tokens t ON t.receipt_id = r.id WHERE r.id = $1`, a.id).Scan(&bundle, &redeemedAt)
		if err != nil {
			t.Fatalf("acknowledged receipt %x: %v", a.id, err)
		}
		if string(bundle) != string(a.bundle) {
			t.Fatalf("receipt %x stored differs from the one acknowledged", a.id)
		}
		if a.redeemed && !redeemedAt.Valid {
			t.Fatalf("receipt %x: acknowledged redemption not stored", a.id)
		}
		if a.redeemed {
			redeemed++
		}
		if _, err := verify.Bundle(a.bundle, keys, verify.Options{AllowSimulated: true, SimulatedPKI: pki, NoReplayCache: true}); err != nil {
			t.Fatalf("receipt %x does not verify: %v (%s)", a.id, err, receipt.ProblemCode(err))
		}
	}
	// One receipt per attestation: every receipt's attestation is recorded,
	// and no token is stored twice for one receipt.
	var receipts, contexts, tokens, perReceipt int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM receipts), (SELECT count(*) FROM used_contexts),
(SELECT count(*) FROM execution_tokens), (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM execution_tokens GROUP BY receipt_id) x)`).
		Scan(&receipts, &contexts, &tokens, &perReceipt); err != nil {
		t.Fatal(err)
	}
	if receipts < len(acks) || receipts > contexts || tokens != receipts || perReceipt != 1 {
		t.Fatalf("store: %d receipts, %d used contexts, %d tokens (at most %d per receipt) for %d acknowledged sessions",
			receipts, contexts, tokens, perReceipt, len(acks))
	}
	t.Logf("store: %d receipts (%d acknowledged), %d attestations recorded, %d redemptions acknowledged", receipts, len(acks), contexts, redeemed)
}

// errInvariant marks a session outcome that breaks a guarantee (as opposed
// to a transient failure from a kill or a dropped database connection).
var errInvariant = errors.New("invariant broken")

// invariant fails a session whose step got err instead of its refusal:
// a transport failure or store.unavailable stays transient (the replica or
// the database went away meanwhile); anything else breaks a guarantee.
func invariant(step string, err error) error {
	var p *api.Problem
	if err != nil && (!errors.As(err, &p) || p.Code == "store.unavailable") {
		return err
	}
	return fmt.Errorf("%s: %v: %w", step, err, errInvariant)
}

func isProblem(err error, code string) bool {
	var p *api.Problem
	return errors.As(err, &p) && p.Code == code
}

// waitFor waits until n sessions are done; false if ctx ended first.
func waitFor(ctx context.Context, done *atomic.Int64, n int) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for done.Load() < int64(n) {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// terminateBackends ends every session on the database at dsn but its own.
func terminateBackends(dsn string) (int, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	return n, err
}
