package peersuite

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/tlsbind"
)

// httpAttLink is the attester's side of seatrx's HTTP API: the relying
// party is the TLS server; its challenge is POST /v1/attest/challenge, its
// verdict the answer to POST /v1/attest (an EAR, or a problem).
type httpAttLink struct {
	c    *client.Conn
	dump *capture.Session
}

func dialHTTP(ctx context.Context, ep *Endpoint, prover *tlsbind.Prover, prof tlsbind.Profile, dumpName string) (*httpAttLink, error) {
	cfg := client.Config{Server: "https://" + ep.Target, Roots: ep.Roots, Prover: prover, Profile: prof, KeyLog: ep.KeyLog,
		ConnectTimeout: ep.step(), HandshakeTimeout: ep.step(), RequestTimeout: ep.step()}
	if ep.Insecure || ep.ServerName != "" {
		return nil, errors.New("peersuite: the HTTP transport verifies the server as seatrx's client does (--ca or --dev); --tls-insecure and --server-name are for the raw framings")
	}
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cs := c.ConnectionState()
	return &httpAttLink{c: c, dump: ep.Dump.Start(dumpName, expat.Client, &cs)}, nil
}

func (l *httpAttLink) state() tls.ConnectionState { return l.c.ConnectionState() }
func (l *httpAttLink) role() expat.Role           { return expat.Client }
func (l *httpAttLink) close()                     { l.c.Close() }
func (l *httpAttLink) session() *capture.Session  { return l.dump }

func (l *httpAttLink) request(ctx context.Context) ([]byte, error) {
	req, err := l.c.Do(ctx, http.MethodPost, api.PathChallenge, "", nil)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", api.PathChallenge, err)
	}
	l.dump.Message(capture.Received, capture.KindRequest, req, "")
	return req, nil
}

func (l *httpAttLink) answer(ctx context.Context, auth []byte) outcome {
	l.dump.Message(capture.Sent, capture.KindAuthenticator, auth, "")
	ear, err := l.c.Do(ctx, http.MethodPost, api.PathAttest, api.MediaAuthenticator, auth)
	var p *api.Problem
	switch {
	case err == nil:
		l.dump.Message(capture.Received, capture.KindResult, ear, "")
		return outcome{accepted: true, how: fmt.Sprintf("200 with a %d-byte EAR", len(ear))}
	case errors.As(err, &p):
		l.dump.Message(capture.Received, capture.KindError, []byte(p.Detail), p.Code)
		return outcome{how: fmt.Sprintf("problem, HTTP %d", p.Status), code: p.Code}
	}
	return outcome{err: fmt.Errorf("POST %s: %w", api.PathAttest, err)}
}

// httpRPLink is the relying party's side of seatrx's HTTP API on one
// connection of Serve's HTTP server: handlers turn the attester's requests
// into calls that the scenario, running sequentially, takes and answers.
type httpRPLink struct {
	cs    tls.ConnectionState
	step  time.Duration
	dump  *capture.Session
	calls chan *call
	gone  chan struct{} // the connection closed
	done  chan struct{} // the scenario is over
	// Owned by the scenario's goroutine.
	pending  *call // a challenge call taken while waiting for an answer
	awaiting *call // the attest call awaiting the verdict
}

// call is one HTTP request of the attester, with the channel its handler
// waits on for the answer.
type call struct {
	attest bool // POST /v1/attest (else a challenge)
	body   []byte
	reply  chan httpReply
}

type httpReply struct {
	status  int
	ctype   string
	body    []byte
	problem *api.Problem
}

func problemReply(p *api.Problem) httpReply { return httpReply{status: p.Status, problem: p} }

func ownProblem(status int, e *Error) *api.Problem {
	return &api.Problem{Type: api.ProblemTypePrefix + e.ProblemCode(), Title: "Conformance peer", Status: status, Detail: e.Detail, Code: e.ProblemCode()}
}

