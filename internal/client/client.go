// Package client is the seatrx client: it opens one TLS 1.3 connection to a
// seatrx server, attests over it with RFC 9261 exported authenticators (and,
// for mutual attestation, verifies the server's evidence), then requests,
// verifies and redeems receipts, all on that same connection.
package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// MaxResponse bounds any response body the client reads.
const MaxResponse = 4 << 20

// Config configures Dial.
type Config struct {
	// Server is the base URL, e.g. https://localhost:8443.
	Server string
	// Roots verify the server's TLS certificate (never skipped).
	Roots *x509.CertPool
	// Prover answers the server's challenge with this client's attestation.
	Prover *tlsbind.Prover
	// Checker verifies the server's evidence in mutual attestation; nil
	// disables AttestServer.
	Checker *tlsbind.Checker
	// Profile is the interop profile this client attests in and accepts the
	// server's attestation in; the zero value means tlsbind.DefaultProfile().
	Profile tlsbind.Profile
	// ClientCertificate, if set, is presented in the TLS handshake (mTLS):
	// an X.509-SVID from the server's workload CA with its key, which lets
	// this connection redeem tokens bound to that key without attesting.
	ClientCertificate *tls.Certificate
	// ForceHTTP1 offers only http/1.1 in ALPN (for HTTP/1.1-only paths).
	ForceHTTP1 bool
	// KeyLog, if set, receives the connection's TLS secrets in the NSS key
	// log format (capture.OpenKeyLog; --keylog). It defeats confidentiality.
	KeyLog io.Writer
	// Dump, if set, records the connection's exported-authenticator
	// messages, exporter outputs and binders (--dump).
	Dump *capture.Dump
	// ConnectTimeout bounds the TCP connect, HandshakeTimeout the TLS
	// handshake, RequestTimeout each request from sending to the end of the
	// response body; zero means DefaultConnectTimeout,
	// DefaultHandshakeTimeout, DefaultRequestTimeout. A step that runs out
	// of time fails with a *TimeoutError naming it.
	ConnectTimeout, HandshakeTimeout, RequestTimeout time.Duration
}

// Default timeouts of Config. A request includes the server's work on it:
// verifying evidence, which may fetch collateral online (10 s per fetch by
// default on the server), and storing a receipt durably.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultRequestTimeout   = 30 * time.Second
)

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// TimeoutError is a step of talking to the server that did not finish in
// time: a server that accepts TCP but never answers fails here, saying where
// it stopped and after how long, instead of hanging.
type TimeoutError struct {
	// Step is what timed out: "TCP connect to HOST:PORT", "TLS handshake
	// with HOST:PORT" or "request METHOD PATH".
	Step  string
	After time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("client: %s timed out after %s", e.Step, e.After)
}

// Timeout reports true (net.Error style).
func (e *TimeoutError) Timeout() bool { return true }

// withTimeout returns ctx bounded by d, whose cause on expiry is a
// *TimeoutError for step.
func withTimeout(ctx context.Context, d time.Duration, step string) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, d, &TimeoutError{Step: step, After: d})
}

// timedOut returns ctx's *TimeoutError if ctx expired, else err.
func timedOut(ctx context.Context, err error) error {
	var te *TimeoutError
	if errors.As(context.Cause(ctx), &te) {
		return te
	}
	return err
}

// Timings are the client-measured durations of one attested session.
// Attest and Receipt are the two requests of the separate flow;
// AttestIssue is the one request of AttestAndIssue that does both.
type Timings struct {
	Handshake, Challenge, Attest, ServerAttest, Receipt, AttestIssue time.Duration
}

// Conn is one attested connection to a seatrx server. It is safe for
// concurrent use (requests are multiplexed over HTTP/2).
type Conn struct {
	cfg     Config
	base    *url.URL
	tls     *tls.Conn
	rt      http.RoundTripper
	session *tlsbind.Session
	dump    *capture.Session

	mu      sync.Mutex
	timings Timings
	server  *tlsbind.Result
	proof   *tlsbind.Proof // our newest accepted attestation
}

