package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/pion/dtls/v4"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/datagram"
	"github.com/seatrx/seatrx/internal/frame"
	"github.com/seatrx/seatrx/tlsbind"
)

// DTLSConfig configures DialDTLS.
type DTLSConfig struct {
	// Addr is the server's DTLS listener, host:port (UDP).
	Addr string
	// ServerName is the name the server's certificate must carry (and the
	// SNI sent); "" means Addr's host.
	ServerName string
	// Roots verify the server's certificate (never skipped).
	Roots *x509.CertPool
	// Prover answers the server's challenge with this client's attestation.
	Prover *tlsbind.Prover
	// Profile is the interop profile this client attests in; the zero
	// value means tlsbind.DefaultProfile().
	Profile tlsbind.Profile
	// HandshakeTimeout bounds the DTLS handshake (zero:
	// DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// Transport tunes retransmission and each step's timeout.
	Transport datagram.Config
	// KeyLog, if set, receives the connection's secrets (NSS key log).
	KeyLog io.Writer
}

// DTLSConn is one DTLS 1.3 connection to a seatrx server's DTLS listener
// (docs/PROTOCOL.md §13): one attestation, then the server closes it.
type DTLSConn struct {
	cfg     DTLSConfig
	dc      *dtls.Conn
	t       *datagram.Conn
	session *tlsbind.Session
	suite   uint16
	timings Timings
	proof   *tlsbind.Proof
}

// DialDTLS performs the DTLS 1.3 handshake (1.3 only, no resumption) and
// prepares the attestation session on the connection's exporter.
func DialDTLS(ctx context.Context, cfg DTLSConfig) (*DTLSConn, error) {
	if cfg.Prover == nil {
		return nil, &ConfigError{Field: "Prover", Reason: "required: it answers the server's challenge with this client's attestation"}
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, &ConfigError{Field: "Addr", Reason: fmt.Sprintf("%q is not host:port", cfg.Addr)}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	start := time.Now()
	raddr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("client: DTLS address %s: %w", cfg.Addr, err)
	}
	dc, err := dtls.Dial("udp", raddr, datagram.ClientOptions(cfg.Roots, cfg.ServerName, cfg.KeyLog)...)
	if err != nil {
		return nil, fmt.Errorf("client: DTLS to %s: %w", cfg.Addr, err)
	}
	step := "DTLS handshake with " + cfg.Addr
	hctx, cancel := withTimeout(ctx, orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout), step)
	err = dc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		dc.Close()
		return nil, timedOut(hctx, fmt.Errorf("client: %s: %w", step, err))
	}
	st, _ := dc.ConnectionState()
	ch, err := datagram.Channel(st)
	if err != nil {
		dc.Close()
		return nil, err
	}
	prof := cfg.Profile
	if prof.ID == "" {
		prof = tlsbind.DefaultProfile()
	}
	sess, err := tlsbind.NewChannelSession(ch, expat.Client, []tlsbind.Profile{prof}, 0)
	if err != nil {
		dc.Close()
		return nil, err
	}
	c := &DTLSConn{cfg: cfg, dc: dc, t: datagram.New(dc, frame.SeatrxIssue, cfg.Transport), session: sess, suite: ch.Suite}
	c.timings.Handshake = time.Since(start)
	return c, nil
}

// Close closes the connection (close_notify).
func (c *DTLSConn) Close() error { return c.t.Close() }

// Suite returns the connection's cipher suite.
func (c *DTLSConn) Suite() uint16 { return c.suite }

// Timings returns the durations measured so far.
func (c *DTLSConn) Timings() Timings { return c.timings }

// Stats returns the datagram transport's counters (retransmissions...).
func (c *DTLSConn) Stats() datagram.Stats { return c.t.Stats() }

// LastProof returns the attestation the server accepted (nil before).
func (c *DTLSConn) LastProof() *tlsbind.Proof { return c.proof }

// Challenge reads the server's request frame (its first message).
func (c *DTLSConn) Challenge(ctx context.Context) ([]byte, error) {
	t := time.Now()
	f, err := c.read(ctx, frame.TypeRequest)
	if err != nil {
		return nil, fmt.Errorf("client: challenge: %w", err)
	}
	c.timings.Challenge = time.Since(t)
	return f, nil
}

// read reads the next frame, which must be of type want; an error frame
// is returned as the server's *api.Problem.
func (c *DTLSConn) read(ctx context.Context, want frame.Type) ([]byte, error) {
	f, err := c.t.ReadFrame(ctx)
	if err != nil {
		return nil, err
	}
	switch f.Type {
	case want:
		return f.Payload, nil
	case frame.TypeError:
		var p api.Problem
		if err := json.Unmarshal(f.Payload, &p); err != nil || p.Code == "" {
			return nil, fmt.Errorf("client: an error frame that is not a problem document: %q", f.Payload[:min(len(f.Payload), 200)])
		}
		return nil, &p
	}
	return nil, frame.Unexpected(f.Type, "a "+want.String()+" frame")
}

// answer reads the challenge and makes this client's authenticator for it.
func (c *DTLSConn) answer(ctx context.Context) (*tlsbind.Proof, time.Time, error) {
	req, err := c.Challenge(ctx)
	if err != nil {
		return nil, time.Now(), err
	}
	t := time.Now()
	proof, err := c.session.Respond(ctx, c.cfg.Prover, req)
	if err != nil {
		return nil, t, fmt.Errorf("client: answer challenge: %w", err)
	}
	return proof, t, nil
}

