package peersuite

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/frame"
)

// answerKind is what an attester did with a request.
type answerKind int

const (
	ansAuthenticator answerKind = iota + 1 // sent an authenticator (possibly empty)
	ansRefused                             // refused explicitly (an error frame)
	ansClosed                              // closed the connection
	ansSilent                              // sent nothing within the step timeout
	ansMovedOn                             // HTTP: asked for another challenge instead of answering
	ansMalformed                           // sent something that is neither
)

// answer is an attester's reaction to one request.
type answer struct {
	kind      answerKind
	delivered bool   // the request reached the attester (HTTP: it asked for a challenge)
	auth      []byte // ansAuthenticator
	code      string // ansRefused: the problem's code
	detail    string
}

func (a answer) String() string {
	switch a.kind {
	case ansAuthenticator:
		return fmt.Sprintf("sent an authenticator (%d bytes)", len(a.auth))
	case ansRefused:
		return "refused with an error frame (" + a.code + ")"
	case ansClosed:
		return "closed the connection without answering"
	case ansSilent:
		return "did not answer within the step timeout"
	case ansMovedOn:
		return "asked for another challenge without answering"
	}
	return "sent something else: " + a.detail
}

// verdict is the relying party's decision on an authenticator: an EAR, or a
// problem.
type verdict struct {
	ear     []byte
	problem *api.Problem
}

// problemOf is the problem for err, with its wire code.
func problemOf(err error) *api.Problem {
	code := problemCode(err)
	if code == "" {
		code = "server.internal"
	}
	return &api.Problem{Type: api.ProblemTypePrefix + code, Title: "Attestation refused", Status: 403, Detail: err.Error(), Code: code}
}

func problemCode(err error) string {
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

// rpLink is one connection as the relying party sees it.
type rpLink interface {
	// exchange gives the attester req and returns its reaction.
	exchange(ctx context.Context, req []byte) answer
	// decide sends the verdict on the authenticator exchange returned.
	decide(v verdict)
	state() tls.ConnectionState
	role() expat.Role // this side's TLS role
	session() *capture.Session
	close()
}

// outcome is a relying party's reaction to one authenticator.
type outcome struct {
	accepted bool
	how      string // what it did
	code     string // a refusal's wire code, if it gave one
	err      error  // the exchange broke (no verdict)
}

// attLink is one connection as the attester sees it.
type attLink interface {
	// request waits for the relying party's request.
	request(ctx context.Context) ([]byte, error)
	// answer sends auth and returns the relying party's verdict.
	answer(ctx context.Context, auth []byte) outcome
	state() tls.ConnectionState
	role() expat.Role
	session() *capture.Session
	close()
}

// rawLink is a connection carrying frames: seatrx-raw/1 or cocos's.
type rawLink struct {
	c    *tls.Conn
	tr   Transport
	ep   *Endpoint
	self expat.Role
	dump *capture.Session
}

func newRawLink(c *tls.Conn, ep *Endpoint, dumpName string) *rawLink {
	self := expat.Server
	if ep.Target != "" {
		self = expat.Client
	}
	cs := c.ConnectionState()
	return &rawLink{c: c, tr: ep.Transport, ep: ep, self: self, dump: ep.Dump.Start(dumpName, self, &cs)}
}

func (l *rawLink) state() tls.ConnectionState { return l.c.ConnectionState() }
func (l *rawLink) role() expat.Role           { return l.self }
func (l *rawLink) close()                     { l.c.Close() }
func (l *rawLink) session() *capture.Session  { return l.dump }

func (l *rawLink) write(t frame.Type, p []byte) error {
	l.c.SetWriteDeadline(time.Now().Add(l.ep.step()))
	return l.tr.framing().Write(l.c, t, p)
}

// read reads the next frame within d.
func (l *rawLink) read(d time.Duration) (frame.Frame, error) {
	l.c.SetReadDeadline(time.Now().Add(d))
	defer l.c.SetReadDeadline(time.Time{})
	return l.tr.framing().Read(l.c)
}

// readFailure says what a failed read means: the peer closed, went silent,
// or sent something malformed.
func readFailure(err error) (answerKind, string) {
	var fe *frame.Error
	var ae tls.AlertError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ansSilent, ""
	case errors.As(err, &fe):
		return ansMalformed, fe.Error()
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		return ansClosed, ""
	case errors.As(err, &ae):
		return ansClosed, "TLS alert " + ae.Error()
	}
	return ansClosed, err.Error() // a reset: the peer went away
}

