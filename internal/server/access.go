package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// MaxOverloadLogLines bounds the access-log lines per second of overload
// refusals (429 and 503): under a flood of refused requests the log would
// otherwise become the bottleneck, each refused request's goroutine and
// buffers queuing on the log writer (measured: 28,000 goroutines and
// 900 MB held under seatrx bench --scenario h2-streams). The refusals
// beyond it are still counted by seatrx_admission_refusals_total; the next
// line logged says how many were left out (suppressed).
const MaxOverloadLogLines = 20

// MaxHeaderBytes is the documented limit of a request's header block: the
// sum over its fields of len(name)+len(value)+32 (the HTTP/2 accounting of
// RFC 9113 §6.5.2, applied to HTTP/1.1 too). A request over it gets a 431
// server.headers_too_large problem from the front handler.
const MaxHeaderBytes = 16 << 10

// transportHeaderBytes is what net/http itself is allowed to read
// (http.Server.MaxHeaderBytes, and so the HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE
// it advertises): four times MaxHeaderBytes, so that a header block between
// the two limits reaches the front handler and is refused there as a problem
// on its own stream. Only a block over this one is refused by net/http
// itself: in plain text over HTTP/1.1, and over HTTP/2 by ending the
// connection (docs/PROTOCOL.md, "Responses the server does not control").
const transportHeaderBytes = 4 * MaxHeaderBytes

// front is the handler in front of the router: it refuses oversized header
// blocks, turns the router's own answers (404, 405 with Allow, the 307 of
// path cleaning) into problems, and writes one access-log line per request.
func (s *Server) front(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recWriter{ResponseWriter: w, r: r}
		if n := headerBytes(r); n > MaxHeaderBytes {
			reject(rw, &Error{Status: http.StatusRequestHeaderFieldsTooLarge, Code: CodeHeadersTooLarge, Title: "Request header fields too large",
				Detail: fmt.Sprintf("the header block is %d bytes (name+value+32 per field); the limit is %d", n, MaxHeaderBytes)})
		} else {
			mux.ServeHTTP(rw, r)
		}
		s.accessLog(rw, r, time.Since(start))
	})
}

// headerBytes is the size of r's header block as MaxHeaderBytes counts it.
func headerBytes(r *http.Request) int {
	n := 0
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 32
		}
	}
	return n
}

// accessLog writes the one line per request: method, path, status, wire
// code (for a problem), peer address, connection id, duration in ms.
func (s *Server) accessLog(rw *recWriter, r *http.Request, d time.Duration) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	var suppressed int
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		var ok bool
		if ok, suppressed = s.overloadLog.allow(time.Now()); !ok {
			return
		}
	}
	connID := ""
	if c := connOf(r); c != nil {
		connID = c.id
	}
	attrs := []slog.Attr{slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
		slog.String("code", rw.code), slog.String("peer", r.RemoteAddr), slog.String("conn", connID),
		slog.Duration("duration", d)}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// logLimiter lets at most max lines through per second and counts the
// others, so the next line can say how many were left out.
type logLimiter struct {
	max int

	mu         sync.Mutex
	second     int64 // Unix second of the current window
	n          int   // lines let through in it
	suppressed int   // lines left out since the last one let through
}

// allow reports whether a line at now may be written and, if so, how many
// were left out before it.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if sec := now.Unix(); sec != l.second {
		l.second, l.n = sec, 0
	}
	if l.n >= l.max {
		l.suppressed++
		return false, 0
	}
	l.n++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// recWriter records the status and problem code of a response for the
// access log, and replaces the router's own plain-text answers by problems.
type recWriter struct {
	http.ResponseWriter
	r      *http.Request
	status int
	code   string // wire code of the problem written, if any
	muted  bool   // the router's own body is being discarded
}

func (w *recWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	if e := w.routerAnswer(status); e != nil {
		w.muted = true
		reject(w.ResponseWriter, e)
		w.status, w.code = e.Status, e.ProblemCode()
		return
	}
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *recWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.muted {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *recWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// problemWritten notes the wire code of a problem written through w.
func (w *recWriter) problemWritten(code string) { w.code = code }

// routerAnswer recognizes an answer that the router (http.ServeMux) writes
// itself, never a handler of ours: ours set a Content-Type before any error
// status, and never redirect. It returns the problem that replaces it; the
// router's Allow (405) and Location (307) headers stay on the answer.
func (w *recWriter) routerAnswer(status int) *Error {
	h := w.Header()
	if ct := h.Get("Content-Type"); ct != "" && ct != "text/plain; charset=utf-8" && ct != "text/html; charset=utf-8" {
		return nil
	}
	switch status {
	case http.StatusNotFound:
		return &Error{Status: status, Code: CodeNotFound, Title: "No such resource",
			Detail: fmt.Sprintf("no endpoint at %q; GET %s lists the API", w.r.URL.Path, "/.well-known/seatrx")}
	case http.StatusMethodNotAllowed:
		allow := h.Get("Allow")
		return &Error{Status: status, Code: CodeMethodNotAllowed, Title: "Method not allowed",
			Detail: fmt.Sprintf("%s %s: this endpoint allows %s", w.r.Method, w.r.URL.Path, allow)}
	case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		loc := h.Get("Location")
		return &Error{Status: status, Code: CodeRedirect, Title: "Non-canonical path",
			Detail: fmt.Sprintf("the path %q is not in canonical form; repeat the request at %q", w.r.URL.Path, loc)}
	}
	return nil
}
