// Package fetch is seatrx's only path to the network for attestation
// collateral: AMD KDS (VCEK certificates, ASK/ARK chains, CRLs) and Intel PCS
// (TDX TCB info, QE identity, PCK and root CRLs). Nothing in seatrx fetches
// unless a *Getter is explicitly configured; a Getter fetches only https URLs
// on an allow-list of hosts, with a per-request timeout and a size limit, and
// keeps every response in a cache directory for a bounded time, so that
// repeat peers cost no request at all.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	tdxtrust "github.com/google/go-tdx-guest/verify/trust"
)

// Defaults applied when the corresponding Getter field is zero.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxAge  = 24 * time.Hour
	// DefaultMaxSize bounds one response body. The largest real collateral item
	// (Intel's processor-CA PCK CRL) is a few hundred KiB.
	DefaultMaxSize = 1 << 20
	// MaxHeaderBytes bounds the response headers kept with a body (Intel PCS
	// issuer chains are about 4 KiB each).
	MaxHeaderBytes = 64 << 10
	// maxRedirects bounds the redirects one request may follow.
	maxRedirects = 5
)

// DefaultAllowHosts are the vendor services a Getter may reach when
// AllowHosts is empty: AMD KDS, Intel PCS, and the host that serves the Intel
// SGX Root CA CRL (the CRL distribution point of Intel's root certificate).
var DefaultAllowHosts = []string{
	"kdsintf.amd.com",
	"api.trustedservices.intel.com",
	"certificates.trustedservices.intel.com",
}

// Errors callers can branch on with errors.Is; every returned error also names
// the URL and what failed.
var (
	// ErrURL: the URL is not https, has credentials or an unusual port, or its
	// host is not on the allow-list.
	ErrURL = errors.New("fetch: URL not allowed")
	// ErrTimeout: the request did not complete within Getter.Timeout.
	ErrTimeout = errors.New("fetch: request timed out")
	// ErrTooLarge: the body exceeds Getter.MaxSize or the headers MaxHeaderBytes.
	ErrTooLarge = errors.New("fetch: response too large")
	// ErrStatus: the server answered with a non-2xx status (see *StatusError).
	ErrStatus = errors.New("fetch: unexpected HTTP status")
	// ErrCache: the cache directory could not be created or written.
	ErrCache = errors.New("fetch: cache directory")
	// ErrConfig: New was given unusable parameters.
	ErrConfig = errors.New("fetch: invalid configuration")
)

// StatusError is returned for a non-2xx response, which is never cached.
// It matches ErrStatus with errors.Is.
type StatusError struct {
	URL  string
	Code int
}

// Error says which URL answered with which status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("fetch: GET %s: HTTP status %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// Unwrap makes errors.Is(err, ErrStatus) true.
func (e *StatusError) Unwrap() error { return ErrStatus }

// Getter fetches HTTPS resources for collateral, caching each response (body
// and headers) in Dir keyed by sha256(url), for at most MaxAge (or until the
// response's own expiry, if earlier: Cache-Control max-age / Expires), with a
// per-request Timeout, a response size limit, and only https URLs on an
// allow-list of hosts. Stale cache entries are refetched; if the refetch fails
// the error is returned (stale data is never used). Non-2xx responses are
// errors and are not cached.
//
// It implements go-sev-guest's trust.HTTPSGetter and trust.ContextHTTPSGetter;
// TDX returns the go-tdx-guest form. A Getter is safe for concurrent use
// (concurrent requests for one URL share a single fetch) and must not be
// copied after first use. Zero-valued fields take the defaults above.
type Getter struct {
	// Dir is the cache directory (created 0700; entries are written 0600).
	Dir string
	// Client performs requests; nil means a client with http.DefaultTransport.
	// Its CheckRedirect is wrapped so that redirects obey the allow-list.
	Client *http.Client
	// Timeout bounds one fetch, connection to last body byte.
	Timeout time.Duration
	// MaxAge bounds how long a cached response is used.
	MaxAge time.Duration
	// MaxSize bounds a response body, in bytes.
	MaxSize int64
	// AllowHosts are the host names (no port) that may be fetched;
	// empty means DefaultAllowHosts.
	AllowHosts []string
	// Mirrors optionally sends requests for an allowed host to another https
	// base URL (e.g. an operator's caching proxy, or a test server): host ->
	// "https://mirror.example:8443[/prefix]". The cache key stays the original URL.
	Mirrors map[string]string
	// Now is the clock used for cache expiry; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	inflight map[string]*call
}

// call is one network fetch shared by every concurrent Get of its URL.
type call struct {
	done   chan struct{}
	header http.Header
	body   []byte
	err    error
}