// LastProof returns the attestation this client made most recently and the
// server accepted (nil before that).
func (c *Conn) LastProof() *tlsbind.Proof {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proof
}

// Timings returns the durations measured so far on this connection.
func (c *Conn) Timings() Timings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timings
}

// record stores one measured duration.
func (c *Conn) record(set func(*Timings)) {
	c.mu.Lock()
	set(&c.timings)
	c.mu.Unlock()
}

// ConfigError reports a Config that Dial (or a method needing an optional
// member) cannot work with: Field names the member, Reason the rule.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "client: Config." + e.Field + ": " + e.Reason }

// check validates cfg before any network work and returns its server URL.
func (cfg *Config) check() (*url.URL, error) {
	u, err := url.Parse(cfg.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &ConfigError{Field: "Server", Reason: fmt.Sprintf("%q is not https://host:port", cfg.Server)}
	}
	if cfg.Prover == nil && cfg.ClientCertificate == nil {
		return nil, &ConfigError{Field: "Prover", Reason: "required (unless ClientCertificate authenticates the connection): it answers the server's challenge with this client's attestation"}
	}
	return u, nil
}

// Dial opens the TLS 1.3 connection and binds an HTTP client to it alone
// (HTTP/2 when negotiated, else HTTP/1.1 on the same connection). An
// unusable cfg (no https URL, no Prover) is a *ConfigError, found before
// connecting.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	u, err := cfg.check()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	tc0 := tlsbind.ClientConfig(cfg.Roots, u.Hostname())
	if cfg.ForceHTTP1 {
		tc0.NextProtos = []string{"http/1.1"}
	}
	if cfg.ClientCertificate != nil {
		tc0.Certificates = []tls.Certificate{*cfg.ClientCertificate}
	}
	tc0.KeyLogWriter = cfg.KeyLog
	hostport := u.Host
	if u.Port() == "" {
		hostport = net.JoinHostPort(u.Hostname(), "443")
	}
	dctx, cancel := withTimeout(ctx, orDefault(cfg.ConnectTimeout, DefaultConnectTimeout), "TCP connect to "+hostport)
	var nd net.Dialer
	raw, err := nd.DialContext(dctx, "tcp", hostport)
	cancel()
	if err != nil {
		return nil, timedOut(dctx, fmt.Errorf("client: connect to %s: %w", hostport, err))
	}
	tc := tls.Client(raw, tc0)
	hctx, cancel := withTimeout(ctx, orDefault(cfg.HandshakeTimeout, DefaultHandshakeTimeout), "TLS handshake with "+hostport)
	err = tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		raw.Close()
		return nil, timedOut(hctx, fmt.Errorf("client: TLS handshake with %s: %w", hostport, err))
	}
	c := &Conn{cfg: cfg, base: u, tls: tc}
	c.timings.Handshake = time.Since(start)
	cs := tc.ConnectionState()
	prof := cfg.Profile
	if prof.ID == "" {
		prof = tlsbind.DefaultProfile()
	}
	if c.session, err = tlsbind.NewSession(&cs, expat.Client, []tlsbind.Profile{prof}, 0); err != nil {
		tc.Close()
		return nil, err
	}
	c.dump = cfg.Dump.Start("client-"+hostport, expat.Client, &cs)
	if cs.NegotiatedProtocol == "h2" {
		cc, err := http2On(ctx, tc, u.Host)
		if err != nil {
			tc.Close()
			return nil, fmt.Errorf("client: HTTP/2: %w", err)
		}
		c.rt = cc
	} else {
		c.rt = &http1Conn{conn: tc, br: bufio.NewReader(tc)}
	}
	return c, nil
}