func (l *rawLink) exchange(_ context.Context, req []byte) answer {
	if err := l.write(frame.TypeRequest, req); err != nil {
		k, d := readFailure(err)
		return answer{kind: k, detail: d}
	}
	l.dump.Message(capture.Sent, capture.KindRequest, req, "")
	f, err := l.read(l.ep.step())
	if err != nil {
		k, d := readFailure(err)
		return answer{kind: k, delivered: true, detail: d}
	}
	switch f.Type {
	case frame.TypeAuthenticator:
		l.dump.Message(capture.Received, capture.KindAuthenticator, f.Payload, "")
		return answer{kind: ansAuthenticator, delivered: true, auth: f.Payload}
	case frame.TypeError:
		code := problemFrameCode(f.Payload)
		l.dump.Message(capture.Received, capture.KindError, f.Payload, code)
		return answer{kind: ansRefused, delivered: true, code: code}
	}
	return answer{kind: ansMalformed, delivered: true, detail: frame.Unexpected(f.Type, "an authenticator or an error").Error()}
}

// problemFrameCode reads the code of an error frame's problem ("" if it
// has none).
func problemFrameCode(p []byte) string {
	var pr api.Problem
	if json.Unmarshal(p, &pr) != nil || pr.Code == "" {
		return "(no code)"
	}
	return pr.Code
}

func (l *rawLink) decide(v verdict) {
	switch {
	case l.tr == Cocos && v.problem != nil:
		// cocos's framing has no error frame: a refusal closes.
		l.dump.Message(capture.Sent, capture.KindError, nil, v.problem.Code)
		l.c.Close()
	case l.tr == Cocos:
		l.dump.Message(capture.Sent, capture.KindResult, nil, "")
	case v.problem != nil:
		b, _ := json.Marshal(v.problem)
		l.write(frame.TypeError, b)
		l.dump.Message(capture.Sent, capture.KindError, b, v.problem.Code)
	default:
		l.write(frame.TypeResult, v.ear)
		l.dump.Message(capture.Sent, capture.KindResult, v.ear, "")
	}
}

func (l *rawLink) request(_ context.Context) ([]byte, error) {
	f, err := l.read(l.ep.step())
	if err != nil {
		return nil, fmt.Errorf("waiting for the relying party's request: %w", err)
	}
	switch f.Type {
	case frame.TypeRequest:
		l.dump.Message(capture.Received, capture.KindRequest, f.Payload, "")
		return f.Payload, nil
	case frame.TypeError:
		return nil, fmt.Errorf("the relying party sent an error frame (%s) instead of a request", problemFrameCode(f.Payload))
	}
	return nil, frame.Unexpected(f.Type, "a request")
}

func (l *rawLink) answer(_ context.Context, auth []byte) outcome {
	if err := l.write(frame.TypeAuthenticator, auth); err != nil {
		return outcome{err: fmt.Errorf("sending the authenticator: %w", err)}
	}
	l.dump.Message(capture.Sent, capture.KindAuthenticator, auth, "")
	if l.tr == Cocos {
		return l.cocosVerdict()
	}
	f, err := l.read(l.ep.step())
	if err != nil {
		switch k, d := readFailure(err); k {
		case ansClosed:
			return outcome{how: strings.TrimSpace("closed the connection " + d)}
		case ansSilent:
			return outcome{err: fmt.Errorf("no verdict within %s", l.ep.step())}
		default:
			return outcome{err: fmt.Errorf("malformed verdict: %s", d)}
		}
	}
	switch f.Type {
	case frame.TypeResult:
		l.dump.Message(capture.Received, capture.KindResult, f.Payload, "")
		return outcome{accepted: true, how: fmt.Sprintf("result frame (%d-byte EAR)", len(f.Payload))}
	case frame.TypeError:
		code := problemFrameCode(f.Payload)
		l.dump.Message(capture.Received, capture.KindError, f.Payload, code)
		return outcome{how: "error frame", code: code}
	}
	return outcome{err: frame.Unexpected(f.Type, "a result or an error")}
}

// cocosVerdict infers a cocos relying party's verdict, which its framing
// does not carry: it closes the connection to refuse; after accepting it
// starts its application protocol on the connection (any byte) or keeps it
// open.
func (l *rawLink) cocosVerdict() outcome {
	l.c.SetReadDeadline(time.Now().Add(l.ep.verdictWait()))
	defer l.c.SetReadDeadline(time.Time{})
	var b [1]byte
	n, err := l.c.Read(b[:])
	switch {
	case n > 0:
		return outcome{accepted: true, how: "started its application protocol"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return outcome{accepted: true, how: fmt.Sprintf("kept the connection open for %s (cocos framing has no verdict)", l.ep.verdictWait())}
	}
	_, d := readFailure(err)
	return outcome{how: strings.TrimSpace("closed the connection " + d)}
}

// refuse declines the relying party's request as an attester: an error
// frame carrying err's code in seatrx-raw/1, then (in both framings) the
// connection is closed.
func (l *rawLink) refuse(err error) {
	if l.tr != Cocos {
		b, _ := json.Marshal(problemOf(err))
		l.write(frame.TypeError, b)
		l.dump.Message(capture.Sent, capture.KindError, b, problemCode(err))
	}
	l.c.Close()
}
