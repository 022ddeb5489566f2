package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/tlsbind"
)

type connKey struct{}

// conn is the per-connection state attached by http.Server.ConnContext: the
// attestation session lives here, never in a cookie or token, so a request on
// another connection sees nothing.
type conn struct {
	id   string
	tls  *tls.Conn   // nil on a DTLS connection
	dtls *dtlsParams // set on a DTLS connection (dtls.go)
	ac   *admConn    // nil outside the server's own TLS listener (DTLS, tests' httptest servers)
	// key is 128 random bits (crypto/rand.Text), unique to this connection across
	// restarts and replicas: what an authorization created here records
	// as its requester.
	key string

	once    sync.Once
	session *tlsbind.Session
	err     error
	dump    *capture.Session // nil unless --dump

	mu            sync.Mutex
	recorded      []byte            // context of the newest attestation durably recorded
	receiptFor    []byte            // context of the attestation a receipt was issued for
	credentialFor []byte            // context of the attestation a credential was issued for
	credential    *issuedCredential // the newest credential issued on this connection
	serverProved  *tlsbind.Proof
	serverDigest  []byte // evidence digest of serverProved's CMW
}

// markRecorded notes that the attestation with context ctx is durably
// recorded: only then may it earn a receipt on another request.
func (c *conn) markRecorded(ctx []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recorded = ctx
}

// isRecorded reports whether the attestation with context ctx is recorded.
func (c *conn) isRecorded(ctx []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorded != nil && bytes.Equal(c.recorded, ctx)
}

// claim marks the attestation with context ctx as used for a receipt; it
// reports false if it already was.
func (c *conn) claim(ctx []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(c.receiptFor, ctx) {
		return false
	}
	c.receiptFor = ctx
	return true
}

// release undoes claim after a failed issuance.
func (c *conn) release(ctx []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(c.receiptFor, ctx) {
		c.receiptFor = nil
	}
}

// claimCredential marks the attestation with context ctx as used for a
// credential; it reports false if it already was.
func (c *conn) claimCredential(ctx []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(c.credentialFor, ctx) {
		return false
	}
	c.credentialFor = ctx
	return true
}

// releaseCredential undoes claimCredential after a failed issuance.
func (c *conn) releaseCredential(ctx []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if bytes.Equal(c.credentialFor, ctx) {
		c.credentialFor = nil
	}
}

func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return ctx
	}
	ac, _ := tc.NetConn().(*admConn)
	return context.WithValue(ctx, connKey{}, &conn{id: "c" + s.connPrefix + strconv.FormatUint(s.connSeq.Add(1), 36), tls: tc, ac: ac, key: rand.Text()})
}

// connOf returns the request's connection (nil outside a TLS connection).
func connOf(r *http.Request) *conn {
	c, _ := r.Context().Value(connKey{}).(*conn)
	return c
}

// sessionOf returns the attestation session of the request's connection,
// creating it on first use (the handshake is complete once a handler runs).
func (s *Server) sessionOf(r *http.Request) (*conn, *tlsbind.Session, error) {
	c, ok := r.Context().Value(connKey{}).(*conn)
	if !ok {
		return nil, nil, errors.New("request without a TLS connection")
	}
	c.once.Do(func() {
		cs := c.tls.ConnectionState()
		c.session, c.err = tlsbind.NewSession(&cs, expat.Server, s.cfg.Profiles, s.cfg.MaxAttempts)
		c.dump = s.cfg.Dump.Start("server-"+c.id, expat.Server, &cs)
	})
	return c, c.session, c.err
}

func parsePublicKeyPEM(s string) (crypto.PublicKey, error) {
	blk, _ := pem.Decode([]byte(s))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("no PUBLIC KEY PEM block")
	}
	return x509.ParsePKIXPublicKey(blk.Bytes)
}