// http2On runs an HTTP/2 client connection on tc, the attested connection
// itself: the transport's only "dial" hands out tc, once, so no request can
// travel on another connection.
func http2On(ctx context.Context, tc *tls.Conn, host string) (*http.ClientConn, error) {
	var once sync.Once
	tr := &http.Transport{
		DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			var conn net.Conn
			once.Do(func() { conn = tc })
			if conn == nil {
				return nil, errors.New("client: the attested connection is already in use")
			}
			return conn, nil
		},
		Protocols: new(http.Protocols),
	}
	tr.Protocols.SetHTTP2(true)
	return tr.NewClientConn(ctx, "https", host)
}

// dumpVerdict records the server's answer to our authenticator: its EAR,
// or its refusal with the problem's code.
func (c *Conn) dumpVerdict(ear []byte, err error) {
	if err == nil {
		c.dump.Message(capture.Received, capture.KindResult, ear, "")
		return
	}
	c.dump.Message(capture.Received, capture.KindError, []byte(err.Error()), problemCode(err))
}

// problemCode is the wire code of the first error in err's chain that has
// one (a server's problem, or a local typed error), or "".
func problemCode(err error) string {
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}

// Close closes the connection.
func (c *Conn) Close() error { return c.tls.Close() }

// ConnectionState returns the TLS state of the connection.
func (c *Conn) ConnectionState() tls.ConnectionState { return c.tls.ConnectionState() }

// Attest answers a fresh server challenge with this client's attestation
// and returns the server's EAR.
func (c *Conn) Attest(ctx context.Context) ([]byte, error) {
	proof, t, err := c.answerChallenge(ctx)
	if err != nil {
		return nil, err
	}
	return c.attest(ctx, proof, t)
}

// answerChallenge gets a fresh challenge and makes this client's
// authenticator for it, and returns when it began answering (the evidence
// time counts as the attestation's).
func (c *Conn) answerChallenge(ctx context.Context) (*tlsbind.Proof, time.Time, error) {
	t := time.Now()
	req, err := c.do(ctx, http.MethodPost, api.PathChallenge, "", nil)
	if err != nil {
		return nil, t, fmt.Errorf("client: challenge: %w", err)
	}
	c.record(func(x *Timings) { x.Challenge = time.Since(t) })
	c.dump.Message(capture.Received, capture.KindRequest, req, "")
	t = time.Now()
	proof, err := c.session.Respond(ctx, c.cfg.Prover, req)
	if err != nil {
		c.dump.Message(capture.Sent, capture.KindError, []byte(err.Error()), problemCode(err))
		return nil, t, fmt.Errorf("client: answer challenge: %w", err)
	}
	c.dump.Proof(proof)
	return proof, t, nil
}

// attest sends proof's authenticator to POST /v1/attest; t is when the
// answer to the challenge began.
func (c *Conn) attest(ctx context.Context, proof *tlsbind.Proof, t time.Time) ([]byte, error) {
	earJWT, err := c.do(ctx, http.MethodPost, api.PathAttest, api.MediaAuthenticator, proof.Authenticator)
	c.record(func(x *Timings) { x.Attest = time.Since(t) })
	c.dumpVerdict(earJWT, err)
	if err != nil {
		return nil, fmt.Errorf("client: attest: %w", err)
	}
	c.mu.Lock()
	c.proof = proof
	c.mu.Unlock()
	return earJWT, nil
}

