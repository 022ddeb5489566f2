package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testURL = "https://kdsintf.amd.com/vcek/v1/Genoa/cert_chain"

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// clock is a settable time source for Getter.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is a TLS test server standing in for the vendor hosts, and a Getter
// pointed at it through Mirrors.
type fixture struct {
	g    *Getter
	srv  *httptest.Server
	hits atomic.Int64
	clk  *clock
}

func newFixture(t *testing.T, h http.HandlerFunc) *fixture {
	t.Helper()
	f := &fixture{clk: &clock{now: t0}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	g, err := New(filepath.Join(t.TempDir(), "cache"), 5*time.Second, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	g.Client = f.srv.Client()
	g.Now = f.clk.Now
	g.Mirrors = map[string]string{"kdsintf.amd.com": f.srv.URL, "api.trustedservices.intel.com": f.srv.URL + "/intel"}
	f.g = g
	return f
}

func serve(body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Add(hdr[i], hdr[i+1])
		}
		fmt.Fprintf(w, "%s path=%s", body, r.URL.RequestURI())
	}
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestCacheHit(t *testing.T) {
	f := newFixture(t, serve("chain", "X-Issuer-Chain", "a%20b"))
	want := "chain path=/vcek/v1/Genoa/cert_chain"
	for i := range 2 {
		h, b, err := f.g.GetHeader(context.Background(), testURL)
		if err != nil {
			t.Fatalf("Get #%d: %v", i, err)
		}
		if string(b) != want || h.Get("X-Issuer-Chain") != "a%20b" {
			t.Fatalf("Get #%d: body %q header %q", i, b, h.Get("X-Issuer-Chain"))
		}
	}
	if n := f.hits.Load(); n != 1 {
		t.Fatalf("server hit %d times for two Gets, want 1", n)
	}
	// A second Getter on the same directory (a restarted server) also hits the cache.
	g2 := &Getter{Dir: f.g.Dir, Now: f.clk.Now, MaxAge: time.Hour}
	if b, err := g2.Get(testURL); err != nil || string(b) != want {
		t.Fatalf("fresh Getter on the same dir: %q, %v", b, err)
	}
	st, err := os.Stat(f.g.Dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	files := cacheFiles(t, f.g.Dir)
	if len(files) != 1 || files[0] != filepath.Base(f.g.path(testURL)) {
		t.Fatalf("cache files %v, want exactly the entry for %s", files, testURL)
	}
	st, err = os.Stat(f.g.path(testURL))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("entry mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	// The caller owns what it gets: modifying it does not change the next result.
	b, _ := f.g.Get(testURL)
	b[0] = 'X'
	if b2, _ := f.g.Get(testURL); string(b2) != want {
		t.Fatalf("cached body changed to %q", b2)
	}
}

func TestExpiry(t *testing.T) {
	tests := []struct {
		name    string
		hdr     []string
		advance time.Duration // after the first Get
		wantHit int64         // server hits after the second Get
	}{
		{"within-max-age", nil, 59 * time.Minute, 1},
		{"past-max-age", nil, time.Hour, 2},
		{"cache-control-earlier", []string{"Cache-Control", "public, max-age=60"}, 61 * time.Second, 2},
		{"cache-control-later-capped", []string{"Cache-Control", "max-age=86400"}, 2 * time.Hour, 2},
		{"cache-control-fresh", []string{"Cache-Control", "max-age=600"}, 5 * time.Minute, 1},
		{"expires-earlier", []string{"Expires", t0.Add(10 * time.Minute).Format(http.TimeFormat)}, 11 * time.Minute, 2},
		{"expires-fresh", []string{"Expires", t0.Add(10 * time.Minute).Format(http.TimeFormat)}, 9 * time.Minute, 1},
		{"max-age-beats-expires", []string{"Cache-Control", "max-age=60", "Expires", t0.Add(time.Hour).Format(http.TimeFormat)}, 2 * time.Minute, 2},
		{"no-store", []string{"Cache-Control", "no-store"}, 0, 2},
		{"no-cache", []string{"Cache-Control", "no-cache"}, 0, 2},
		{"clock-went-back", nil, -time.Minute, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, serve("vcek", tc.hdr...))
			if _, err := f.g.Get(testURL); err != nil {
				t.Fatal(err)
			}
			f.clk.Add(tc.advance)
			if _, err := f.g.Get(testURL); err != nil {
				t.Fatal(err)
			}
			if n := f.hits.Load(); n != tc.wantHit {
				t.Fatalf("server hits %d, want %d", n, tc.wantHit)
			}
		})
	}
}

func TestStaleAndServerFailing(t *testing.T) {
	var down atomic.Bool
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "v1")
	})
	if _, err := f.g.Get(testURL); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	if b, err := f.g.Get(testURL); err != nil || string(b) != "v1" { // still fresh
		t.Fatalf("fresh entry while server is down: %q, %v", b, err)
	}
	f.clk.Add(2 * time.Hour)
	b, err := f.g.Get(testURL)
	var se *StatusError
	if !errors.Is(err, ErrStatus) || !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable || se.URL != testURL || b != nil {
		t.Fatalf("stale entry + 503: body %q err %v; want a 503 StatusError for %s and no data", b, err, testURL)
	}
	// Server unreachable altogether: an error naming the URL, never the stale data.
	f.srv.Close()
	b, err = f.g.Get(testURL)
	if err == nil || b != nil || !strings.Contains(err.Error(), testURL) {
		t.Fatalf("stale entry + server gone: body %q err %v", b, err)
	}
}

