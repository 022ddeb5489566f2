package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/internal/pgtest"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt/store"
)

// Two replicas on one PostgreSQL database and one key directory: a receipt
// issued by A is fetched by its owner from B and redeemed there, once; /v1/keys
// is the same on both, also after a rotation; B, started with KeysReadOnly,
// never creates a key.
func TestEndToEndReplicasShareAPostgresStore(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := start(t, func(c *server.Config) { c.Store = dsn; c.KeyReloadInterval = -1 })
	b := start(t, func(c *server.Config) {
		c.Store, c.DataDir, c.KeysReadOnly, c.KeyReloadInterval = dsn, a.data, true, -1
	})
	if got := a.srv.Summary(); got.StoreBackend != "postgres" || got.Store != store.Redact(dsn) || got.KeysReadOnly || !b.srv.Summary().KeysReadOnly {
		t.Fatalf("summary store %q backend %q", got.Store, got.StoreBackend)
	}
	ctx := context.Background()
	// One guest with one long-lived workload key on both replicas: its
	// receipts and tokens are bound to that key, on whichever replica.
	guest := a.snp(sim.SNPGuestConfig{})
	var err error
	if guest.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	ca := a.dial(t, guest)
	_, rr, err := ca.AttestAndIssue(ctx, map[string]any{"op": "replicated"}, "")
	if err != nil {
		t.Fatal(err)
	}
	// The same guest (same key) attests to B and fetches its receipt there.
	cb := b.dial(t, guest)
	if _, err := cb.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := cb.Do(ctx, http.MethodGet, "/v1/receipts/"+hex.EncodeToString(rr.ReceiptID), "", nil)
	if err != nil || !bytes.Equal(got, rr.Bundle) {
		t.Fatalf("receipt from A fetched on B: %v (equal: %v)", err, bytes.Equal(got, rr.Bundle))
	}
	if _, err := cb.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
		t.Fatalf("redeem on B of a token issued by A: %v", err)
	}
	_, err = ca.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
	wantProblem(t, err, "receipt.token_consumed")

	keysEqual := func() []byte {
		t.Helper()
		_, ka, err := ca.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, kb, err := cb.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ka, kb) {
			t.Fatalf("/v1/keys differs between replicas:\n%s\n%s", ka, kb)
		}
		return ka
	}
	before := keysEqual()
	if _, err := keystore.Open(server.KeyDir(server.Config{DataDir: a.data})).Rotate(keystore.RoleIssuer, time.Now(), time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*env{a, b} {
		if changed, err := e.srv.ReloadKeys(); err != nil || !changed {
			t.Fatalf("reload after rotation: %v %v", changed, err)
		}
	}
	if after := keysEqual(); bytes.Equal(before, after) {
		t.Fatal("/v1/keys unchanged by the rotation")
	}

	// A replica with KeysReadOnly on an empty key directory refuses to start.
	_, err = server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Dev: true, Store: dsn, KeysReadOnly: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "--keys-readonly forbids creating one") {
		t.Fatalf("KeysReadOnly on an empty key directory: %v", err)
	}
}

// With its PostgreSQL unreachable, a server answers 503 store.unavailable
// with Retry-After and hands out no receipt; once the database is back, the
// same server issues again, without a restart.
func TestEndToEndPostgresUnavailable(t *testing.T) {
	p := startCutProxy(t, pgtest.DSN(t))
	e := start(t, func(c *server.Config) { c.Store = p.dsn })
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, _, err := c.AttestAndIssue(ctx, map[string]any{"op": "before"}, ""); err != nil {
		t.Fatal(err)
	}
	ready := func() error {
		_, err := c.Do(ctx, http.MethodGet, "/readyz", "", nil)
		return err
	}
	if err := ready(); err != nil {
		t.Fatalf("/readyz on PostgreSQL: %v", err)
	}
	p.cut()
	if err := waitReady(ready, false); err != nil {
		t.Fatal(err)
	}
	c2 := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	_, rr, err := c2.AttestAndIssue(ctx, map[string]any{"op": "during"}, "")
	wantProblem(t, err, "store.unavailable")
	var pr *api.Problem
	if errors.As(err, &pr); pr.Status != http.StatusServiceUnavailable || rr != nil {
		t.Fatalf("status %d, receipt %v", pr.Status, rr)
	}
	p.restore()
	if err := waitReady(ready, true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var c3 *client.Conn
	for {
		c3 = e.dial(t, e.snp(sim.SNPGuestConfig{}))
		_, rr, err = c3.AttestAndIssue(ctx, map[string]any{"op": "after"}, "")
		if err == nil {
			break
		}
		wantProblem(t, err, "store.unavailable")
		if time.Now().After(deadline) {
			t.Fatalf("no receipt 30 s after the database came back: %v", err)
		}
	}
	if _, err := c3.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
		t.Fatalf("redeem after the outage: %v", err)
	}
}

// waitReady polls /readyz (through ready) until it reports want, within 30 s.
func waitReady(ready func() error, want bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ready()
		if (err == nil) == want {
			if err != nil {
				var p *api.Problem
				if !errors.As(err, &p) || p.Status != http.StatusServiceUnavailable || p.Code != "server.not_ready" {
					return fmt.Errorf("/readyz without its database: %v, want 503 server.not_ready", err)
				}
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/readyz did not become ready=%v within 30 s: %v", want, err)
		}
		time.Sleep(100 * time.Millisecond) // the readiness result is cached for 1 s
	}
}

// cutProxy forwards TCP to a PostgreSQL server until cut: then it drops
// every connection and refuses new ones, as an unreachable database does.
type cutProxy struct {
	ln     net.Listener
	target string
	dsn    string // the DSN through the proxy

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
}

func startCutProxy(t *testing.T, dsn string) *cutProxy {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest DSN %q is not a URL: %v", dsn, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: u.Host, conns: map[net.Conn]struct{}{}}
	if !strings.Contains(p.target, ":") {
		p.target += ":5432"
	}
	u.Host = ln.Addr().String()
	p.dsn = u.String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); p.cut(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); p.serve(c) }()
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}