// AttestAndIssue answers a fresh server challenge and asks for a receipt
// for requested in the same request (POST /v1/attest/issue), and returns
// the server's EAR and the receipt. It is Attest followed by
// RequestReceipt in one round trip less: the server issues the receipt only
// for the attestation it accepted in that request, and stores it in the
// same durable write as the attestation's record. A server without that
// endpoint (HTTP 404 or 405, a problem or not) gets the same authenticator on POST
// /v1/attest and then the receipt request, on this connection. When the
// action needs approvers (the problem authz.approval_required), the
// attestation stands, recorded: the caller goes on with
// CreateAuthorization on this connection.
func (c *Conn) AttestAndIssue(ctx context.Context, requested any, audience string) ([]byte, *api.ReceiptResponse, error) {
	proof, t, err := c.answerChallenge(ctx)
	if err != nil {
		return nil, nil, err
	}
	body, err := attestIssueBody(proof.Authenticator, requested, audience)
	if err != nil {
		return nil, nil, err
	}
	out, err := c.do(ctx, http.MethodPost, api.PathAttestIssue, api.MediaAttestIssueRequest, body)
	if notServed(err) {
		earJWT, err := c.attest(ctx, proof, t)
		if err != nil {
			return nil, nil, err
		}
		rr, err := c.RequestReceipt(ctx, requested, audience)
		return earJWT, rr, err
	}
	c.record(func(x *Timings) { x.AttestIssue = time.Since(t) })
	if err != nil {
		c.dumpVerdict(nil, err)
		if ApprovalRequired(err) {
			c.mu.Lock()
			c.proof = proof
			c.mu.Unlock()
		}
		return nil, nil, fmt.Errorf("client: attest and issue: %w", err)
	}
	var resp api.AttestIssueResponse
	if err := cbor.Unmarshal(out, &resp); err != nil {
		return nil, nil, fmt.Errorf("client: attest-and-issue response: %w", err)
	}
	c.dumpVerdict(resp.EAR, nil)
	c.mu.Lock()
	c.proof = proof
	c.mu.Unlock()
	return resp.EAR, &api.ReceiptResponse{ReceiptID: resp.ReceiptID, Bundle: resp.Bundle, TokenSecret: resp.TokenSecret}, nil
}

// notServed reports whether err is a 404 or 405 answer, as a problem or
// not: a server (or peer) without the endpoint asked for. The seatrx
// endpoints it is used for have no identifier in their path, so a 404 there
// means nothing else.
func notServed(err error) bool {
	var he *HTTPError
	var p *api.Problem
	switch {
	case errors.As(err, &he):
		return he.Status == http.StatusNotFound || he.Status == http.StatusMethodNotAllowed
	case errors.As(err, &p):
		return p.Status == http.StatusNotFound || p.Status == http.StatusMethodNotAllowed
	}
	return false
}

// ApprovalRequired reports whether err is the server's refusal of a receipt
// at once for an action that needs approvers (authz.approval_required): the
// way on is a pending authorization (CreateAuthorization).
func ApprovalRequired(err error) bool {
	var p *api.Problem
	return errors.As(err, &p) && p.Code == (&authz.Error{Code: authz.CodeApprovalRequired}).ProblemCode()
}

// AttestServer sends a ClientCertificateRequest and verifies the server's
// authenticator and evidence (mutual attestation, same connection), asking
// the server to attest in this client's profile.
func (c *Conn) AttestServer(ctx context.Context) (*tlsbind.Result, error) {
	if c.cfg.Checker == nil {
		return nil, &ConfigError{Field: "Checker", Reason: "required to verify the server's attestation"}
	}
	t := time.Now()
	req, err := c.session.Challenge()
	if err != nil {
		return nil, err
	}
	q := url.Values{"profile": {c.session.Profiles()[0].ID}}
	c.dump.Message(capture.Sent, capture.KindRequest, req.Raw, "")
	auth, err := c.do(ctx, http.MethodPost, api.PathAttestServe+"?"+q.Encode(), api.MediaRequest, req.Raw)
	if err != nil {
		c.dumpVerdict(nil, err)
		return nil, fmt.Errorf("client: server attestation: %w", err)
	}
	c.dump.Message(capture.Received, capture.KindAuthenticator, auth, "")
	res, err := c.session.Accept(ctx, c.cfg.Checker, auth)
	c.record(func(x *Timings) { x.ServerAttest = time.Since(t) })
	if err != nil {
		c.dump.Evidence(auth, expat.Server, c.session.Profiles())
		c.dump.Message(capture.Sent, capture.KindError, []byte(err.Error()), problemCode(err))
		return nil, fmt.Errorf("client: server evidence refused: %w", err)
	}
	c.dump.Binder("expected by this client and carried by the server's evidence", res.Binder, res.Context, res.AIK)
	c.dump.Message(capture.Sent, capture.KindResult, res.EAR, "")
	c.mu.Lock()
	c.server = res
	c.mu.Unlock()
	return res, nil
}