// Attest answers the server's challenge and returns its EAR.
func (c *DTLSConn) Attest(ctx context.Context) ([]byte, error) {
	proof, t, err := c.answer(ctx)
	if err != nil {
		return nil, err
	}
	ear, err := c.SendAuthenticator(ctx, proof.Authenticator)
	c.timings.Attest = time.Since(t)
	if err != nil {
		return nil, err
	}
	c.proof = proof
	return ear, nil
}

// Respond makes an authenticator for req, a request read with Challenge,
// with p and this connection's exporter.
func (c *DTLSConn) Respond(ctx context.Context, p *tlsbind.Prover, req []byte) (*tlsbind.Proof, error) {
	return c.session.Respond(ctx, p, req)
}

// SendAuthenticator sends auth in an authenticator frame and returns the
// server's EAR, or its refusal (*api.Problem).
func (c *DTLSConn) SendAuthenticator(ctx context.Context, auth []byte) ([]byte, error) {
	if err := c.t.WriteFrame(ctx, frame.TypeAuthenticator, auth); err != nil {
		return nil, fmt.Errorf("client: attest: %w", err)
	}
	ear, err := c.read(ctx, frame.TypeResult)
	if err != nil {
		return nil, fmt.Errorf("client: attest: %w", err)
	}
	return ear, nil
}

// AttestAndIssue answers the server's challenge with an attest-issue frame
// (the authenticator and a receipt request for requested) and returns the
// EAR and the receipt, as Conn.AttestAndIssue does over HTTPS.
func (c *DTLSConn) AttestAndIssue(ctx context.Context, requested any, audience string) ([]byte, *api.ReceiptResponse, error) {
	proof, t, err := c.answer(ctx)
	if err != nil {
		return nil, nil, err
	}
	body, err := attestIssueBody(proof.Authenticator, requested, audience)
	if err != nil {
		return nil, nil, err
	}
	if err := c.t.WriteFrame(ctx, frame.TypeAttestIssue, body); err != nil {
		return nil, nil, fmt.Errorf("client: attest and issue: %w", err)
	}
	out, err := c.read(ctx, frame.TypeIssued)
	c.timings.AttestIssue = time.Since(t)
	if err != nil {
		if ApprovalRequired(err) {
			c.proof = proof
		}
		return nil, nil, fmt.Errorf("client: attest and issue: %w", err)
	}
	var resp api.AttestIssueResponse
	if err := cbor.Unmarshal(out, &resp); err != nil {
		return nil, nil, fmt.Errorf("client: attest-and-issue response: %w", err)
	}
	if len(resp.ReceiptID) == 0 || len(resp.Bundle) == 0 {
		return nil, nil, errors.New("client: the server's issued frame holds no receipt")
	}
	c.proof = proof
	return resp.EAR, &api.ReceiptResponse{ReceiptID: resp.ReceiptID, Bundle: resp.Bundle, TokenSecret: resp.TokenSecret}, nil
}

// DTLSInfo describes the DTLS connection a flow ran on.
type DTLSInfo struct {
	Version string // datagram.VersionName
	Suite   uint16
}

// runDTLS is Run over DTLS 1.3: the attestation and the receipt in one
// exchange on the DTLS connection (attest-issue), the keys document from
// the HTTPS server, then the same offline verification.
func runDTLS(ctx context.Context, f Flow) (*Outcome, error) {
	switch {
	case f.Mutual:
		return nil, &ConfigError{Field: "Mutual", Reason: "mutual attestation runs on the HTTPS connection only"}
	case f.Separate:
		return nil, &ConfigError{Field: "Separate", Reason: "over DTLS attestation and receipt travel in one exchange"}
	case f.Redeem:
		return nil, &ConfigError{Field: "Redeem", Reason: "redemption runs on an HTTPS connection"}
	}
	start := time.Now()
	u, err := url.Parse(f.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &ConfigError{Field: "Server", Reason: fmt.Sprintf("%q is not https://host:port (the keys document comes from it)", f.Server)}
	}
	c, err := DialDTLS(ctx, DTLSConfig{Addr: f.DTLSAddr, ServerName: u.Hostname(), Roots: f.Roots, Prover: f.Prover, Profile: f.Profile,
		HandshakeTimeout: f.HandshakeTimeout, Transport: f.DTLSTransport, KeyLog: f.KeyLog})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	o := &Outcome{DTLS: &DTLSInfo{Version: datagram.VersionName, Suite: c.Suite()}}
	defer func() { o.Timings, o.Stats, o.Total = c.Timings(), c.Stats(), time.Since(start) }()
	if o.EAR, o.Receipt, err = c.AttestAndIssue(ctx, f.Requested, f.Audience); err != nil {
		return o, err
	}
	c.Close()
	p, err := NewPlain(f.Server, f.Roots, orDefault(f.RequestTimeout, DefaultRequestTimeout))
	if err != nil {
		return o, err
	}
	defer p.Close()
	if o.Keys, o.KeysDoc, err = p.Keys(ctx); err != nil {
		return o, err
	}
	return o, o.verify(f, c.LastProof())
}
