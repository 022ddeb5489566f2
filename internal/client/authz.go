package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// States of an authorization, as the server reports them.
const (
	StatePending   = "pending"
	StateCompleted = "completed"
	StateDenied    = "denied"
	StateExpired   = "expired"
)

// CreateAuthorization asks for requested (any value that encodes as CBOR)
// to be authorized for audience ("" = the issuer), on this attested
// connection. The answer holds the execution token's secret (once), and,
// when no approver beyond the server's appraiser is needed, the receipt.
func (c *Conn) CreateAuthorization(ctx context.Context, requested any, audience string) (*api.Authorization, error) {
	out, err := c.postReceiptRequest(ctx, api.PathAuthorizations, "authorization", requested, audience)
	if err != nil {
		return nil, err
	}
	return decodeAuthorization(out)
}

// Authorization reads authorization id on this connection: as its
// requester, the answer carries the receipt once completed. With wait > 0
// the server answers when it changed, or after wait (at most api.MaxWait).
func (c *Conn) Authorization(ctx context.Context, id string, wait time.Duration) (*api.Authorization, error) {
	out, err := c.do(ctx, http.MethodGet, authzPath(id, wait), "", nil)
	if err != nil {
		return nil, fmt.Errorf("client: authorization %s: %w", id, err)
	}
	return decodeAuthorization(out)
}

// Await long-polls authorization id on this connection until it is no
// longer pending, calling onChange (if set) with each reading that differs
// from the previous one (the first from last, which may be nil), and
// returns the final reading. ctx bounds the whole wait.
func (c *Conn) Await(ctx context.Context, id string, last *api.Authorization, onChange func(*api.Authorization)) (*api.Authorization, error) {
	wait := min(api.MaxWait, orDefault(c.cfg.RequestTimeout, DefaultRequestTimeout)-5*time.Second)
	for {
		v, err := c.Authorization(ctx, id, max(wait, 0))
		if err != nil {
			return last, err
		}
		if onChange != nil && (last == nil || v.State != last.State || v.Approvals != last.Approvals || v.Denials != last.Denials) {
			onChange(v)
		}
		last = v
		if v.State != StatePending {
			return v, nil
		}
		if err := ctx.Err(); err != nil {
			return v, err
		}
		if wait <= 0 { // no long-poll possible under this request timeout: poll
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return v, ctx.Err()
			}
		}
	}
}

func authzPath(id string, wait time.Duration) string {
	p := api.PathAuthorizations + "/" + url.PathEscape(id)
	if wait > 0 {
		p += "?wait=" + strconv.Itoa(int(wait/time.Second))
	}
	return p
}

func decodeAuthorization(b []byte) (*api.Authorization, error) {
	var v api.Authorization
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("client: authorization response: %w", err)
	}
	return &v, nil
}

// EndedError is an authorization that ended without a receipt: denied by
// its approvers or expired before enough approved.
type EndedError struct {
	ID, State string
}

func (e *EndedError) Error() string {
	return fmt.Sprintf("client: authorization %s ended %s, without a receipt", e.ID, e.State)
}

// ProblemCode names the end as the server does: authz.denied or authz.expired.
func (e *EndedError) ProblemCode() string { return authz.Namespace + "." + e.State }

// ReceiptOf returns the receipt of a completed authorization as the
// requester holds it: id, bundle and the token secret from the answer to
// its creation.
func ReceiptOf(v *api.Authorization, secretHex string) (*api.ReceiptResponse, error) {
	id, err := hex.DecodeString(v.ID)
	if err != nil {
		return nil, fmt.Errorf("client: authorization id %q: %w", v.ID, err)
	}
	bundle, err := base64.RawURLEncoding.DecodeString(v.Receipt)
	if err != nil || len(bundle) == 0 {
		return nil, fmt.Errorf("client: authorization %s carries no receipt", v.ID)
	}
	secret, err := hex.DecodeString(secretHex)
	if err != nil || len(secret) != receipt.TokenSecretSize {
		return nil, fmt.Errorf("client: the execution token secret is not %d bytes of hex", receipt.TokenSecretSize)
	}
	return &api.ReceiptResponse{ReceiptID: id, Bundle: bundle, TokenSecret: secret}, nil
}

// Plain talks to the endpoints that need no attestation: approvers and
// observers of authorizations. It is an ordinary TLS 1.3 HTTPS client that
// verifies the server against Roots (never skipped).
type Plain struct {
	base    *url.URL
	hc      *http.Client
	timeout time.Duration
}

