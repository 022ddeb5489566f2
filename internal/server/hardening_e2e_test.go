package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// rawClient is an HTTP client of e's server that follows no redirects;
// h1 forces HTTP/1.1, else it speaks HTTP/2.
func (e *env) rawClient(h1 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.roots, MinVersion: tls.VersionTLS13}, ForceAttemptHTTP2: !h1}
	if h1 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// problemOf reads resp as a problem, failing unless it is one with status
// and code and a detail.
func problemOf(t *testing.T, resp *http.Response, status int, code string) *api.Problem {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p api.Problem
	if ct := resp.Header.Get("Content-Type"); ct != api.MediaProblem {
		t.Fatalf("%s: Content-Type %q, body %q", resp.Request.URL.Path, ct, b)
	}
	if err := json.Unmarshal(b, &p); err != nil || resp.StatusCode != status || p.Status != status || p.Code != code ||
		p.Type != api.ProblemTypePrefix+code || p.Detail == "" {
		t.Fatalf("%s: %d %s, want %d %s with a detail", resp.Request.URL.Path, resp.StatusCode, b, status, code)
	}
	return &p
}

// The router's own answers and oversized headers are problems, on HTTP/1.1
// and HTTP/2; /metrics is not on the main listener by default.
func TestEndToEndRouterProblems(t *testing.T) {
	e := start(t, nil)
	base := "https://" + e.addr
	for _, h1 := range []bool{true, false} {
		hc := e.rawClient(h1)
		do := func(method, path string, hdr http.Header) *http.Response {
			t.Helper()
			req, err := http.NewRequest(method, base+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range hdr {
				req.Header[k] = v
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatalf("h1=%v %s %s: %v", h1, method, path, err)
			}
			return resp
		}
		problemOf(t, do("GET", "/nope", nil), 404, "server.not_found")
		problemOf(t, do("GET", "/metrics", nil), 404, "server.not_found")
		resp := do("DELETE", "/v1/receipts", nil)
		if allow := resp.Header.Get("Allow"); allow != "POST" {
			t.Errorf("405 Allow = %q", allow)
		}
		problemOf(t, resp, 405, "server.method_not_allowed")
		resp = do("GET", "/v1/../healthz", nil)
		if resp.StatusCode == 200 { // the client cleaned the path itself
			resp.Body.Close()
			resp = do("GET", "//healthz", nil)
		}
		if loc := resp.Header.Get("Location"); loc != "/healthz" {
			t.Errorf("307 Location = %q", loc)
		}
		problemOf(t, resp, 307, "server.redirect")
		big := http.Header{"X-Pad": {strings.Repeat("a", server.MaxHeaderBytes)}}
		p := problemOf(t, do("GET", "/healthz", big), 431, "server.headers_too_large")
		if !strings.Contains(p.Detail, "16384") {
			t.Errorf("431 detail %q does not state the limit", p.Detail)
		}
		// The connection (HTTP/2: the same one) still serves.
		if resp := do("GET", "/healthz", nil); resp.StatusCode != 200 {
			t.Fatalf("h1=%v: /healthz after the 431: %d", h1, resp.StatusCode)
		} else {
			resp.Body.Close()
		}
	}
	// Over net/http's own limit (4 × MaxHeaderBytes + its 4 KiB slack),
	// HTTP/1.1 gets net/http's plain-text 431: documented in PROTOCOL.md.
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Pad", strings.Repeat("a", 5*server.MaxHeaderBytes))
	resp, err := e.rawClient(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("huge HTTP/1.1 header: %d %q; PROTOCOL.md says net/http answers 431 in plain text", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// GET /readyz is ready with a writable store and loadable keys, and a
// 503 problem naming the check when the keys no longer load.
func TestEndToEndReadiness(t *testing.T) {
	e := start(t, nil)
	hc := e.rawClient(false)
	get := func() *http.Response {
		resp, err := hc.Get("https://" + e.addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := get()
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ready\n" {
		t.Fatalf("/readyz: %d %q", resp.StatusCode, b)
	}
	keys := filepath.Join(e.data, "keys")
	if err := os.Rename(keys, keys+".gone"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // the last evaluation is reused for 1 s
	for {
		resp := get()
		if resp.StatusCode == 503 {
			p := problemOf(t, resp, 503, "server.not_ready")
			if !strings.Contains(p.Detail, "keys:") || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("not ready: %q, Retry-After %q", p.Detail, resp.Header.Get("Retry-After"))
			}
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("/readyz still ready without a key directory")
		}
	}
	// Liveness is not readiness.
	if resp, err := hc.Get("https://" + e.addr + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
}

// A receipt is readable by the peer it was issued to and by an auditor;
// another attested peer gets the 404 of an unknown id.
func TestEndToEndReceiptAccess(t *testing.T) {
	auditorKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(auditorKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(spki)
	e := start(t, func(c *server.Config) { c.Auditors = [][]byte{h[:]} })
	ctx := context.Background()
	owner := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := owner.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := owner.RequestReceipt(ctx, map[string]any{"op": "read"}, "")
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/receipts/" + hex.EncodeToString(rr.ReceiptID)
	if b, err := owner.Do(ctx, "GET", path, "", nil); err != nil || len(b) == 0 {
		t.Fatalf("owner reads its receipt: %v", err)
	}
	other := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := other.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = other.Do(ctx, "GET", path, "", nil)
	wantProblem(t, err, "server.receipt_not_found")
	_, err = other.Do(ctx, "GET", "/v1/receipts/"+strings.Repeat("ab", 16), "", nil)
	wantProblem(t, err, "server.receipt_not_found")
	auditor := e.dial(t, &tlsbind.Prover{Attester: evidence.NewSNPAttester(e.pki.SNP.Guest(sim.SNPGuestConfig{})), Key: auditorKey})
	if _, err := auditor.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := auditor.Do(ctx, "GET", path, "", nil); err != nil || len(b) == 0 {
		t.Fatalf("auditor reads the receipt: %v", err)
	}
	unattested := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	_, err = unattested.Do(ctx, "GET", path, "", nil)
	wantProblem(t, err, "attest.not_attested")
}

// One tick of the prune schedule drops used contexts past the retention,
// at the server's clock, and keeps receipts by default.
func TestEndToEndPruneTick(t *testing.T) {
	e := start(t, func(c *server.Config) { c.PruneInterval = -1 })
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, _, err := c.AttestAndIssue(ctx, map[string]any{"op": "x"}, ""); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		t.Helper()
		db, err := sql.Open("sqlite", filepath.Join(e.data, "seatrx.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := e.srv.PruneNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count("used_contexts"); n != 1 {
		t.Fatalf("%d used contexts before the retention, want 1", n)
	}
	e.clock.Add(store.DefaultContextRetention + time.Minute)
	if err := e.srv.PruneNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n, r := count("used_contexts"), count("receipts"); n != 0 || r != 1 {
		t.Fatalf("after the retention: %d used contexts (want 0), %d receipts (want 1: kept forever by default)", n, r)
	}
}

// logBuffer collects a server's JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) lines(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line %q: %v", ln, err)
		}
		out = append(out, m)
	}
	return out
}

// Every request has one access-log line; the audit events name the peer;
// connection ids differ between two server processes (restarts).
func TestEndToEndAccessLogAndAudit(t *testing.T) {
	var ids []string
	for run := range 2 {
		logs := &logBuffer{}
		e := start(t, func(c *server.Config) { c.Logger = slog.New(slog.NewJSONHandler(logs, nil)) })
		ctx := context.Background()
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		_, rr, err := c.AttestAndIssue(ctx, map[string]any{"op": "x"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
			t.Fatal(err)
		}
		_, err = c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
		wantProblem(t, err, "receipt.token_consumed")
		_, err = c.Do(ctx, "GET", "/nope", "", nil)
		wantProblem(t, err, "server.not_found")

		events := map[string]map[string]any{}
		var access []map[string]any
		for _, l := range logs.lines(t) {
			if l["msg"] == "request" {
				access = append(access, l)
			} else {
				events[l["msg"].(string)] = l
			}
		}
		if len(access) < 5 {
			t.Fatalf("run %d: %d access-log lines, want one per request (at least 5)", run, len(access))
		}
		last := access[len(access)-1]
		if last["method"] != "GET" || last["path"] != "/nope" || last["status"] != float64(404) || last["code"] != "server.not_found" ||
			!strings.HasPrefix(last["peer"].(string), "127.0.0.1:") || last["conn"] == "" || last["duration"] == nil {
			t.Fatalf("access-log line %v", last)
		}
		for _, ev := range []string{"attestation accepted", "attestation recorded", "receipt issued", "redemption ok", "redemption refused"} {
			l, ok := events[ev]
			if !ok || l["level"] != "INFO" || !strings.HasPrefix(l["peer"].(string), "127.0.0.1:") || l["conn"] != last["conn"] {
				t.Fatalf("run %d: audit event %q: %v", run, ev, l)
			}
		}
		if events["attestation accepted"]["platform"] == "" || events["redemption refused"]["code"] != "receipt.token_consumed" {
			t.Fatalf("audit details: %v / %v", events["attestation accepted"], events["redemption refused"])
		}
		ids = append(ids, last["conn"].(string))
	}
	if ids[0] == ids[1] {
		t.Fatalf("two servers gave their first connection the same id %q", ids[0])
	}
}

// Under the configured free space, readiness names the disk: 503
// store.disk_full.
func TestEndToEndReadinessDisk(t *testing.T) {
	e := start(t, func(c *server.Config) { c.MinFree = 1 << 60 })
	resp, err := e.rawClient(false).Get("https://" + e.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	p := problemOf(t, resp, 503, "store.disk_full")
	if !strings.Contains(p.Detail, "disk:") || !strings.Contains(p.Detail, "1152921504606846976") {
		t.Fatalf("detail %q", p.Detail)
	}
}

// A workload that holds an X.509-SVID for the key its receipt was issued to
// reads the receipt over mTLS without attesting; another workload's SVID
// does not.
func TestEndToEndReceiptAccessBySVID(t *testing.T) {
	e := startCredentials(t)
	ctx := context.Background()
	wk, otherKey := newKey(t), newKey(t)
	c, _ := e.attestedWith(t, wk)
	chain, _, err := c.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "svid"}, "")
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/receipts/" + hex.EncodeToString(rr.ReceiptID)
	m, err := e.svidConn(t, chain[0], wk)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := m.Do(ctx, "GET", path, "", nil); err != nil || len(b) == 0 {
		t.Fatalf("the SVID of the receipt's key reads it: %v", err)
	}
	o, _ := e.attestedWith(t, otherKey)
	otherChain, _, err := o.RequestCredential(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := e.svidConn(t, otherChain[0], otherKey)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m2.Do(ctx, "GET", path, "", nil)
	wantProblem(t, err, "server.receipt_not_found")
}
