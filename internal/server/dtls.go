package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/dtls/v4"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/datagram"
	"github.com/seatrx/seatrx/internal/frame"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// DTLSHandshakeTimeout bounds a DTLS connection's handshake.
const DTLSHandshakeTimeout = 10 * time.Second

// dtlsServer is the DTLS 1.3 listener (Config.DTLSAddr, docs/PROTOCOL.md
// §13): each connection runs one exchange of seatrx-issue/1 frames, which
// the HTTP handlers answer exactly as they answer the same request over
// HTTPS (same policy, store, receipts, metrics and refusals).
type dtlsServer struct {
	s  *Server
	ln net.Listener

	mu     sync.Mutex
	conns  map[*dtls.Conn]struct{}
	byAddr map[netip.Addr]int // connections per source address
	closed bool
	wg     sync.WaitGroup
}

// dtlsParams are what a receipt records about a DTLS connection.
type dtlsParams struct {
	suite  uint16
	sni    string
	remote string
}

// peerAddr is the connection's remote address, for logs.
func (c *conn) peerAddr() string {
	if c.dtls != nil {
		return c.dtls.remote
	}
	return c.tls.RemoteAddr().String()
}

// snapshotParams returns the connection's version, suite, server name and
// transport, as the receipt's context snapshot records them.
func (c *conn) snapshotParams() (version, suite uint16, sni, transport string) {
	if c.dtls != nil {
		return datagram.Version13, c.dtls.suite, c.dtls.sni, receipt.TransportDTLS
	}
	cs := c.tls.ConnectionState()
	return cs.Version, cs.CipherSuite, cs.ServerName, receipt.TransportTLS
}

// listenDTLS opens the DTLS listener on cfg.DTLSAddr (nothing if empty).
func (s *Server) listenDTLS() error {
	if s.cfg.DTLSAddr == "" {
		return nil
	}
	addr, err := net.ResolveUDPAddr("udp", s.cfg.DTLSAddr)
	if err != nil {
		return fmt.Errorf("server: DTLS address %q: %w", s.cfg.DTLSAddr, err)
	}
	ln, err := dtls.ListenAddr("udp", addr, datagram.ServerOptions(s.tlsCfg.Certificates, s.cfg.KeyLog)...)
	if err != nil {
		return fmt.Errorf("server: DTLS listen: %w", err)
	}
	s.dtls = &dtlsServer{s: s, ln: ln, conns: map[*dtls.Conn]struct{}{}, byAddr: map[netip.Addr]int{}}
	return nil
}

// DTLSAddr returns the DTLS listener's address (nil without one).
func (s *Server) DTLSAddr() net.Addr {
	if s.dtls == nil {
		return nil
	}
	return s.dtls.ln.Addr()
}

// serve accepts DTLS connections until the listener closes. A connection
// is closed before its handshake when its address is penalized (strikes.go)
// or when it would pass the un-attested bounds, in total
// (Config.MaxUnattestedConns) or from its address
// (Config.MaxUnattestedPerAddr), counted apart from HTTPS's. Every
// connection runs one exchange, which must reach its verdict within
// Config.UnattestedTimeout of accept (handle).
func (d *dtlsServer) serve() {
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			return
		}
		c := nc.(*dtls.Conn)
		addr := addrOf(c)
		reason := ""
		if d.s.adm.strikes.penalized(addr) {
			reason = reasonPenalized
		}
		d.mu.Lock()
		closed := d.closed
		switch {
		case closed || reason != "":
		case len(d.conns) >= d.s.cfg.MaxUnattestedConns:
			reason = reasonDTLSCap
		case d.byAddr[addr] >= d.s.cfg.MaxUnattestedPerAddr:
			reason = reasonDTLSAddrCap
		default:
			d.conns[c] = struct{}{}
			d.byAddr[addr]++
			d.wg.Add(1)
		}
		d.mu.Unlock()
		if closed || reason != "" {
			if !closed {
				d.s.adm.refused(reason)
			}
			c.Close()
			continue
		}
		go func() {
			defer d.wg.Done()
			d.handle(c, addr)
			c.Close()
			d.mu.Lock()
			delete(d.conns, c)
			if d.byAddr[addr]--; d.byAddr[addr] == 0 {
				delete(d.byAddr, addr)
			}
			d.mu.Unlock()
		}()
	}
}

// close stops the listener and ends every connection, then waits for
// their goroutines.
func (d *dtlsServer) close() {
	d.mu.Lock()
	d.closed = true
	d.ln.Close()
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	d.wg.Wait()
}