// NewPlain returns a Plain client of server (https://host:port); roots nil
// means the system roots; timeout bounds each request (0: the default).
func NewPlain(server string, roots *x509.CertPool, timeout time.Duration) (*Plain, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, &ConfigError{Field: "Server", Reason: fmt.Sprintf("%q is not https://host:port", server)}
	}
	tc := tlsbind.ClientConfig(roots, u.Hostname())
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true, MaxResponseHeaderBytes: 64 << 10}
	return &Plain{base: u, hc: &http.Client{Transport: tr}, timeout: orDefault(timeout, DefaultRequestTimeout)}, nil
}

// Close closes the client's idle connections (a server shutting down
// otherwise waits for an HTTP/2 client to hang up after its GOAWAY).
func (p *Plain) Close() { p.hc.CloseIdleConnections() }

// Admission refusals (docs/OPERATIONS.md) are answered before the server
// looks at a request, so sending it again is safe: Plain retries them, at
// most plainRetries times, after the Retry-After they carry (at most
// plainMaxRetryAfter; a connection the server closed is redialled), all
// within the request's timeout.
const (
	plainRetries       = 6
	plainMaxRetryAfter = 2 * time.Second
)

// retryable are the admission refusals.
var retryable = map[string]bool{"server.too_many_streams": true, "server.busy": true, "server.too_many_connections": true,
	"server.too_many_from_address": true, "server.attestation_deadline": true}

func (p *Plain) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, p.timeout, "request "+method+" "+ref.Path)
	defer cancel()
	for try := 0; ; try++ {
		out, wait, err := p.once(ctx, method, p.base.ResolveReference(ref), contentType, body)
		var prob *api.Problem
		if try == plainRetries || !errors.As(err, &prob) || !retryable[prob.Code] {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, timedOut(ctx, err)
		case <-time.After(wait):
		}
	}
}

// once sends one request; wait is its Retry-After, bounded.
func (p *Plain) once(ctx context.Context, method string, u *url.URL, contentType string, body []byte) (_ []byte, wait time.Duration, _ error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, 0, timedOut(ctx, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, 0, timedOut(ctx, err)
	}
	if len(out) > MaxResponse {
		return nil, 0, fmt.Errorf("response exceeds %d bytes", MaxResponse)
	}
	wait = 100 * time.Millisecond
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && n >= 0 {
		wait = min(time.Duration(n)*time.Second, plainMaxRetryAfter)
	}
	out, err = checkResponse(resp, out)
	return out, wait, err
}

// Authorization reads authorization id (without its receipt: only its
// requester gets that); wait as Conn.Authorization.
func (p *Plain) Authorization(ctx context.Context, id string, wait time.Duration) (*api.Authorization, error) {
	out, err := p.do(ctx, http.MethodGet, authzPath(id, wait), "", nil)
	if err != nil {
		return nil, fmt.Errorf("client: authorization %s: %w", id, err)
	}
	return decodeAuthorization(out)
}

// Decide sends a signed decision (Review.Sign) on authorization id and
// returns the authorization as it then stands.
func (p *Plain) Decide(ctx context.Context, id string, statement []byte) (*api.Authorization, error) {
	out, err := p.do(ctx, http.MethodPost, api.PathAuthorizations+"/"+url.PathEscape(id)+"/approvals", api.MediaCOSESign1, statement)
	if err != nil {
		return nil, fmt.Errorf("client: decide on %s: %w", id, err)
	}
	return decodeAuthorization(out)
}

// Pending lists the authorizations awaiting the approver who signed query
// (SignQuery).
func (p *Plain) Pending(ctx context.Context, query []byte) (*api.PendingList, error) {
	out, err := p.do(ctx, http.MethodPost, api.PathPending, api.MediaCOSESign1, query)
	if err != nil {
		return nil, fmt.Errorf("client: pending authorizations: %w", err)
	}
	var l api.PendingList
	if err := json.Unmarshal(out, &l); err != nil {
		return nil, fmt.Errorf("client: pending authorizations: %w", err)
	}
	return &l, nil
}

// Keys fetches the server's keys document.
func (p *Plain) Keys(ctx context.Context) (*receipt.Keys, []byte, error) {
	out, err := p.do(ctx, http.MethodGet, api.PathKeys, "", nil)
	if err != nil {
		return nil, nil, fmt.Errorf("client: keys: %w", err)
	}
	k, err := receipt.ParseKeys(out)
	if err != nil {
		return nil, nil, fmt.Errorf("client: keys: %w", err)
	}
	return k, out, nil
}

// Review is what an approver checked before deciding: the authorization
// as the server showed it, its action and policy decoded from the
// preimages whose hashes the approver recomputed itself, and the approver
// that the key is.
type Review struct {
	Authorization *api.Authorization
	ID            []byte
	Action        *receipt.Action
	ActionJSON    []byte
	Policy        *policy.Policy
	Hashes        authz.Hashes
	Approver      api.AuthorizationApprover
	signer        *receipt.Signer
}