func TestTimeout(t *testing.T) {
	// The handler answers nothing until the client has given up and the
	// test has its error. It must not return when its request context
	// ends: that happens when the client's timeout closes the connection,
	// and the empty 200 it would then send can reach the client in the
	// same instant as its deadline, which net/http may deliver instead of
	// the timeout (seen under heavy machine load).
	release := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	f.g.Timeout = 50 * time.Millisecond
	_, err := f.g.Get(testURL)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "timed out after 50ms") || !strings.Contains(err.Error(), testURL) {
		t.Fatalf("err = %v, want ErrTimeout naming 50ms and the URL", err)
	}
	if files := cacheFiles(t, f.g.Dir); len(files) != 0 {
		t.Fatalf("a timed-out fetch left cache files %v", files)
	}
}

func TestCallerContext(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "late")
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.g.GetContext(ctx, testURL); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), testURL) {
		t.Fatalf("cancelled caller: %v", err)
	}
	// The detached fetch still completes and fills the cache for others.
	close(release)
	if b, err := f.g.Get(testURL); err != nil || string(b) != "late" {
		t.Fatalf("after release: %q, %v", b, err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Fatalf("server hits %d, want 1 (the cancelled caller's fetch is shared)", n)
	}
}

func TestTooLarge(t *testing.T) {
	big := strings.Repeat("x", 101)
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"content-length", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big) }, "Content-Length 101"},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, big[:50])
			w.(http.Flusher).Flush()
			fmt.Fprint(w, big[50:])
		}, "body exceeds 100 bytes"},
		{"headers", func(w http.ResponseWriter, r *http.Request) {
			for i := range 40 {
				w.Header().Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("h", 2000))
			}
			fmt.Fprint(w, "ok")
		}, "bytes of headers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.h)
			f.g.MaxSize = 100
			b, err := f.g.Get(testURL)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.want) || b != nil {
				t.Fatalf("err = %v, want ErrTooLarge with %q", err, tc.want)
			}
			if files := cacheFiles(t, f.g.Dir); len(files) != 0 {
				t.Fatalf("oversized response cached: %v", files)
			}
		})
	}
	// Exactly at the limit is fine.
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, big[:100]) })
	f.g.MaxSize = 100
	if b, err := f.g.Get(testURL); err != nil || len(b) != 100 {
		t.Fatalf("100-byte body at a 100-byte limit: %d bytes, %v", len(b), err)
	}
}

