package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// fetch performs one GET of rawURL (through its mirror, if any) and returns
// the response as a cache entry. Only 2xx responses within the size limits
// succeed.
func (g *Getter) fetch(rawURL string) (*entry, error) {
	u, err := g.checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	target, err := g.mirror(u)
	if err != nil {
		return nil, err
	}
	timeout := g.timeout()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: GET %s: %w", rawURL, err)
	}
	fetched := g.now()
	resp, err := g.client(target).Do(req)
	if err != nil {
		return nil, g.netErr(ctx, rawURL, timeout, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // lets the connection be reused
		return nil, &StatusError{URL: rawURL, Code: resp.StatusCode}
	}
	limit := g.maxSize()
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("fetch: GET %s: Content-Length %d: %w (limit %d)", rawURL, resp.ContentLength, ErrTooLarge, limit)
	}
	if n := headerSize(resp.Header); n > MaxHeaderBytes {
		return nil, fmt.Errorf("fetch: GET %s: %d bytes of headers: %w (limit %d)", rawURL, n, ErrTooLarge, MaxHeaderBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, g.netErr(ctx, rawURL, timeout, fmt.Errorf("reading body: %w", err))
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("fetch: GET %s: body exceeds %d bytes: %w", rawURL, limit, ErrTooLarge)
	}
	return &entry{
		Version: entryVersion,
		URL:     rawURL,
		Fetched: fetched.UTC(),
		Expires: responseExpiry(resp.Header, fetched),
		Header:  resp.Header,
		Body:    body,
	}, nil
}

// netErr names a timeout as such; other transport errors pass through.
func (g *Getter) netErr(ctx context.Context, rawURL string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("fetch: GET %s: %w after %s: %w", rawURL, ErrTimeout, timeout, err)
	}
	return fmt.Errorf("fetch: GET %s: %w", rawURL, err)
}

// mirror rewrites u to its configured mirror, keeping path and query.
func (g *Getter) mirror(u *url.URL) (*url.URL, error) {
	base, ok := g.Mirrors[strings.ToLower(u.Hostname())]
	if !ok {
		return u, nil
	}
	m, err := url.Parse(base)
	if err != nil || m.Scheme != "https" || m.Host == "" || m.User != nil || m.RawQuery != "" {
		return nil, fmt.Errorf("%w: mirror %q for %s must be an https base URL", ErrURL, base, u.Hostname())
	}
	out := *u
	out.Host = m.Host
	out.Path = strings.TrimSuffix(m.Path, "/") + u.Path
	out.RawPath = ""
	return &out, nil
}

// client returns a shallow copy of the configured client whose redirects
// must stay on the target's host or go to an allowed https URL.
func (g *Getter) client(target *url.URL) *http.Client {
	c := http.Client{}
	if g.Client != nil {
		c = *g.Client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", ErrURL, maxRedirects)
		}
		sameHost := req.URL.Scheme == "https" && strings.EqualFold(req.URL.Host, target.Host)
		if !sameHost {
			if _, err := g.checkURL(req.URL.String()); err != nil {
				return fmt.Errorf("redirect: %w", err)
			}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
	return &c
}

// headerSize is the number of header bytes that a cache entry would keep.
func headerSize(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// responseExpiry is the response's own expiry (RFC 9111): no-store/no-cache
// mean "already expired", Cache-Control max-age wins over Expires, and an
// unparsable Expires is in the past. Zero means the response sets none.
func responseExpiry(h http.Header, fetched time.Time) time.Time {
	fetched = fetched.UTC()
	maxAge, haveMaxAge := time.Duration(0), false
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return fetched
			case "max-age":
				secs, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64)
				if err != nil || secs < 0 {
					return fetched
				}
				if secs > int64(100*365*24*time.Hour/time.Second) {
					secs = int64(100 * 365 * 24 * time.Hour / time.Second)
				}
				if d := time.Duration(secs) * time.Second; !haveMaxAge || d < maxAge {
					maxAge, haveMaxAge = d, true
				}
			}
		}
	}
	if haveMaxAge {
		return fetched.Add(maxAge)
	}
	if exp := h.Get("Expires"); exp != "" {
		t, err := http.ParseTime(exp)
		if err != nil {
			return fetched
		}
		return t.UTC()
	}
	return time.Time{}
}