// RequestReceipt asks for a receipt authorizing requested (any value that
// encodes as CBOR) for audience ("" = the issuer).
func (c *Conn) RequestReceipt(ctx context.Context, requested any, audience string) (*api.ReceiptResponse, error) {
	out, err := c.postReceiptRequest(ctx, api.PathReceipts, "receipt", requested, audience)
	if err != nil {
		return nil, err
	}
	var rr api.ReceiptResponse
	if err := cbor.Unmarshal(out, &rr); err != nil {
		return nil, fmt.Errorf("client: receipt response: %w", err)
	}
	return &rr, nil
}

// postReceiptRequest POSTs a receipt request for requested and audience to
// path (receipts, authorizations), timed as the session's receipt phase;
// what names the request in errors.
func (c *Conn) postReceiptRequest(ctx context.Context, path, what string, requested any, audience string) ([]byte, error) {
	body, err := cbor.Marshal(api.ReceiptRequest{Requested: requested, Audience: audience})
	if err != nil {
		return nil, fmt.Errorf("client: %s request: %w", what, err)
	}
	t := time.Now()
	out, err := c.do(ctx, http.MethodPost, path, api.MediaReceiptRequest, body)
	c.record(func(x *Timings) { x.Receipt = time.Since(t) })
	if err != nil {
		return nil, fmt.Errorf("client: %s: %w", what, err)
	}
	return out, nil
}

// Redeem consumes the execution token of receipt id with its secret.
func (c *Conn) Redeem(ctx context.Context, receiptID, secret []byte) (*api.RedeemResponse, error) {
	body, _ := json.Marshal(api.RedeemRequest{ReceiptID: hex.EncodeToString(receiptID), Secret: hex.EncodeToString(secret)})
	out, err := c.do(ctx, http.MethodPost, api.PathRedeem, "application/json", body)
	if err != nil {
		return nil, fmt.Errorf("client: redeem: %w", err)
	}
	var rr api.RedeemResponse
	if err := json.Unmarshal(out, &rr); err != nil {
		return nil, fmt.Errorf("client: redeem response: %w", err)
	}
	return &rr, nil
}

// RequestCredential asks for an X.509-SVID for the key this connection
// attested (after Attest), with an optional DER PKCS#10 request for the
// same key, and returns the certificate chain the server sent, leaf first.
func (c *Conn) RequestCredential(ctx context.Context, csr []byte) ([]*x509.Certificate, []byte, error) {
	ct := ""
	if len(csr) > 0 {
		ct = "application/pkcs10"
	}
	out, err := c.do(ctx, http.MethodPost, api.PathCredentials, ct, csr)
	if err != nil {
		return nil, nil, fmt.Errorf("client: credential: %w", err)
	}
	chain, err := parseChain(out)
	if err != nil {
		return nil, nil, fmt.Errorf("client: credential response: %w", err)
	}
	return chain, out, nil
}

// Bundle fetches the workload CA's trust bundle: the SPIFFE bundle (JWKS)
// or, with pemForm, PEM certificates.
func (c *Conn) Bundle(ctx context.Context, pemForm bool) ([]byte, error) {
	path := api.PathBundle
	if pemForm {
		path = api.PathBundlePEM
	}
	out, err := c.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, fmt.Errorf("client: bundle: %w", err)
	}
	return out, nil
}

