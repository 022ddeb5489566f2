package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Body size limits per endpoint.
const (
	maxRequestBody = expat.MaxRequestSize
	maxAuthBody    = expat.MaxAuthenticatorSize
	maxJSONBody    = 64 << 10
	// maxAttestIssueBody is an authenticator and a receipt request.
	maxAttestIssueBody = maxAuthBody + maxJSONBody
)

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+api.PathWellKnown, s.handleWellKnown)
	mux.HandleFunc("POST /v1/attest/challenge", s.handleChallenge)
	mux.HandleFunc("POST /v1/attest", s.handleAttest)
	mux.HandleFunc("POST /v1/attest/server", s.handleAttestServer)
	mux.HandleFunc("POST "+api.PathAttestIssue, s.handleAttestIssue)
	mux.HandleFunc("POST /v1/receipts", s.attested(s.handleIssue))
	mux.HandleFunc("GET /v1/receipts/{id}", s.redeemer(s.handleGetReceipt))
	mux.HandleFunc("POST /v1/tokens/redeem", s.redeemer(s.handleRedeem))
	mux.HandleFunc("POST "+api.PathCredentials, s.attested(s.handleCredential))
	mux.HandleFunc("GET "+api.PathBundle, s.handleBundle(false))
	mux.HandleFunc("GET "+api.PathBundlePEM, s.handleBundle(true))
	mux.HandleFunc("POST "+api.PathAuthorizations, s.attested(s.handleCreate))
	mux.HandleFunc("GET "+api.PathAuthorizations+"/{id}", s.handleShow)
	mux.HandleFunc("POST "+api.PathAuthorizations+"/{id}/approvals", s.handleDecide)
	mux.HandleFunc("POST "+api.PathPending, s.handlePending)
	mux.HandleFunc("GET /v1/keys", s.handleKeys)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.handleReady)
	if s.cfg.MetricsOnMain {
		mux.Handle("GET /metrics", s.MetricsHandler())
	}
	return mux
}

func (s *Server) handleWellKnown(w http.ResponseWriter, _ *http.Request) {
	pref := s.cfg.Profiles[0]
	c := api.Capabilities{
		EvidenceTypes: []string{evidence.MediaTypeSNPReport, evidence.MediaTypeTDXQuote},
		Models:        []string{tlsbind.ModelBackgroundCheck}, CMWExtensionType: pref.CMWType,
		BinderLabel: pref.Label, PolicyID: s.pol.ID, ReceiptProfile: receipt.ProfileID,
		Issuer: s.cfg.Issuer, ServerAttester: s.prover != nil, Simulated: s.simPKI != nil,
	}
	if cr := s.pol.Credentials; cr != nil {
		c.Credentials = &api.CredentialsInfo{TrustDomain: cr.TrustDomain, Issue: api.PathCredentials, Bundle: api.PathBundle, BundlePEM: api.PathBundlePEM,
			Lifetime: int64(cr.Lifetime.D() / time.Second)}
	}
	for _, p := range s.cfg.Profiles {
		c.Profiles = append(c.Profiles, api.ProfileOf(p))
	}
	d := s.pol.Digest()
	c.PolicyDigest = "sha256:" + hex.EncodeToString(d[:])
	if s.passport != nil {
		c.Models = append(c.Models, tlsbind.ModelPassport)
	}
	for _, sc := range expat.DefaultSchemes {
		c.SignatureSchemes = append(c.SignatureSchemes, sc.String())
	}
	writeJSON(w, c)
}

func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	c, sess, err := s.sessionOf(r)
	if err != nil {
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	req, err := sess.Challenge()
	if err != nil {
		s.refuse(w, err, http.StatusForbidden)
		return
	}
	c.dump.Message(capture.Sent, capture.KindRequest, req.Raw, "")
	w.Header().Set("Content-Type", api.MediaRequest)
	w.Write(req.Raw)
}