func TestNon2xxNotCached(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusNotModified} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) })
			for range 2 {
				_, err := f.g.Get(testURL)
				var se *StatusError
				if !errors.As(err, &se) || se.Code != code || !errors.Is(err, ErrStatus) || !strings.Contains(err.Error(), testURL) {
					t.Fatalf("err = %v, want StatusError %d for %s", err, code, testURL)
				}
			}
			if n := f.hits.Load(); n != 2 {
				t.Fatalf("server hits %d, want 2 (errors are not cached)", n)
			}
			if files := cacheFiles(t, f.g.Dir); len(files) != 0 {
				t.Fatalf("error response cached: %v", files)
			}
		})
	}
}

func TestURLNotAllowed(t *testing.T) {
	f := newFixture(t, serve("never"))
	tests := []struct{ url, want string }{
		{"https://evil.example/vcek", `host "evil.example" is not on the allow-list`},
		{"http://kdsintf.amd.com/vcek", `scheme "http", want https`},
		{"https://kdsintf.amd.com:8443/vcek", "port 8443"},
		{"https://user:pw@kdsintf.amd.com/vcek", "credentials in URL"},
		{"https://kdsintf.amd.com.evil.example/vcek", "is not on the allow-list"},
		{"file:///etc/passwd", `scheme "file"`},
		{"://bad", "missing protocol scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := f.g.Get(tc.url)
			if !errors.Is(err, ErrURL) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrURL with %q", err, tc.want)
			}
		})
	}
	// A restricted allow-list drops the defaults.
	f.g.AllowHosts = []string{"api.trustedservices.intel.com"}
	if _, err := f.g.Get(testURL); !errors.Is(err, ErrURL) {
		t.Fatalf("kdsintf.amd.com with an Intel-only allow-list: %v", err)
	}
	if b, err := f.g.Get("https://API.trustedservices.intel.com/x?y=1"); err != nil || string(b) != "never path=/intel/x?y=1" {
		t.Fatalf("allowed host (case-insensitive) through a mirror with a prefix: %q, %v", b, err)
	}
	if n := f.hits.Load(); n != 1 {
		t.Fatalf("server hits %d, want 1 (only the allowed URL)", n)
	}
}

func TestRedirects(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/vcek/v1/Genoa/away":
			http.Redirect(w, r, "https://evil.example/x", http.StatusFound)
		case "/vcek/v1/Genoa/here":
			http.Redirect(w, r, "/vcek/v1/Genoa/final", http.StatusFound)
		case "/vcek/v1/Genoa/loop":
			http.Redirect(w, r, "/vcek/v1/Genoa/loop", http.StatusFound)
		default:
			fmt.Fprint(w, "final")
		}
	})
	if _, err := f.g.Get("https://kdsintf.amd.com/vcek/v1/Genoa/away"); !errors.Is(err, ErrURL) || !strings.Contains(err.Error(), "evil.example") {
		t.Fatalf("redirect off the allow-list: %v", err)
	}
	if b, err := f.g.Get("https://kdsintf.amd.com/vcek/v1/Genoa/here"); err != nil || string(b) != "final" {
		t.Fatalf("same-host redirect: %q, %v", b, err)
	}
	if _, err := f.g.Get("https://kdsintf.amd.com/vcek/v1/Genoa/loop"); !errors.Is(err, ErrURL) || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("redirect loop: %v", err)
	}
}

func TestBadMirror(t *testing.T) {
	f := newFixture(t, serve("x"))
	for _, m := range []string{"http://127.0.0.1:1", "https://", "https://h/?q=1", "::"} {
		f.g.Mirrors = map[string]string{"kdsintf.amd.com": m}
		if _, err := f.g.Get(testURL); !errors.Is(err, ErrURL) || !strings.Contains(err.Error(), "mirror") {
			t.Fatalf("mirror %q: %v", m, err)
		}
	}
}