// ReviewError is an authorization an approver must not sign: what the
// server showed does not hold together, or the key is not an approver.
type ReviewError struct{ Reason string }

func (e *ReviewError) Error() string { return "client: review: " + e.Reason }

// NewReview checks authorization v for the approver holding key: the key
// must be one of its approvers (found by thumbprint); the action and policy
// preimages must hash to what the server states; the policy must decode.
// It does not judge the state: the server refuses a decision on an
// authorization that is not pending, with its reason.
func NewReview(v *api.Authorization, key crypto.Signer) (*Review, error) {
	kid, err := receipt.Thumbprint(key.Public())
	if err != nil {
		return nil, err
	}
	r := &Review{Authorization: v}
	found := false
	for _, a := range v.Approvers {
		if a.Kid == base64.RawURLEncoding.EncodeToString(kid) {
			r.Approver, found = a, true
		}
	}
	if !found {
		return nil, &ReviewError{Reason: fmt.Sprintf("this key is not among the approvers of authorization %s (rule %q)", v.ID, v.Rule)}
	}
	if r.signer, err = receipt.NewSigner(key, r.Approver.ID); err != nil {
		return nil, err
	}
	if r.ID, err = hex.DecodeString(v.ID); err != nil || len(r.ID) != 16 {
		return nil, &ReviewError{Reason: fmt.Sprintf("malformed id %q", v.ID)}
	}
	b64 := base64.RawURLEncoding
	action, err := b64.DecodeString(v.ActionPreimage)
	if err != nil {
		return nil, &ReviewError{Reason: "action preimage is not base64url"}
	}
	pol, err := b64.DecodeString(v.PolicyPreimage)
	if err != nil || len(pol) == 0 {
		return nil, &ReviewError{Reason: "no policy preimage: the server does not run the policy this authorization was made under"}
	}
	if r.Action, err = receipt.ParseAction(action); err != nil {
		return nil, &ReviewError{Reason: "action preimage: " + err.Error()}
	}
	if r.ActionJSON, err = r.Action.JSON(); err != nil {
		return nil, err
	}
	if r.Policy, err = policy.ParseCanonical(pol); err != nil {
		return nil, &ReviewError{Reason: "policy preimage: " + err.Error()}
	}
	// The approver signs over hashes it computed, and checks they are the
	// ones the server states (another hash would be refused anyway).
	h := authz.Hashes{Action: receipt.SHA256(action), Policy: receipt.SHA256(pol)}
	for _, c := range []struct {
		name   string
		mine   receipt.Hash
		stated api.Hash
	}{{"action", h.Action, v.ActionHash}, {"policy", h.Policy, v.PolicyHash}} {
		if c.stated.Alg != receipt.HashName(c.mine.Alg) || c.stated.Value != b64.EncodeToString(c.mine.Value) {
			return nil, &ReviewError{Reason: fmt.Sprintf("the %s preimage does not hash to the %s_hash the server states", c.name, c.name)}
		}
	}
	if v.AttestationDigest.Alg != receipt.HashName(receipt.HashSHA256) {
		return nil, &ReviewError{Reason: "attestation digest is not SHA-256"}
	}
	att, err := b64.DecodeString(v.AttestationDigest.Value)
	if err != nil || len(att) != 32 {
		return nil, &ReviewError{Reason: "malformed attestation digest"}
	}
	h.Attestation = receipt.Hash{Alg: receipt.HashSHA256, Value: att}
	if r.Policy.ID != v.PolicyID {
		return nil, &ReviewError{Reason: fmt.Sprintf("the policy preimage is %q, the server says %q", r.Policy.ID, v.PolicyID)}
	}
	r.Hashes = h
	return r, nil
}

// Sign returns the approver's signed decision (receipt.DecisionApprove or
// receipt.DecisionDeny) for the reviewed authorization: iat the server's
// time as it showed it, exp its expiry.
func (r *Review) Sign(decision string) ([]byte, error) {
	v := r.Authorization
	st, err := authz.NewStatement(r.ID, r.Hashes, r.Approver.ID, decision, v.Audience, v.Now, v.Expires)
	if err != nil {
		return nil, err
	}
	return receipt.SignDecision(r.signer, st)
}

// SignQuery returns an approver query for the server whose issuer is aud,
// signed with key under approver id, iat now.
func SignQuery(key crypto.Signer, id, aud string, now time.Time) ([]byte, error) {
	s, err := receipt.NewSigner(key, id)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return receipt.SignApproverQuery(s, &receipt.ApproverQuery{Approver: id, Audience: aud, IssuedAt: uint64(now.Unix()), Nonce: nonce})
}