func (s *Server) handleAttest(w http.ResponseWriter, r *http.Request) {
	c, sess, err := s.sessionOf(r)
	if err != nil {
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	if !s.admitAttestation(w, c) {
		return
	}
	body, ok := readBody(w, r, maxAuthBody)
	if !ok {
		return
	}
	res := s.accept(w, r, c, sess, body)
	if res == nil {
		return
	}
	if err := s.store.UseContext(r.Context(), res.Context, c.id, res.At); err != nil {
		s.unrecorded(w, sess, err)
		return
	}
	s.recorded(c, res)
	c.dump.Message(capture.Sent, capture.KindResult, res.EAR, "")
	w.Header().Set("Content-Type", api.MediaEAR)
	w.Write(res.EAR)
}

// accept checks the peer's authenticator on the connection's session; a
// refusal is counted, logged and answered here, and accept returns nil.
func (s *Server) accept(w http.ResponseWriter, r *http.Request, c *conn, sess *tlsbind.Session, auth []byte) *tlsbind.Result {
	c.dump.Message(capture.Received, capture.KindAuthenticator, auth, "")
	start := time.Now()
	res, err := sess.Accept(r.Context(), s.keyState().checker, auth)
	took := time.Since(start)
	s.metrics.attestDur.Observe(took.Seconds())
	if err != nil {
		code := problemCode(err)
		s.metrics.attestations.WithLabelValues("refused", code, "").Inc()
		s.audit("attestation refused", c, slog.String("code", code), slog.Duration("duration", took), slog.Any("err", err))
		c.dump.Evidence(auth, expat.Client, s.cfg.Profiles)
		c.dump.Message(capture.Sent, capture.KindError, []byte(err.Error()), code)
		s.refuse(w, err, http.StatusForbidden)
		return nil
	}
	c.dump.Binder("expected by this server and carried by the client's evidence", res.Binder, res.Context, res.AIK)
	s.audit("attestation accepted", c, slog.String("platform", res.Claims.Submod), slog.String("profile", res.Binder.Profile.ID),
		slog.String("model", res.Model), slog.String("status", res.Claims.Status), slog.Bool("simulated", res.Claims.Simulated), slog.Duration("duration", took))
	return res
}

// audit logs an audit event at INFO (refusals included: they are the
// peer's doing, not a fault) with the connection id and peer address.
func (s *Server) audit(event string, c *conn, attrs ...slog.Attr) {
	base := []slog.Attr{slog.String("conn", c.id), slog.String("peer", c.peerAddr())}
	s.log.LogAttrs(context.Background(), slog.LevelInfo, event, append(base, attrs...)...)
}

// recorded completes an accepted attestation once it is durably recorded:
// only now may it earn a receipt, and the connection leaves the
// un-attested limit.
func (s *Server) recorded(c *conn, res *tlsbind.Result) {
	c.markRecorded(res.Context)
	if c.ac != nil {
		c.ac.attested()
	}
	s.metrics.attestations.WithLabelValues("ok", "", res.Model).Inc()
	s.audit("attestation recorded", c, slog.String("platform", res.Claims.Submod))
}

// unrecorded fails closed: an attestation the server could not record is
// no attestation, and the session is failed.
func (s *Server) unrecorded(w http.ResponseWriter, sess *tlsbind.Session, err error) {
	err = fmt.Errorf("record the attestation: %w", err)
	sess.Fail(err)
	s.internal(w, "record the attestation", err)
}

// handleAttestServer answers the client's ClientCertificateRequest with the
// server's own evidence (mutual attestation), in the profile the query
// parameter "profile" names (one the server accepts; default its preferred).
func (s *Server) handleAttestServer(w http.ResponseWriter, r *http.Request) {
	c, sess, err := s.sessionOf(r)
	if err != nil {
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	if s.prover == nil {
		reject(w, &Error{Status: http.StatusNotImplemented, Code: CodeServerAttestationUnavailable, Title: "Server attestation unavailable",
			Detail: "this server has no attester configured (--attester)", Step: tlsbind.StepRequest})
		return
	}
	body, ok := readBody(w, r, maxRequestBody)
	if !ok {
		return
	}
	id := r.URL.Query().Get("profile")
	if id == "" {
		id = s.cfg.Profiles[0].ID
	}
	c.dump.Message(capture.Received, capture.KindRequest, body, "")
	start := time.Now()
	proof, err := sess.RespondAs(r.Context(), s.prover, body, id)
	platform := slog.String("platform", string(s.prover.Attester.Platform()))
	if err != nil {
		s.audit("server attestation refused", c, platform, slog.String("code", problemCode(err)), slog.Duration("duration", time.Since(start)), slog.Any("err", err))
		c.dump.Message(capture.Sent, capture.KindError, []byte(err.Error()), problemCode(err))
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	c.dump.Proof(proof)
	digest, err := evidence.DigestCMW(proof.CMW)
	if err != nil { // our own attester's output: a bug or a broken attester, not the client's fault
		s.internal(w, "digest the server's own evidence", err)
		return
	}
	c.mu.Lock()
	c.serverProved, c.serverDigest = proof, digest
	c.mu.Unlock()
	s.audit("server attestation provided", c, platform, slog.String("profile", id), slog.Duration("duration", time.Since(start)))
	w.Header().Set("Content-Type", api.MediaAuthenticator)
	w.Write(proof.Authenticator)
}

// attested wraps handlers that need an attested connection whose
// attestation is recorded (403 otherwise).
func (s *Server) attested(h func(http.ResponseWriter, *http.Request, *conn, *tlsbind.Result)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, sess, err := s.sessionOf(r)
		if err != nil {
			s.refuse(w, err, http.StatusBadRequest)
			return
		}
		res, err := sess.Attested()
		if err != nil {
			s.refuse(w, err, http.StatusForbidden)
			return
		}
		if !c.isRecorded(res.Context) {
			// Accepted by a request still running (or failing) on this
			// connection: it counts once it is recorded.
			s.refuse(w, &tlsbind.Error{Step: tlsbind.StepConnection, Code: tlsbind.CodeNotAttested,
				Detail: "the attestation on this connection is not recorded yet; wait for its answer"}, http.StatusForbidden)
			return
		}
		h(w, r, c, res)
	}
}

// handleIssue is POST /v1/receipts: the fast path, a receipt at once for
// an action that needs no approver beyond the server's appraiser. One that
// needs more is refused (authz.approval_required): it goes through POST
// /v1/authorizations, which waits for the approvers.
func (s *Server) handleIssue(w http.ResponseWriter, r *http.Request, c *conn, res *tlsbind.Result) {
	start := time.Now()
	a, ok := s.begin(w, r, c, res)
	if !ok {
		return
	}
	if e := a.approvalRequired(); e != nil {
		a.release()
		refuseAuthz(w, e)
		return
	}
	rresp, err := s.issue(r.Context(), c, res, a.requested, a.audience, nil)
	if err != nil {
		a.release()
		s.internal(w, "issue a receipt", err)
		return
	}
	out, err := cbor.Marshal(rresp)
	if err != nil {
		s.internal(w, "encode the receipt response", err)
		return
	}
	s.issued(c, res, rresp.ReceiptID, start)
	w.Header().Set("Content-Type", api.MediaReceiptResponse)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

// handleAttestIssue is POST /v1/attest and POST /v1/receipts in one
// request: the request, its receipt request and the policy rule for it are
// checked first (before any attestation work), then the authenticator
// exactly as POST /v1/attest checks it; on success the receipt is signed
// and stored in the same durable write as the attestation record
// (store.PutAttestedReceipt), so a receipt exists only for an attestation
// that is accepted and recorded, and nothing is answered before that
// COMMIT. An attestation that may not earn a receipt here (its EAR status,
// or an action that needs approvers: POST /v1/authorizations on the same
// connection then) is recorded alone, the connection stays attested, and
// the answer is that refusal. A failed write fails the session: nothing
// was recorded.
func (s *Server) handleAttestIssue(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c, sess, err := s.sessionOf(r)
	if err != nil {
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	if !s.admitAttestation(w, c) {
		return
	}
	body, ok := readBody(w, r, maxAttestIssueBody)
	if !ok {
		return
	}
	req, err := decodeAttestIssueRequest(r.Header.Get("Content-Type"), body)
	if err != nil {
		reject(w, &Error{Status: http.StatusBadRequest, Code: CodeBadAttestIssueRequest, Title: "Malformed attest-and-issue request", Detail: err.Error()})
		return
	}
	a := &authorizing{ks: s.keyState()}
	if a.requested, a.audience, err = receipt.ParseRequestCBOR(req.Receipt); err != nil {
		s.refuse(w, err, http.StatusBadRequest)
		return
	}
	if e := s.selectRule(a); e != nil {
		refuseAuthz(w, e)
		return
	}
	res := s.accept(w, r, c, sess, req.Authenticator)
	if res == nil {
		return
	}
	refusal := s.claimForReceipt(c, res)
	var authzRefusal *authz.Error
	if refusal == nil {
		if authzRefusal = a.approvalRequired(); authzRefusal != nil {
			c.release(res.Context)
		}
	}
	if refusal != nil || authzRefusal != nil {
		if err := s.store.UseContext(r.Context(), res.Context, c.id, res.At); err != nil {
			s.unrecorded(w, sess, err)
			return
		}
		s.recorded(c, res)
		if refusal != nil {
			reject(w, refusal)
		} else {
			refuseAuthz(w, authzRefusal)
		}
		return
	}
	rresp, err := s.issue(r.Context(), c, res, a.requested, a.audience, &store.UsedContext{CRC: res.Context, ConnID: c.id, At: res.At})
	if err != nil {
		s.unrecorded(w, sess, err)
		return
	}
	s.recorded(c, res)
	s.issued(c, res, rresp.ReceiptID, start)
	out, err := cbor.Marshal(api.AttestIssueResponse{EAR: res.EAR, ReceiptID: rresp.ReceiptID, Bundle: rresp.Bundle, TokenSecret: rresp.TokenSecret})
	if err != nil {
		s.internal(w, "encode the attest-and-issue response", err)
		return
	}
	c.dump.Message(capture.Sent, capture.KindResult, res.EAR, "")
	w.Header().Set("Content-Type", api.MediaAttestIssueResponse)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

// claimForReceipt checks that res may earn a receipt (checkIssuable) and
// claims it, atomically: concurrent HTTP/2 requests on one connection must
// not get two receipts from one attestation. The caller releases the claim
// if it issues nothing.
func (s *Server) claimForReceipt(c *conn, res *tlsbind.Result) *Error {
	if err := s.checkIssuable(res); err != nil {
		return err
	}
	if !c.claim(res.Context) {
		return &Error{Status: http.StatusForbidden, Code: CodeAttestationUsed, Title: "Attestation already used",
			Detail: "one receipt per attestation: request a new challenge and re-attest on this connection", Step: tlsbind.StepResult}
	}
	return nil
}

// issued counts and logs a receipt issued (and durably stored) since start.
func (s *Server) issued(c *conn, res *tlsbind.Result, id []byte, start time.Time) {
	s.metrics.receipts.Inc()
	s.metrics.receiptDur.Observe(time.Since(start).Seconds())
	s.audit("receipt issued", c, slog.String("receipt_id", hex.EncodeToString(id)), slog.String("platform", res.Claims.Submod),
		slog.Bool("simulated", res.Claims.Simulated), slog.Duration("duration", time.Since(start)))
}

// issue signs a receipt (with its approval) for the attested result res and
// stores it with its execution token durably (with use, the record of the
// attestation it is issued for, in the same write), and returns what the
// client gets. It is the whole issuing path minus HTTP.
func (s *Server) issue(ctx context.Context, c *conn, res *tlsbind.Result, requested []byte, audience string, use *store.UsedContext) (*api.ReceiptResponse, error) {
	ks := s.keyState()
	bundle, rc, secret, err := receipt.IssueReceipt(ks.issuer, s.issueInput(c, res, ks, requested, audience))
	if err != nil {
		return nil, fmt.Errorf("issue receipt: %w", err)
	}
	bb, err := bundle.MarshalCBOR()
	if err != nil {
		return nil, err
	}
	rcpt, tok := storedReceipt(rc, bb)
	if use != nil {
		err = s.store.PutAttestedReceipt(ctx, *use, rcpt, tok)
	} else {
		err = s.store.PutReceiptWithToken(ctx, rcpt, tok)
	}
	if err != nil {
		return nil, fmt.Errorf("store receipt: %w", err)
	}
	return &api.ReceiptResponse{ReceiptID: rc.ReceiptID, Bundle: bb, TokenSecret: secret}, nil
}

// attestIssueDM decodes attest-and-issue requests strictly: no duplicate
// keys, no indefinite lengths, no unknown members.
var attestIssueDM = func() cbor.DecMode {
	dm, err := cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, IndefLength: cbor.IndefLengthForbidden,
		MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16, ExtraReturnErrors: cbor.ExtraDecErrorUnknownField}.DecMode()
	if err != nil {
		panic("server: attest-and-issue CBOR options: " + err.Error()) // unreachable: constant options
	}
	return dm
}()

func decodeAttestIssueRequest(ct string, body []byte) (*api.AttestIssueRequest, error) {
	if ct != api.MediaAttestIssueRequest {
		return nil, fmt.Errorf("Content-Type %q: want %s (CBOR)", ct, api.MediaAttestIssueRequest)
	}
	var req api.AttestIssueRequest
	if err := attestIssueDM.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("CBOR: %w", err)
	}
	if len(req.Authenticator) == 0 || len(req.Authenticator) > maxAuthBody {
		return nil, fmt.Errorf(`"authenticator" is required: the Authenticator answering this connection's challenge, 1 to %d bytes`, maxAuthBody)
	}
	if len(req.Receipt) == 0 || len(req.Receipt) > maxJSONBody {
		return nil, fmt.Errorf(`"receipt" is required: the receipt request as POST /v1/receipts takes it in CBOR, 1 to %d bytes`, maxJSONBody)
	}
	return &req, nil
}

// decodeReceiptRequest reads a receipt request, JSON or CBOR, through
// receipt's one mapping: requested comes back in deterministic CBOR, within
// the limits of receipt/PROFILE.md §3.1.
func decodeReceiptRequest(ct string, body []byte) ([]byte, string, error) {
	switch mt, _, _ := mime.ParseMediaType(ct); mt {
	case "application/json":
		return receipt.ParseRequestJSON(body)
	case api.MediaReceiptRequest, "application/cbor":
		return receipt.ParseRequestCBOR(body)
	}
	return nil, "", &Error{Status: http.StatusBadRequest, Code: CodeBadReceiptRequest, Title: "Malformed receipt request",
		Detail: fmt.Sprintf("Content-Type %q: want application/json or %s", ct, api.MediaReceiptRequest)}
}

// issueInput assembles what the receipt records about this connection.
func (s *Server) issueInput(c *conn, res *tlsbind.Result, ks *keyState, requested []byte, audience string) receipt.IssueInput {
	version, suite, sni, transport := c.snapshotParams()
	var serverLeaf []byte
	if c.tls != nil {
		if pc := c.tls.ConnectionState().PeerCertificates; len(pc) > 0 {
			serverLeaf = pc[0].Raw
		}
	}
	if crt := s.tlsCfg.Certificates; len(crt) > 0 && len(crt[0].Certificate) > 0 {
		serverLeaf = crt[0].Certificate[0]
	}
	evDigest := receipt.Hash{Alg: receipt.HashSHA256, Value: res.EvidenceDigest}
	peerKey := receipt.SHA256(res.AIK)
	snap := &receipt.ContextSnapshot{
		TLSVersion: version, CipherSuite: suite, SNI: sni, Transport: transport,
		CertRequestContext: res.Context, Binder: res.Binder.Binding, PeerKey: peerKey, EvidenceDigest: evDigest,
		BinderProfile: res.Binder.Profile.ID, BinderLabel: res.Binder.Profile.Label,
		TrustAnchors: res.Claims.TrustAnchors, Simulated: res.Claims.Simulated, Platform: res.Claims.Submod,
		NotEvaluated: res.Claims.NotEvaluated,
	}
	if a := res.Appraisal; a != nil {
		for _, c := range a.Collateral {
			snap.Collateral = append(snap.Collateral, receipt.Collateral{Name: c.Name, Digest: receipt.Hash{Alg: receipt.HashSHA256, Value: c.Value}})
		}
		for _, id := range a.Identifiers {
			if snap.Identifiers == nil {
				snap.Identifiers = map[string][]byte{}
			}
			snap.Identifiers[id.Name] = id.Value
		}
	}
	var subject string
	c.mu.Lock()
	if cr := c.credential; cr != nil && cr.keyHash == sha256.Sum256(res.AIK) {
		// A credential was issued on this connection for this key: the
		// receipt names the workload by its SPIFFE ID, if this attestation
		// maps to the same one.
		if id, err := s.workloadID(res); err == nil && id == cr.id {
			subject = id.String()
		}
	}
	if c.serverProved != nil {
		snap.Mutual = &receipt.MutualResult{Platform: string(s.prover.Attester.Platform()),
			EvidenceDigest: receipt.Hash{Alg: receipt.HashSHA256, Value: c.serverDigest}, Status: "provided"}
	}
	c.mu.Unlock()
	if audience == "" {
		audience = s.cfg.Issuer
	}
	return receipt.IssueInput{
		Action: receipt.Action{
			Type: "seatrx/attested-session/v1", PeerKey: peerKey, Binder: res.Binder.Binding,
			CertRequestContext: res.Context, ServerCert: receipt.SHA256(serverLeaf), EvidenceDigest: evDigest,
			Requested: requested,
		},
		PolicyCBOR: s.polCBOR, EAR: res.EAR, Audience: audience, Subject: subject,
		TokenLifetime: time.Duration(s.pol.Receipts.TokenLifetime), Masking: s.pol.Receipts.MaskingProfile,
		Snapshot: snap, Approvers: []*receipt.Signer{ks.approver}, Now: s.now(),
	}
}

// parseStored parses the signed receipt of a stored one: from its bundle,
// or, for a row stored before receipts were kept once without a bundle
// (store migration 3 kept its COSE_Sign1), from that.
func parseStored(rec *store.Receipt) (*receipt.Receipt, error) {
	cose := rec.Bundle
	if b, err := receipt.UnmarshalBundle(rec.Bundle); err == nil {
		cose = b.Receipt
	}
	r, err := receipt.ParseReceipt(cose)
	if err != nil {
		return nil, fmt.Errorf("stored receipt %x does not parse: %w", rec.ID, err)
	}
	return r, nil
}

// MetricsHandler serves the server's Prometheus metrics: on a listener of
// their own (seatrx-server --metrics-addr), or on the main listener with
// Config.MetricsOnMain.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

// handleGetReceipt is GET /v1/receipts/{id}: the receipt's bundle, for the
// peer it was issued to (the connection proves its key: attested, or by an
// X.509-SVID for it) or a configured auditor. Anyone else gets the same
// 404 as for an unknown id, so that ids do not reveal which receipts exist.
func (s *Server) handleGetReceipt(w http.ResponseWriter, r *http.Request, _ *conn, peers [][]byte) {
	id, err := hex.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 || len(id) > store.MaxIDLen {
		reject(w, &Error{Status: http.StatusBadRequest, Code: CodeBadReceiptID, Title: "Malformed receipt id", Detail: "the id is the receipt_id in lowercase hex"})
		return
	}
	rec, err := s.store.GetReceipt(r.Context(), id)
	if err == nil && !s.mayRead(rec, peers) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		reject(w, &Error{Status: http.StatusNotFound, Code: CodeReceiptNotFound, Title: "No such receipt",
			Detail: fmt.Sprintf("no receipt %x is readable on this connection: it does not exist, or was issued to another peer", id)})
		return
	} else if err != nil {
		s.internal(w, "get a receipt", err)
		return
	}
	w.Header().Set("Content-Type", api.MediaBundle)
	w.Write(rec.Bundle)
}

// mayRead reports whether a connection that proved the key hashes peers
// may read rec: one of them is its owner, or an auditor's.
func (s *Server) mayRead(rec *store.Receipt, peers [][]byte) bool {
	for _, p := range peers {
		if len(rec.Owner) > 0 && bytes.Equal(p, rec.Owner) {
			return true
		}
		for _, a := range s.cfg.Auditors {
			if bytes.Equal(p, a) {
				return true
			}
		}
	}
	return false
}

// redeemer wraps the redemption handler: the connection must prove a key
// (requesterOf); a token is then redeemed only if bound to one of them
// (receipt.token_cnf otherwise). Anyone else gets the attestation refusal
// (403 attest.not_attested).
func (s *Server) redeemer(h func(http.ResponseWriter, *http.Request, *conn, [][]byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, sess, err := s.sessionOf(r)
		if err != nil {
			s.refuse(w, err, http.StatusBadRequest)
			return
		}
		who, err := s.requesterOf(c, sess)
		if err != nil {
			s.refuse(w, err, http.StatusForbidden)
			return
		}
		h(w, r, c, who.keys)
	}
}

func (s *Server) handleRedeem(w http.ResponseWriter, r *http.Request, c *conn, peers [][]byte) {
	body, ok := readBody(w, r, maxJSONBody)
	if !ok {
		return
	}
	var rq api.RedeemRequest
	if err := decodeJSONStrict(body, &rq); err != nil {
		reject(w, &Error{Status: http.StatusBadRequest, Code: CodeBadRedeemRequest, Title: "Malformed redemption request", Detail: err.Error()})
		return
	}
	id, err1 := hex.DecodeString(rq.ReceiptID)
	secret, err2 := hex.DecodeString(rq.Secret)
	if err1 != nil || err2 != nil || len(id) == 0 || len(id) > store.MaxIDLen || len(secret) != receipt.TokenSecretSize {
		reject(w, &Error{Status: http.StatusBadRequest, Code: CodeBadRedeemRequest, Title: "Malformed redemption request",
			Detail: fmt.Sprintf("receipt_id and secret are lowercase hex; the secret is %d bytes", receipt.TokenSecretSize)})
		return
	}
	rec, err := s.store.GetReceipt(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.redeemRefused(w, c, (&Error{Code: CodeTokenUnknown}).ProblemCode(), http.StatusNotFound, "no receipt with this id")
		return
	} else if err != nil {
		s.redeemInternal(w, "get receipt", err)
		return
	}
	rc, err := parseStored(rec)
	if err != nil {
		s.redeemInternal(w, "parse the stored receipt", err)
		return
	}
	// The redemption rules are receipt's, judged on the receipt we signed;
	// the store only makes the consumption single-use.
	now := s.now()
	// The presenting key: the one the token is bound to if the connection
	// proved it (attested, or by SVID), else the first, which then fails
	// token_cnf.
	peer := peers[0]
	if tc := rc.ExecutionToken.Cnf; tc != nil {
		for _, p := range peers {
			if bytes.Equal(p, tc.Value) {
				peer = p
			}
		}
	}
	if err := receipt.CheckTokenSecret(rc.ExecutionToken, secret, s.cfg.Issuer, now, peer); err != nil {
		s.redeemRefused(w, c, receipt.ProblemCode(err), http.StatusForbidden, err.Error())
		return
	}
	red, err := s.store.ConsumeToken(r.Context(), rc.ExecutionToken.ID, c.id, now)
	switch {
	case errors.Is(err, store.ErrTokenConsumed):
		s.redeemRefused(w, c, receipt.ErrTokenConsumed.ProblemCode(), http.StatusConflict, "this execution token was already redeemed")
		return
	case err != nil:
		// Storage failures, and a stored receipt without its token (our own
		// inconsistency), are never the client's fault.
		s.redeemInternal(w, "consume token", err)
		return
	}
	s.metrics.redemptions.WithLabelValues("ok").Inc()
	s.audit("redemption ok", c, slog.String("receipt_id", hex.EncodeToString(red.ReceiptID)), slog.String("token_id", hex.EncodeToString(red.TokenID)))
	writeJSON(w, api.RedeemResponse{TokenID: hex.EncodeToString(red.TokenID), ReceiptID: hex.EncodeToString(red.ReceiptID), RedeemedAt: red.RedeemedAt, By: red.By})
}

// redeemRefused refuses a redemption with the wire code code.
func (s *Server) redeemRefused(w http.ResponseWriter, c *conn, code string, status int, detail string) {
	s.metrics.redemptions.WithLabelValues(code).Inc()
	s.audit("redemption refused", c, slog.String("code", code), slog.String("detail", detail))
	writeProblem(w, status, code, "Execution token refused", detail, "")
}

// redeemInternal answers a redemption that failed on the server's side
// (storage, its own data): 500 server.internal with the cause logged, never a
// client-fault code.
func (s *Server) redeemInternal(w http.ResponseWriter, what string, err error) {
	s.metrics.redemptions.WithLabelValues((&Error{Code: CodeInternal}).ProblemCode()).Inc()
	s.internal(w, "redeem: "+what, err)
}

// handleKeys serves the keys document: every key the issuer ever used,
// with its window (receipt/PROFILE.md §11).
func (s *Server) handleKeys(w http.ResponseWriter, _ *http.Request) {
	out, err := s.keyState().doc.MarshalCBOR()
	if err != nil {
		s.internal(w, "encode the keys document", err)
		return
	}
	w.Header().Set("Content-Type", api.MediaKeys)
	w.Write(out)
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	if r.ContentLength > limit {
		reject(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Title: "Request body too large",
			Detail: fmt.Sprintf("Content-Length %d is over this endpoint's limit of %d bytes", r.ContentLength, limit)})
		return nil, false
	}
	if !reserveBody(w, r, limit) {
		return nil, false
	}
	b, err := readAll(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		reject(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeBodyTooLarge, Title: "Request body too large",
			Detail: fmt.Sprintf("limit %d bytes", limit)})
		return nil, false
	case err != nil:
		// The peer went away (then nobody reads this) or stalled past the
		// read timeout.
		w.Header().Set("Connection", "close")
		reject(w, &Error{Status: http.StatusBadRequest, Code: CodeBodyUnreadable, Title: "Request body unreadable", Detail: err.Error()})
		return nil, false
	}
	return b, true
}

// readAll is io.ReadAll with the buffer sized from the declared length
// (trusted only up to limit, which the reader enforces): io.ReadAll's
// doubling from 512 bytes copied an authenticator five times.
func readAll(rd io.Reader, declared, limit int64) ([]byte, error) {
	size := int64(512)
	if declared > 0 && declared <= limit {
		size = declared + 1 // room to read EOF without growing
	}
	b := make([]byte, 0, size)
	for {
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func writeJSON(w http.ResponseWriter, v any) { writeJSONStatus(w, http.StatusOK, v) }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func decodeJSONStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	if dec.More() {
		return errors.New("JSON: trailing data")
	}
	return nil
}