// New returns a Getter caching in dir (created with mode 0700 if missing).
// A zero timeout or maxAge selects DefaultTimeout or DefaultMaxAge.
func New(dir string, timeout, maxAge time.Duration) (*Getter, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: empty cache directory", ErrConfig)
	}
	if timeout < 0 || maxAge < 0 {
		return nil, fmt.Errorf("%w: negative timeout %s or max age %s", ErrConfig, timeout, maxAge)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCache, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCache, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrCache, dir)
	}
	return &Getter{Dir: dir, Timeout: timeout, MaxAge: maxAge}, nil
}

func (g *Getter) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return DefaultTimeout
}

func (g *Getter) maxAge() time.Duration {
	if g.MaxAge > 0 {
		return g.MaxAge
	}
	return DefaultMaxAge
}

func (g *Getter) maxSize() int64 {
	if g.MaxSize > 0 {
		return g.MaxSize
	}
	return DefaultMaxSize
}

func (g *Getter) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Get returns the body of url (go-sev-guest trust.HTTPSGetter). The request
// is bounded by Timeout only.
func (g *Getter) Get(url string) ([]byte, error) {
	return g.GetContext(context.Background(), url)
}

// GetContext returns the body of url (go-sev-guest trust.ContextHTTPSGetter);
// ctx cancels the wait, Timeout bounds the fetch.
func (g *Getter) GetContext(ctx context.Context, url string) ([]byte, error) {
	_, body, err := g.GetHeader(ctx, url)
	return body, err
}

// GetHeader returns the response headers and body of url, from the cache if
// a fresh entry exists, otherwise from the network (then cached). The returned
// values are the caller's to modify.
func (g *Getter) GetHeader(ctx context.Context, rawURL string) (http.Header, []byte, error) {
	if _, err := g.checkURL(rawURL); err != nil {
		return nil, nil, err
	}
	if g.Dir == "" {
		return nil, nil, fmt.Errorf("%w: GET %s: no cache directory", ErrConfig, rawURL)
	}
	if e := g.readFresh(rawURL); e != nil {
		return e.Header, e.Body, nil
	}
	c := g.join(rawURL)
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("fetch: GET %s: %w", rawURL, ctx.Err())
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	return c.header.Clone(), slices.Clone(c.body), nil
}

// join returns the in-flight fetch of rawURL, starting one if there is none.
// The fetch runs detached from any caller's context (bounded by Timeout), so
// one caller giving up does not fail the others.
func (g *Getter) join(rawURL string) *call {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.inflight[rawURL]; ok {
		return c
	}
	if g.inflight == nil {
		g.inflight = make(map[string]*call)
	}
	c := &call{done: make(chan struct{})}
	g.inflight[rawURL] = c
	go func() {
		c.header, c.body, c.err = g.fetchAndStore(rawURL)
		g.mu.Lock()
		delete(g.inflight, rawURL)
		g.mu.Unlock()
		close(c.done)
	}()
	return c
}

// fetchAndStore rechecks the cache (a previous fetch may just have filled
// it), then fetches and caches rawURL.
func (g *Getter) fetchAndStore(rawURL string) (http.Header, []byte, error) {
	if e := g.readFresh(rawURL); e != nil {
		return e.Header, e.Body, nil
	}
	e, err := g.fetch(rawURL)
	if err != nil {
		return nil, nil, err
	}
	if e.expiry(g.maxAge()).After(e.Fetched) {
		if err := g.write(e); err != nil {
			return nil, nil, err
		}
	}
	return e.Header, e.Body, nil
}

// checkURL enforces https, no credentials, the default port, and the host
// allow-list.
func (g *Getter) checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrURL, rawURL, err)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %s: scheme %q, want https", ErrURL, rawURL, u.Scheme)
	}
	if u.User != nil {
		return nil, fmt.Errorf("%w: %s: credentials in URL", ErrURL, rawURL)
	}
	if p := u.Port(); p != "" && p != "443" {
		return nil, fmt.Errorf("%w: %s: port %s", ErrURL, rawURL, p)
	}
	host := strings.ToLower(u.Hostname())
	allowed := g.AllowHosts
	if len(allowed) == 0 {
		allowed = DefaultAllowHosts
	}
	if !slices.ContainsFunc(allowed, func(h string) bool { return strings.EqualFold(h, host) }) {
		return nil, fmt.Errorf("%w: %s: host %q is not on the allow-list %v", ErrURL, rawURL, host, allowed)
	}
	return u, nil
}

// TDX returns g in go-tdx-guest's getter form (headers and body). The value
// also has GetContext(ctx, url), which tdx.FetchCollateral uses.
func (g *Getter) TDX() tdxtrust.HTTPSGetter { return tdxGetter{g} }

type tdxGetter struct{ g *Getter }

func (t tdxGetter) Get(url string) (map[string][]string, []byte, error) {
	return t.GetContext(context.Background(), url)
}

// GetContext is Get bound to ctx (go-tdx-guest trust.ContextHTTPSGetter).
func (t tdxGetter) GetContext(ctx context.Context, url string) (map[string][]string, []byte, error) {
	h, b, err := t.g.GetHeader(ctx, url)
	return h, b, err
}