// handle runs one connection's exchange: handshake, challenge, the
// client's answer, the server's verdict, close. Until the verdict, every
// step is due by the un-attested deadline; a peer that completed its
// handshake and then ran into the deadline is a strike against its address
// (one that did not may be a spoofed source, and is not).
func (d *dtlsServer) handle(dc *dtls.Conn, addr netip.Addr) {
	s := d.s
	id := "d" + s.connPrefix + strconv.FormatUint(s.connSeq.Add(1), 36)
	dctx, cancelDeadline := context.WithTimeout(context.Background(), s.cfg.UnattestedTimeout)
	defer cancelDeadline()
	hctx, cancel := context.WithTimeout(dctx, DTLSHandshakeTimeout)
	err := dc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		if dctx.Err() != nil {
			s.adm.refused(reasonDeadline)
		}
		s.log.Info("DTLS handshake failed", "conn", id, "remote", dc.RemoteAddr().String(), "err", err)
		return
	}
	// Past the deadline, a step's wait ends with its context.
	late := func() bool {
		if dctx.Err() == nil {
			return false
		}
		s.adm.refused(reasonDeadline)
		s.adm.strike(addr)
		return true
	}
	st, _ := dc.ConnectionState()
	t := datagram.New(dc, frame.SeatrxIssue, s.cfg.DTLSTransport)
	defer t.Close()
	ctx := context.Background()
	ch, err := datagram.Channel(st)
	if err != nil {
		s.log.Info("DTLS connection refused", "conn", id, "code", problemCode(err), "err", err)
		d.sendProblem(ctx, t, err, http.StatusForbidden)
		return
	}
	c := &conn{id: id, key: rand.Text(), dtls: &dtlsParams{suite: ch.Suite, sni: st.ServerName, remote: dc.RemoteAddr().String()}}
	c.once.Do(func() {
		c.session, c.err = tlsbind.NewChannelSession(ch, expat.Server, s.cfg.Profiles, s.cfg.MaxAttempts)
	})
	if c.err != nil {
		d.sendProblem(ctx, t, c.err, http.StatusBadRequest)
		return
	}
	// The request frame: what POST /v1/attest/challenge answers.
	status, _, body := d.call(c, s.handleChallenge, api.PathChallenge, "", nil)
	if status != http.StatusOK {
		t.WriteFrame(ctx, frame.TypeError, body)
		t.Flush(ctx)
		return
	}
	if err := t.WriteFrame(dctx, frame.TypeRequest, body); err != nil {
		late()
		s.log.Info("DTLS exchange failed", "conn", id, "code", problemCode(err), "err", err)
		return
	}
	f, err := t.ReadFrame(dctx)
	if err != nil {
		if late() {
			// Closed, as an HTTPS connection is at its deadline.
			s.log.Info("DTLS connection closed at the attestation deadline", "conn", id, "remote", dc.RemoteAddr().String(),
				"deadline_ms", s.cfg.UnattestedTimeout.Milliseconds())
			return
		}
		s.log.Info("DTLS exchange failed", "conn", id, "code", problemCode(err), "err", err)
		d.sendProblem(ctx, t, err, http.StatusBadRequest)
		return
	}
	var handler http.HandlerFunc
	var path, ct string
	var ok frame.Type
	switch f.Type {
	case frame.TypeAttestIssue:
		handler, path, ct, ok = s.handleAttestIssue, api.PathAttestIssue, api.MediaAttestIssueRequest, frame.TypeIssued
	case frame.TypeAuthenticator:
		handler, path, ct, ok = s.handleAttest, api.PathAttest, api.MediaAuthenticator, frame.TypeResult
	default:
		d.sendProblem(ctx, t, frame.Unexpected(f.Type, "an attest-issue or authenticator frame"), http.StatusBadRequest)
		return
	}
	status, _, body = d.call(c, handler, path, ct, f.Payload)
	out := ok
	if status != http.StatusOK {
		out = frame.TypeError
	}
	if err := t.WriteFrame(ctx, out, body); err != nil {
		s.log.Error("DTLS answer not sent", "conn", id, "err", err)
		return
	}
	// Wait for the client's acknowledgement (or its close): the answer
	// carries the receipt's token secret, sent once.
	if err := t.Flush(ctx); err != nil {
		s.log.Info("DTLS answer not acknowledged", "conn", id, "code", problemCode(err), "err", err)
	}
}

// call runs an HTTP handler for connection c with body, in process, and
// returns its status, content type and body: the DTLS exchange gets the
// same answers, refusals and side effects as the HTTP API.
func (d *dtlsServer) call(c *conn, h http.HandlerFunc, path, ct string, body []byte) (int, string, []byte) {
	ctx := context.WithValue(context.Background(), connKey{}, c)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://dtls"+path, bytes.NewReader(body))
	if err != nil { // unreachable: a constant method and URL
		panic(err)
	}
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	r.ContentLength = int64(len(body))
	w := &recorder{h: http.Header{}, status: http.StatusOK}
	h(w, r)
	return w.status, w.h.Get("Content-Type"), w.body.Bytes()
}

// sendProblem sends err as an error frame (the problem the HTTP API would
// send) and waits for its acknowledgement; a transport that already failed
// sends nothing.
func (d *dtlsServer) sendProblem(ctx context.Context, t *datagram.Conn, err error, status int) {
	var de *datagram.Error
	if errors.As(err, &de) && (de.Code == datagram.CodeTimeout || de.Code == datagram.CodeClosed) {
		return
	}
	w := &recorder{h: http.Header{}, status: http.StatusOK}
	d.s.refuse(w, err, status)
	if err := t.WriteFrame(ctx, frame.TypeError, w.body.Bytes()); err != nil {
		d.s.log.Info("DTLS refusal not sent", "err", err)
		return
	}
	if err := t.Flush(ctx); err != nil {
		d.s.log.Info("DTLS refusal not acknowledged", "code", problemCode(err), "err", err)
	}
}

// recorder is the http.ResponseWriter of an in-process call.
type recorder struct {
	h      http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.h }

func (w *recorder) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.wrote = true
	return w.body.Write(p)
}