// parseChain reads PEM CERTIFICATE blocks (nothing else) into certificates.
func parseChain(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := b; len(bytes.TrimSpace(rest)) > 0; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, errors.New("not a PEM certificate chain")
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// Keys fetches the server's keys document (public keys and policy), parsed
// and as received.
func (c *Conn) Keys(ctx context.Context) (*receipt.Keys, []byte, error) {
	out, err := c.do(ctx, http.MethodGet, api.PathKeys, "", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("client: keys: %w", err)
	}
	k, err := receipt.ParseKeys(out)
	if err != nil {
		return nil, nil, fmt.Errorf("client: keys: %w", err)
	}
	return k, out, nil
}

// Profile returns the interop profile this connection attests in.
func (c *Conn) Profile() tlsbind.Profile { return c.session.Profiles()[0] }

// Capabilities fetches /.well-known/seatrx.
func (c *Conn) Capabilities(ctx context.Context) (*api.Capabilities, error) {
	out, err := c.do(ctx, http.MethodGet, api.PathWellKnown, "", nil)
	if err != nil {
		return nil, err
	}
	var caps api.Capabilities
	return &caps, json.Unmarshal(out, &caps)
}

// Do sends a raw request on the connection; tests use it to send what a
// well-behaved client never would.
func (c *Conn) Do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	return c.do(ctx, method, path, contentType, body)
}

func (c *Conn) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	// API paths are relative to the server URL's path, so a server mounted
	// under a prefix (a reverse proxy, or the conformance peer's
	// https://HOST/s/SCENARIO) is reached with its URL as given.
	u := c.base.JoinPath(ref.Path)
	u.RawQuery = ref.RawQuery
	ctx, cancel := withTimeout(ctx, orDefault(c.cfg.RequestTimeout, DefaultRequestTimeout), "request "+method+" "+path)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return nil, timedOut(ctx, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, timedOut(ctx, err)
	}
	if len(out) > MaxResponse {
		return nil, fmt.Errorf("response exceeds %d bytes", MaxResponse)
	}
	return checkResponse(resp, out)
}

// checkResponse returns a 2xx response's body, and a refusal as the
// server's *api.Problem when it sent one.
func checkResponse(resp *http.Response, out []byte) ([]byte, error) {
	if resp.StatusCode/100 != 2 {
		var p api.Problem
		if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == api.MediaProblem && json.Unmarshal(out, &p) == nil {
			return nil, &p
		}
		return nil, &HTTPError{Status: resp.StatusCode, Body: string(out[:min(len(out), 200)])}
	}
	return out, nil
}

// HTTPError is an unsuccessful answer that is not an RFC 9457 problem, such
// as a router's 404 from a server without the endpoint.
type HTTPError struct {
	Status int
	Body   string // at most its first 200 bytes
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body) }

// http1Conn is an HTTP/1.1 round tripper bound to one connection; requests
// are serialised, and the request's context bounds the connection's I/O.
type http1Conn struct {
	mu   sync.Mutex
	conn net.Conn
	br   *bufio.Reader
}

func (h *http1Conn) RoundTrip(req *http.Request) (*http.Response, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// Unblock the connection's I/O when the context ends (after its cause
	// is set, so the caller can tell a timeout from a failure).
	stop := context.AfterFunc(req.Context(), func() { h.conn.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if stop() {
			h.conn.SetDeadline(time.Time{})
		}
	}()
	if err := req.Write(h.conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(h.br, req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// attestIssueBody is the attest-and-issue request (api.AttestIssueRequest)
// carrying auth and a receipt request for requested, over HTTPS and DTLS.
func attestIssueBody(auth []byte, requested any, audience string) ([]byte, error) {
	rreq, err := cbor.Marshal(api.ReceiptRequest{Requested: requested, Audience: audience})
	if err != nil {
		return nil, fmt.Errorf("client: receipt request: %w", err)
	}
	body, err := cbor.Marshal(api.AttestIssueRequest{Authenticator: auth, Receipt: rreq})
	if err != nil {
		return nil, fmt.Errorf("client: attest-and-issue request: %w", err)
	}
	return body, nil
}
