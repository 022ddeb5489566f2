package fetch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// entryVersion is the cache file format version.
const entryVersion = 1

// entry is one cached response. On disk it is a JSON object (body base64),
// one file per URL named hex(sha256(url)) under Getter.Dir.
type entry struct {
	Version int         `json:"v"`
	URL     string      `json:"url"`
	Fetched time.Time   `json:"fetched"`
	Expires time.Time   `json:"expires,omitzero"` // the response's own expiry; zero = none
	Header  http.Header `json:"header,omitempty"`
	Body    []byte      `json:"body"`
}

// expiry is when the entry stops being usable: MaxAge after the fetch, or
// the response's own expiry if that is earlier.
func (e *entry) expiry(maxAge time.Duration) time.Time {
	exp := e.Fetched.Add(maxAge)
	if !e.Expires.IsZero() && e.Expires.Before(exp) {
		exp = e.Expires
	}
	return exp
}

// fresh reports whether e may be used at now. A fetch time in the future
// (the clock went back) makes the entry stale rather than long-lived.
func (e *entry) fresh(now time.Time, maxAge time.Duration) bool {
	return !now.Before(e.Fetched) && now.Before(e.expiry(maxAge))
}

// maxEntryFile bounds a cache file for a body limit of maxSize: base64 of the
// body, headers at the worst JSON escaping (6 bytes per byte), and slack.
func maxEntryFile(maxSize int64) int64 {
	return (maxSize+2)/3*4 + 6*MaxHeaderBytes + 4096
}

// errEntry is wrapped by parseEntry errors. The Getter treats an unusable
// entry as a miss and overwrites it.
var errEntry = errors.New("fetch: invalid cache entry")

// parseEntry decodes and checks a cache file for url: size limits before
// decoding, format version, the URL it claims to hold, and body and header
// sizes after decoding.
func parseEntry(b []byte, url string, maxSize int64) (*entry, error) {
	if limit := maxEntryFile(maxSize); int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", errEntry, len(b), limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var e entry
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %w", errEntry, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", errEntry)
	}
	switch {
	case e.Version != entryVersion:
		return nil, fmt.Errorf("%w: version %d, want %d", errEntry, e.Version, entryVersion)
	case e.URL != url:
		return nil, fmt.Errorf("%w: holds %q, not %q", errEntry, e.URL, url)
	case e.Fetched.IsZero():
		return nil, fmt.Errorf("%w: no fetch time", errEntry)
	case int64(len(e.Body)) > maxSize:
		return nil, fmt.Errorf("%w: body %d bytes exceeds %d", errEntry, len(e.Body), maxSize)
	case headerSize(e.Header) > MaxHeaderBytes:
		return nil, fmt.Errorf("%w: headers exceed %d bytes", errEntry, MaxHeaderBytes)
	}
	if e.Body == nil {
		e.Body = []byte{}
	}
	return &e, nil
}

// path is the cache file of url.
func (g *Getter) path(url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(g.Dir, hex.EncodeToString(sum[:]))
}

// readFresh returns the cached entry for url if it exists, is valid and is
// fresh now; anything else is a miss.
func (g *Getter) readFresh(url string) *entry {
	f, err := os.Open(g.path(url))
	if err != nil {
		return nil
	}
	defer f.Close()
	limit := maxEntryFile(g.maxSize())
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil
	}
	e, err := parseEntry(b, url, g.maxSize())
	if err != nil || !e.fresh(g.now(), g.maxAge()) {
		return nil
	}
	return e
}

// write stores e atomically (temporary file in Dir, then rename) with mode 0600.
func (g *Getter) write(e *entry) (err error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return fmt.Errorf("%w: encode entry for %s: %w", ErrCache, e.URL, err)
	}
	if err := os.MkdirAll(g.Dir, 0o700); err != nil {
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	tmp, err := os.CreateTemp(g.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	if err := os.Rename(tmp.Name(), g.path(e.URL)); err != nil {
		return fmt.Errorf("%w: store %s: %w", ErrCache, e.URL, err)
	}
	return nil
}