func (r httpReply) write(w http.ResponseWriter) {
	if r.problem != nil {
		w.Header().Set("Content-Type", api.MediaProblem)
		w.WriteHeader(r.problem.Status)
		json.NewEncoder(w).Encode(r.problem)
		return
	}
	w.Header().Set("Content-Type", r.ctype)
	w.WriteHeader(r.status)
	w.Write(r.body)
}

// submit hands the handler's call to the scenario and waits for its reply.
func (l *httpRPLink) submit(ctx context.Context, c *call) httpReply {
	c.reply = make(chan httpReply, 1)
	select {
	case l.calls <- c:
	case <-l.done:
		return problemReply(ownProblem(http.StatusForbidden, fail(CodeScenarioDone, "this connection's scenario is over; open a new connection")))
	case <-ctx.Done():
		return problemReply(ownProblem(http.StatusServiceUnavailable, fail(CodeScenarioDone, "request cancelled")))
	}
	select {
	case r := <-c.reply:
		return r
	case <-ctx.Done():
		return problemReply(ownProblem(http.StatusServiceUnavailable, fail(CodeScenarioDone, "request cancelled")))
	}
}

// wait takes the attester's next call, or says why there is none.
func (l *httpRPLink) wait() (*call, answerKind) {
	t := time.NewTimer(l.step)
	defer t.Stop()
	select {
	case c := <-l.calls:
		return c, 0
	case <-l.gone:
		return nil, ansClosed
	case <-t.C:
		return nil, ansSilent
	}
}

func (l *httpRPLink) exchange(_ context.Context, req []byte) answer {
	c := l.pending
	l.pending = nil
	if c == nil {
		var k answerKind
		if c, k = l.wait(); c == nil {
			return answer{kind: k, detail: "no challenge was asked for"}
		}
	}
	if c.attest {
		c.reply <- problemReply(ownProblem(http.StatusForbidden, fail(CodeUnsolicited, "an authenticator before any challenge on this connection (RFC 9261 §5: a client sends none unrequested)")))
		return answer{kind: ansMalformed, delivered: true, detail: "sent an authenticator before asking for a challenge (RFC 9261 §5)"}
	}
	c.reply <- httpReply{status: http.StatusOK, ctype: api.MediaRequest, body: req}
	l.dump.Message(capture.Sent, capture.KindRequest, req, "")
	n, k := l.wait()
	switch {
	case n == nil:
		return answer{kind: k, delivered: true}
	case !n.attest:
		l.pending = n
		return answer{kind: ansMovedOn, delivered: true}
	}
	l.awaiting = n
	l.dump.Message(capture.Received, capture.KindAuthenticator, n.body, "")
	return answer{kind: ansAuthenticator, delivered: true, auth: n.body}
}

func (l *httpRPLink) decide(v verdict) {
	c := l.awaiting
	l.awaiting = nil
	if c == nil {
		return
	}
	if v.problem != nil {
		l.dump.Message(capture.Sent, capture.KindError, []byte(v.problem.Detail), v.problem.Code)
		c.reply <- problemReply(v.problem)
		return
	}
	l.dump.Message(capture.Sent, capture.KindResult, v.ear, "")
	c.reply <- httpReply{status: http.StatusOK, ctype: api.MediaEAR, body: v.ear}
}

func (l *httpRPLink) state() tls.ConnectionState { return l.cs }
func (l *httpRPLink) role() expat.Role           { return expat.Server }
func (l *httpRPLink) session() *capture.Session  { return l.dump }

// close ends the scenario: calls still waiting are told so.
func (l *httpRPLink) close() {
	close(l.done)
	for _, c := range []*call{l.pending, l.awaiting} {
		if c != nil {
			c.reply <- problemReply(ownProblem(http.StatusForbidden, fail(CodeScenarioDone, "this connection's scenario is over")))
		}
	}
}

// readBody reads at most limit bytes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("body over %d bytes", limit)
	}
	return b, err
}