func TestConcurrentGets(t *testing.T) {
	f := newFixture(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	urls := []string{testURL, "https://kdsintf.amd.com/vcek/v1/Milan/cert_chain", "https://kdsintf.amd.com/vcek/v1/Turin/cert_chain"}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 48 {
		wg.Go(func() {
			u := urls[i%len(urls)]
			b, err := f.g.Get(u)
			if err == nil && !strings.HasSuffix(u, string(b)) {
				err = fmt.Errorf("%s: got %q", u, b)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Concurrent Gets of one URL share one fetch, and later ones hit the cache.
	if n := f.hits.Load(); n != int64(len(urls)) {
		t.Fatalf("server hits %d, want %d (one per URL)", n, len(urls))
	}
}

func TestCorruptEntryRefetched(t *testing.T) {
	f := newFixture(t, serve("good"))
	if _, err := f.g.Get(testURL); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.g.path(testURL), []byte(`{"v":1,"url":"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := f.g.Get(testURL); err != nil || !bytes.HasPrefix(b, []byte("good")) {
		t.Fatalf("corrupt entry: %q, %v", b, err)
	}
	if n := f.hits.Load(); n != 2 {
		t.Fatalf("server hits %d, want 2", n)
	}
	raw, err := os.ReadFile(f.g.path(testURL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseEntry(raw, testURL, DefaultMaxSize); err != nil {
		t.Fatalf("entry not rewritten: %v", err)
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		dir          string
		timeout, age time.Duration
		want         error
		wantMsg      string
	}{
		{"empty-dir", "", 0, 0, ErrConfig, "empty cache directory"},
		{"negative-timeout", dir, -1, 0, ErrConfig, "negative timeout"},
		{"negative-age", dir, 0, -1, ErrConfig, "negative timeout"},
		{"dir-is-file", file, 0, 0, ErrCache, "not a directory"},
		{"under-a-file", filepath.Join(file, "sub"), 0, 0, ErrCache, "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.dir, tc.timeout, tc.age)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v, want %v with %q", err, tc.want, tc.wantMsg)
			}
		})
	}
	g, err := New(filepath.Join(dir, "a", "b"), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if g.timeout() != DefaultTimeout || g.maxAge() != DefaultMaxAge || g.maxSize() != DefaultMaxSize {
		t.Fatalf("defaults: %s %s %d", g.timeout(), g.maxAge(), g.maxSize())
	}
	if _, err := (&Getter{}).Get(testURL); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no cache directory") {
		t.Fatalf("Getter without Dir: %v", err)
	}
}

func TestCacheWriteFailure(t *testing.T) {
	f := newFixture(t, serve("x"))
	// A cache path under a regular file cannot be created, even by root.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f.g.Dir = filepath.Join(file, "cache")
	if _, err := f.g.Get(testURL); !errors.Is(err, ErrCache) || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), testURL) {
		t.Fatalf("unwritable cache dir: %v", err)
	}
}

func TestTDXAdapter(t *testing.T) {
	f := newFixture(t, serve("tcb", "Tcb-Info-Issuer-Chain", "escaped%0APEM"))
	const u = "https://api.trustedservices.intel.com/tdx/certification/v4/tcb?fmspc=00806f050000"
	h, b, err := f.g.TDX().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	// Canonical header keys, as go-tdx-guest looks them up.
	if got := h["Tcb-Info-Issuer-Chain"]; len(got) != 1 || got[0] != "escaped%0APEM" || !strings.HasPrefix(string(b), "tcb path=/intel/tdx/") {
		t.Fatalf("header %v body %q", h, b)
	}
	cg, ok := f.g.TDX().(interface {
		GetContext(context.Context, string) (map[string][]string, []byte, error)
	})
	if !ok {
		t.Fatal("TDX adapter has no GetContext")
	}
	if _, b2, err := cg.GetContext(context.Background(), u); err != nil || !bytes.Equal(b, b2) || f.hits.Load() != 1 {
		t.Fatalf("GetContext: %v, hits %d", err, f.hits.Load())
	}
}
