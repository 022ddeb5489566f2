package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/authz"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Pending authorizations (PROFILE.md §15): POST /v1/authorizations on an
// attested connection creates one for the requested action; the policy rule
// that matches the action says which approvers must approve; approvers
// fetch it (GET /v1/authorizations/{id}) and send signed decisions (POST
// /v1/authorizations/{id}/approvals); when the threshold is met the receipt
// is issued, exactly once, and the requester fetches it. An action that
// needs no approver beyond the server's appraiser completes at once: the
// fast path, which POST /v1/receipts also takes.

// authzStatus is the HTTP status of each authz code.
var authzStatus = map[authz.Code]int{
	authz.CodeBadID: http.StatusBadRequest, authz.CodeNotFound: http.StatusNotFound, authz.CodeBadWait: http.StatusBadRequest,
	authz.CodeActionField:      http.StatusBadRequest,
	authz.CodeApprovalRequired: http.StatusForbidden, authz.CodeMalformed: http.StatusBadRequest,
	authz.CodeUnknownApprover: http.StatusForbidden, authz.CodeNotEligible: http.StatusForbidden,
	authz.CodeUnknownKey: http.StatusForbidden, authz.CodeBadSignature: http.StatusForbidden,
	authz.CodeWrongPayload: http.StatusForbidden, authz.CodeApprovalTime: http.StatusForbidden,
	authz.CodeDuplicate: http.StatusConflict, authz.CodeExpired: http.StatusGone,
	authz.CodeCompleted: http.StatusConflict, authz.CodeDenied: http.StatusConflict,
	authz.CodePolicyChanged: http.StatusConflict, authz.CodeBadQuery: http.StatusForbidden,
}

var authzTitle = map[authz.Code]string{
	authz.CodeBadID: "Malformed authorization id", authz.CodeNotFound: "No such authorization",
	authz.CodeBadWait:          "Malformed wait",
	authz.CodeActionField:      "Action cannot be matched to the policy's rules",
	authz.CodeApprovalRequired: "Approvals required", authz.CodeMalformed: "Malformed approval",
	authz.CodeUnknownApprover: "Unknown approver", authz.CodeNotEligible: "Approver not eligible",
	authz.CodeUnknownKey: "Unknown approver key", authz.CodeBadSignature: "Approval signature invalid",
	authz.CodeWrongPayload: "Approval is for something else", authz.CodeApprovalTime: "Approval times do not cover the authorization",
	authz.CodeDuplicate: "Approver already decided", authz.CodeExpired: "Authorization expired",
	authz.CodeCompleted: "Authorization already completed", authz.CodeDenied: "Authorization denied",
	authz.CodePolicyChanged: "Policy changed", authz.CodeBadQuery: "Approver query refused",
}

// refuseAuthz writes an authz refusal with its status.
func refuseAuthz(w http.ResponseWriter, e *authz.Error) {
	detail := e.Detail
	if e.Field != "" {
		detail = e.Field + ": " + detail
	}
	if e.Err != nil && e.Code == authz.CodeMalformed {
		detail += " (" + e.Err.Error() + ")"
	}
	writeProblem(w, authzStatus[e.Code], e.ProblemCode(), authzTitle[e.Code], detail, "")
}

// authorizing is what POST /v1/receipts and POST /v1/authorizations share:
// an attested, fresh, unused attestation (claimed for this request), the
// operation requested, and the policy rule for it, resolved to the
// approvers beyond the server's appraiser.
type authorizing struct {
	res       *tlsbind.Result
	ks        *keyState // the keys in force for this request
	requested []byte
	audience  string
	rule      *policy.Rule
	approvers []policy.Approver // who must decide, the appraiser excluded
	threshold int               // approvals needed from approvers
	denyLimit int               // denies that end it
	release   func()            // gives the attestation back (on failure)
}

// waits reports whether the action needs approvers beyond the appraiser.
func (a *authorizing) waits() bool { return a.threshold > 0 }

// begin checks the connection's attestation, claims it (one receipt or
// authorization per attestation), reads the request (through receipt's
// exact JSON/CBOR mapping) and selects the rule. On false it has answered
// and released the claim.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, c *conn, res *tlsbind.Result) (*authorizing, bool) {
	if err := s.checkIssuable(res); err != nil {
		reject(w, err)
		return nil, false
	}
	// Claim the attestation before issuing, atomically: concurrent HTTP/2
	// requests on one connection must not get two receipts from it.
	if !c.claim(res.Context) {
		reject(w, &Error{Status: http.StatusForbidden, Code: CodeAttestationUsed, Title: "Attestation already used",
			Detail: "one receipt per attestation: request a new challenge and re-attest on this connection", Step: tlsbind.StepResult})
		return nil, false
	}
	a := &authorizing{res: res, ks: s.keyState(), release: func() { c.release(res.Context) }}
	body, ok := readBody(w, r, maxJSONBody)
	if !ok {
		a.release()
		return nil, false
	}
	var err error
	if a.requested, a.audience, err = decodeReceiptRequest(r.Header.Get("Content-Type"), body); err != nil {
		// Mapping errors and limits name the JSON path and the limit
		// (receipt.too_large, receipt.inexact_number, ...), before signing.
		a.release()
		s.refuse(w, err, http.StatusBadRequest)
		return nil, false
	}
	if e := s.selectRule(a); e != nil {
		a.release()
		refuseAuthz(w, e)
		return nil, false
	}
	return a, true
}

// selectRule sets a's policy rule for a.requested, and the approvers,
// threshold and deny limit beyond the server's appraiser (a.ks).
func (s *Server) selectRule(a *authorizing) *authz.Error {
	var err error
	if a.rule, err = s.pol.Receipts.SelectRule(a.requested); err != nil {
		return &authz.Error{Code: authz.CodeActionField, Detail: err.Error(), Err: err}
	}
	a.approvers, a.threshold = a.rule.Approvers, a.rule.Threshold
	for i, ap := range a.rule.Approvers {
		if ap.ID == a.ks.approver.Name() {
			// The policy lists the appraiser's own key: its approval, on
			// every receipt, counts toward the rule's threshold.
			a.approvers = append(a.approvers[:i:i], a.rule.Approvers[i+1:]...)
			a.threshold--
			break
		}
	}
	if a.threshold > 0 {
		a.denyLimit = len(a.approvers) - a.threshold + 1
		if a.rule.DenyEnds {
			a.denyLimit = 1
		}
	}
	return nil
}

// approvalRequired is the refusal of a receipt at once (POST /v1/receipts,
// POST /v1/attest/issue) for an action that needs approvers beyond the
// appraiser, or nil.
func (a *authorizing) approvalRequired() *authz.Error {
	if !a.waits() {
		return nil
	}
	ids := make([]string, len(a.approvers))
	for i, ap := range a.approvers {
		ids[i] = ap.ID
	}
	return &authz.Error{Code: authz.CodeApprovalRequired, Detail: fmt.Sprintf(
		"policy rule %q needs %d approval(s) from %v besides the appraiser's: create a pending authorization (POST %s)",
		a.rule.Name, a.threshold, ids, api.PathAuthorizations)}
}

// handleCreate is POST /v1/authorizations: 202 with the authorization
// (and the execution token's secret, once); completed at once when no
// approver beyond the appraiser is needed, pending otherwise.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, c *conn, res *tlsbind.Result) {
	start := time.Now()
	a, ok := s.begin(w, r, c, res)
	if !ok {
		return
	}
	done := false
	defer func() {
		if !done {
			a.release()
		}
	}()
	random := make([]byte, 16+receipt.TokenSecretSize)
	if _, err := rand.Read(random); err != nil {
		s.internal(w, "draw an authorization id", err)
		return
	}
	id, secret := random[:16], random[16:]
	digest := sha256.Sum256(secret)
	in := s.issueInput(c, res, a.ks, a.requested, a.audience)
	action, err := in.Action.Marshal()
	if err != nil {
		s.internal(w, "encode the action", err)
		return
	}
	now := s.now()
	rec := &authz.Record{
		Action: action, PolicyID: s.pol.ID, PolicyHash: receipt.SHA256(s.polCBOR), EAR: in.EAR, Snapshot: in.Snapshot,
		Issuer: s.cfg.Issuer, Audience: in.Audience, Subject: in.Subject, TokenDigest: digest[:], Rule: a.rule.Name, Appraiser: a.ks.approver.Name(),
	}
	if _, sess, err := s.sessionOf(r); err == nil {
		if who, err := s.requesterOf(c, sess); err == nil {
			rec.RequesterKeys, rec.RequesterID = who.keys, who.spiffeID
		}
	}
	if rec.RequesterID == "" && strings.HasPrefix(in.Subject, "spiffe://") {
		rec.RequesterID = in.Subject // a credential issued on this connection names the workload
	}
	for _, ap := range a.approvers {
		rec.Approvers = append(rec.Approvers, authz.Approver{ID: ap.ID, Role: ap.Role, Kid: s.approverKeys[ap.ID].kid})
	}
	recBytes, err := rec.Encode()
	if err != nil {
		s.internal(w, "encode the authorization", err)
		return
	}
	sa := store.Authorization{
		ID: id, CreatedAt: now, ExpiresAt: now.Add(s.pol.Receipts.AuthorizationExpiryOrDefault()), Requester: c.key,
		Record: recBytes, Threshold: a.threshold, DenyLimit: a.denyLimit,
	}
	var bundle []byte
	if a.waits() {
		for _, ap := range a.approvers {
			sa.Approvers = append(sa.Approvers, ap.ID)
		}
		if err := s.store.PutAuthorization(r.Context(), sa); err != nil {
			s.internal(w, "store the authorization", err)
			return
		}
		sa.State = store.AuthzPending
		s.log.Info("authorization pending", "conn", c.id, "id", hex.EncodeToString(id), "rule", a.rule.Name,
			"threshold", a.threshold, "approvers", len(a.approvers), "expires", sa.ExpiresAt.UTC().Format(time.RFC3339))
	} else {
		in.ReceiptID, in.TokenDigest = id, digest[:]
		out, rc, _, err := receipt.IssueReceipt(a.ks.issuer, in)
		if err == nil {
			bundle, err = out.MarshalCBOR()
		}
		if err != nil {
			s.internal(w, "issue a receipt", err)
			return
		}
		rcpt, tok := storedReceipt(rc, bundle)
		if err := s.store.PutCompletedAuthorization(r.Context(), sa, rcpt, tok); err != nil {
			s.internal(w, "store the receipt", err)
			return
		}
		sa.State, sa.DecidedAt = store.AuthzCompleted, now
		s.metrics.receipts.Inc()
		s.metrics.receiptDur.Observe(time.Since(start).Seconds())
		s.audit("receipt issued", c, slog.String("receipt_id", hex.EncodeToString(id)), slog.String("rule", a.rule.Name),
			slog.String("platform", res.Claims.Submod), slog.Bool("simulated", res.Claims.Simulated), slog.Duration("duration", time.Since(start)))
	}
	done = true
	s.metrics.authorizations.WithLabelValues(sa.State).Inc()
	v, err := s.view(&sa, nil, rec, now, true)
	if err != nil {
		s.internal(w, "show the authorization", err)
		return
	}
	if bundle != nil {
		v.Receipt = base64.RawURLEncoding.EncodeToString(bundle)
	}
	v.TokenSecret = hex.EncodeToString(secret)
	w.Header().Set("Location", api.PathAuthorizations+"/"+v.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, http.StatusAccepted, v)
}

// storedReceipt is how the store keeps a receipt (once: its bundle carries
// the signed COSE_Sign1) and its token. Its owner, who may read it back
// (GET /v1/receipts/{id}), is the peer key of its context snapshot: the
// SHA-256 of the attested key it was issued to.
func storedReceipt(rc *receipt.Receipt, bundle []byte) (store.Receipt, store.Token) {
	tok := rc.ExecutionToken
	var kb, owner []byte
	if tok.Cnf != nil {
		kb = tok.Cnf.Value
	}
	if cs := rc.ContextSnapshot; cs != nil {
		owner = cs.PeerKey.Value
	}
	return store.Receipt{ID: rc.ReceiptID, IssuedAt: time.Unix(int64(rc.Timestamp), 0), Subject: rc.Subject, Bundle: bundle, Owner: owner},
		store.Token{ID: tok.ID, ReceiptID: rc.ReceiptID, Digest: tok.Digest.Value, Audience: tok.Audience,
			NotBefore: time.Unix(int64(tok.NotBefore), 0), Expires: time.Unix(int64(tok.Expires), 0), KeyBinding: kb}
}

// isRequester reports whether request r comes from the requester of
// authorization a, who alone may fetch its receipt: the connection that
// created it, or any connection that proves the same attested key or
// workload identity (requesterOf, the one place that says "the same
// requester"): a new attestation with the same long-lived key, or an
// X.509-SVID of the same workload.
func (s *Server) isRequester(r *http.Request, a *store.Authorization, rec *authz.Record) bool {
	c := connOf(r)
	if c == nil {
		return false
	}
	if a.Requester != "" && c.key == a.Requester {
		return true
	}
	_, sess, err := s.sessionOf(r)
	if err != nil {
		return false
	}
	who, err := s.requesterOf(c, sess)
	if err != nil {
		return false
	}
	for _, k := range who.keys {
		for _, rk := range rec.RequesterKeys {
			if bytes.Equal(k, rk) {
				return true
			}
		}
	}
	return who.spiffeID != "" && who.spiffeID == rec.RequesterID
}

// parseAuthzID reads the {id} of the authorization paths.
func parseAuthzID(r *http.Request) ([]byte, *authz.Error) {
	s := r.PathValue("id")
	id, err := hex.DecodeString(s)
	if err != nil || len(id) != 16 || hex.EncodeToString(id) != s {
		return nil, &authz.Error{Code: authz.CodeBadID, Field: "id", Detail: "want the authorization id: 32 lowercase hex characters"}
	}
	return id, nil
}

// parseWait reads ?wait=SECONDS (0..api.MaxWait; absent = 0).
func parseWait(r *http.Request) (time.Duration, *authz.Error) {
	q := r.URL.Query()
	if !q.Has("wait") {
		return 0, nil
	}
	n, err := strconv.Atoi(q.Get("wait"))
	if err != nil || n < 0 || time.Duration(n)*time.Second > api.MaxWait || len(q["wait"]) > 1 {
		return 0, &authz.Error{Code: authz.CodeBadWait, Field: "wait", Detail: fmt.Sprintf("want whole seconds from 0 to %d", int(api.MaxWait/time.Second))}
	}
	return time.Duration(n) * time.Second, nil
}

// loadAuthz reads an authorization and its record.
func (s *Server) loadAuthz(ctx context.Context, id []byte) (*store.Authorization, []store.Decision, *authz.Record, error) {
	a, ds, err := s.store.GetAuthorization(ctx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	rec, err := authz.DecodeRecord(a.Record)
	if err != nil {
		return nil, nil, nil, err
	}
	return a, ds, rec, nil
}

// longPollTick is how often a long-poll re-reads the store, to see changes
// made by another server on the same database.
const longPollTick = time.Second

// handleShow is GET /v1/authorizations/{id}[?wait=SECONDS]: the
// authorization as it stands; with wait, once it changed (state or counts)
// or the wait ran out. Anyone with the id may read it (approvers are not
// attested peers); the receipt goes to the requester only.
func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	id, aerr := parseAuthzID(r)
	var wait time.Duration
	if aerr == nil {
		wait, aerr = parseWait(r)
	}
	if aerr != nil {
		refuseAuthz(w, aerr)
		return
	}
	a, ds, rec, err := s.loadAuthz(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		refuseAuthz(w, &authz.Error{Code: authz.CodeNotFound, Detail: "no authorization with this id"})
		return
	} else if err != nil {
		s.internal(w, "read an authorization", err)
		return
	}
	deadline := time.Now().Add(wait)
	key := string(id)
	for a.StateAt(s.now()) == store.AuthzPending && time.Until(deadline) > 0 {
		changed, done := s.changed.wait(key)
		t := time.NewTimer(min(time.Until(deadline), longPollTick))
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		done()
		if r.Context().Err() != nil {
			return
		}
		b, bds, brec, err := s.loadAuthz(r.Context(), id)
		if err != nil {
			s.internal(w, "read an authorization", err)
			return
		}
		moved := b.State != a.State || b.Approvals != a.Approvals || b.Denials != a.Denials || b.StateAt(s.now()) != a.StateAt(s.now())
		a, ds, rec = b, bds, brec
		if moved {
			break
		}
	}
	v, err := s.view(a, ds, rec, s.now(), true)
	if err != nil {
		s.internal(w, "show an authorization", err)
		return
	}
	if v.State == store.AuthzCompleted && s.isRequester(r, a, rec) {
		rc, err := s.store.GetReceipt(r.Context(), id)
		if err != nil {
			s.internal(w, "read the receipt of an authorization", err)
			return
		}
		v.Receipt = base64.RawURLEncoding.EncodeToString(rc.Bundle)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, http.StatusOK, v)
}

// view renders an authorization for the API.
func (s *Server) view(a *store.Authorization, ds []store.Decision, rec *authz.Record, now time.Time, withPolicy bool) (*api.Authorization, error) {
	act, err := receipt.ParseAction(rec.Action)
	if err != nil {
		return nil, fmt.Errorf("stored action: %w", err)
	}
	actJSON, err := act.JSON()
	if err != nil {
		return nil, err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	hash := func(h receipt.Hash) api.Hash { return api.Hash{Alg: receipt.HashName(h.Alg), Value: b64(h.Value)} }
	v := &api.Authorization{
		ID: hex.EncodeToString(a.ID), State: a.StateAt(now), Rule: rec.Rule,
		Action: actJSON, ActionPreimage: b64(rec.Action), ActionHash: hash(receipt.SHA256(rec.Action)),
		PolicyID: rec.PolicyID, PolicyHash: hash(rec.PolicyHash), AttestationDigest: hash(receipt.SHA256(rec.EAR)),
		Audience: rec.Issuer, Appraiser: rec.Appraiser, Threshold: a.Threshold, DenyLimit: a.DenyLimit,
		Approvals: a.Approvals, Denials: a.Denials, Created: a.CreatedAt.Unix(), Expires: a.ExpiresAt.Unix(), Now: now.Unix(),
		Approvers: []api.AuthorizationApprover{},
	}
	if withPolicy && rec.PolicyHash.Matches(s.polCBOR) {
		v.PolicyPreimage = b64(s.polCBOR)
	}
	if !a.DecidedAt.IsZero() {
		v.Decided = a.DecidedAt.Unix()
	} else if v.State == store.AuthzExpired {
		v.Decided = a.ExpiresAt.Unix()
	}
	for _, ap := range rec.Approvers {
		av := api.AuthorizationApprover{ID: ap.ID, Role: ap.Role, Kid: b64(ap.Kid)}
		for _, d := range ds {
			if d.Approver == ap.ID {
				av.Decision, av.Decided = d.Decision, d.At.Unix()
			}
		}
		v.Approvers = append(v.Approvers, av)
	}
	return v, nil
}

// handleDecide is POST /v1/authorizations/{id}/approvals: one approver's
// signed decision. The signature is the approver's authentication (its key
// comes from the server's policy); the statement must be about this
// authorization exactly; the store counts it once. The answer is the
// authorization as it then stands (completed if this approval completed it).
func (s *Server) handleDecide(w http.ResponseWriter, r *http.Request) {
	id, aerr := parseAuthzID(r)
	if aerr != nil {
		refuseAuthz(w, aerr)
		return
	}
	body, ok := readBody(w, r, authz.MaxApprovalBody)
	if !ok {
		return
	}
	sa, err := authz.ParseApproval(body)
	if err != nil {
		s.refuseDecision(w, err)
		return
	}
	a, _, rec, err := s.loadAuthz(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.refuseDecision(w, &authz.Error{Code: authz.CodeNotFound, Detail: "no authorization with this id"})
		return
	} else if err != nil {
		s.internal(w, "read an authorization", err)
		return
	}
	now := s.now()
	if err := s.checkDecision(sa, body, id, a, rec, now); err != nil {
		s.refuseDecision(w, err)
		return
	}
	got, err := s.store.Decide(r.Context(), id, store.Decision{Approver: sa.Approver, Decision: sa.Decision, COSE: body}, now)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		s.refuseDecision(w, &authz.Error{Code: authz.CodeDuplicate, Field: "payload.approver", Detail: fmt.Sprintf("%q already decided on this authorization", sa.Approver)})
		return
	case errors.Is(err, store.ErrNotPending):
		// It ended between our read and the decision: say how.
		if b, _, _, err := s.loadAuthz(r.Context(), id); err == nil {
			s.refuseDecision(w, stateError(b, now))
			return
		}
		s.refuseDecision(w, &authz.Error{Code: authz.CodeCompleted, Detail: "the authorization is no longer pending"})
		return
	case errors.Is(err, store.ErrNotEligible):
		s.refuseDecision(w, &authz.Error{Code: authz.CodeNotEligible, Field: "payload.approver", Detail: fmt.Sprintf("%q is not an approver of this authorization", sa.Approver)})
		return
	case err != nil:
		s.internal(w, "record a decision", err)
		return
	}
	s.metrics.decisions.WithLabelValues(sa.Decision).Inc()
	s.log.Info("authorization decision", "id", hex.EncodeToString(id), "approver", sa.Approver, "decision", sa.Decision,
		"approvals", got.Approvals, "denials", got.Denials, "state", got.State)
	if got.State == store.AuthzDenied {
		s.metrics.authorizations.WithLabelValues(store.AuthzDenied).Inc()
	}
	if got.State == store.AuthzPending && got.Approvals >= got.Threshold {
		if err := s.complete(r.Context(), id); err != nil {
			s.internal(w, "issue the receipt of an authorization", err)
			return
		}
	}
	s.changed.notify(string(id))
	a, ds, rec, err := s.loadAuthz(r.Context(), id)
	if err != nil {
		s.internal(w, "read an authorization", err)
		return
	}
	v, err := s.view(a, ds, rec, s.now(), false)
	if err != nil {
		s.internal(w, "show an authorization", err)
		return
	}
	writeJSONStatus(w, http.StatusOK, v)
}

// refuseDecision answers a refused decision and counts it.
func (s *Server) refuseDecision(w http.ResponseWriter, err error) {
	var ae *authz.Error
	if !errors.As(err, &ae) {
		s.internal(w, "check a decision", err)
		return
	}
	s.metrics.decisions.WithLabelValues(ae.ProblemCode()).Inc()
	refuseAuthz(w, ae)
}

// stateError is the refusal for a decision on an authorization that is no
// longer pending.
func stateError(a *store.Authorization, now time.Time) *authz.Error {
	switch st := a.StateAt(now); st {
	case store.AuthzExpired:
		return &authz.Error{Code: authz.CodeExpired, Detail: fmt.Sprintf("expired at %s", a.ExpiresAt.UTC().Format(time.RFC3339))}
	case store.AuthzDenied:
		return &authz.Error{Code: authz.CodeDenied, Detail: "a deny ended it"}
	case store.AuthzCompleted:
		return &authz.Error{Code: authz.CodeCompleted, Detail: "its receipt was issued"}
	}
	return nil
}

// checkDecision applies every rule a decision must pass before the store
// counts it: the authorization pending under this server's policy, the
// approver one of its approvers with the key the policy gives it, the
// signature valid, the statement about this authorization, times covering
// the wait.
func (s *Server) checkDecision(sa *receipt.SignedApproval, body, id []byte, a *store.Authorization, rec *authz.Record, now time.Time) error {
	if e := stateError(a, now); e != nil {
		return e
	}
	if !rec.PolicyHash.Matches(s.polCBOR) {
		return &authz.Error{Code: authz.CodePolicyChanged, Detail: fmt.Sprintf("made under policy %q, the server now runs %q: it cannot complete", rec.PolicyID, s.pol.ID)}
	}
	key, known := s.approverKeys[sa.Approver]
	if !known {
		return &authz.Error{Code: authz.CodeUnknownApprover, Field: "payload.approver", Detail: fmt.Sprintf("%q is not an approver in the server's policy", sa.Approver)}
	}
	ra := rec.Approver(sa.Approver)
	if ra == nil {
		return &authz.Error{Code: authz.CodeNotEligible, Field: "payload.approver", Detail: fmt.Sprintf("%q is not among the approvers of rule %q for this action", sa.Approver, rec.Rule)}
	}
	if string(sa.KeyID) != string(key.kid) {
		return &authz.Error{Code: authz.CodeUnknownKey, Field: "protected.kid", Detail: fmt.Sprintf("signed by a key that is not %q's in the server's policy", sa.Approver)}
	}
	if _, err := receipt.VerifyDecision(body, key.TrustedKey); err != nil {
		return &authz.Error{Code: authz.CodeBadSignature, Detail: receipt.ProblemCode(err), Err: err}
	}
	return authz.CheckBinding(sa, id, rec, authz.HashesOf(rec, s.polCBOR), now, a.ExpiresAt)
}

// maxCompleteTries bounds completion retries: each retry follows a decision
// that moved the count, and there are at most store.MaxAuthzApprovers.
const maxCompleteTries = store.MaxAuthzApprovers + 2

// complete issues the receipt of authorization id if its threshold is met:
// it signs a receipt carrying every approval the store holds, then asks the
// store to complete the authorization with exactly that many approvals,
// which succeeds for one caller only (here or on another server). If the
// count moved meanwhile it tries again with the new approvals.
func (s *Server) complete(ctx context.Context, id []byte) error {
	for range maxCompleteTries {
		a, ds, rec, err := s.loadAuthz(ctx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if a.StateAt(now) != store.AuthzPending || a.Approvals < a.Threshold {
			return nil
		}
		ks := s.keyState()
		in, err := s.completionInput(ks, a, ds, rec, now)
		if err != nil {
			return err
		}
		start := time.Now()
		out, rc, _, err := receipt.IssueReceipt(ks.issuer, in)
		if err != nil {
			return fmt.Errorf("issue: %w", err)
		}
		bundle, err := out.MarshalCBOR()
		if err != nil {
			return err
		}
		rcpt, tok := storedReceipt(rc, bundle)
		err = s.store.Complete(ctx, id, len(in.Approvals), rcpt, tok, now)
		if errors.Is(err, store.ErrNotPending) {
			continue // completed elsewhere, ended, or the count moved: look again
		}
		if err != nil {
			return err
		}
		s.metrics.receipts.Inc()
		s.metrics.receiptDur.Observe(time.Since(start).Seconds())
		s.metrics.authorizations.WithLabelValues(store.AuthzCompleted).Inc()
		s.log.Info("receipt issued", "receipt_id", hex.EncodeToString(id), "rule", rec.Rule, "approvals", len(in.Approvals))
		return nil
	}
	return fmt.Errorf("authorization %x: completion did not settle after %d tries", id, maxCompleteTries)
}

// completionInput is the receipt.IssueInput of a pending authorization whose
// approvals are ds: what was fixed at creation (record), the server's
// current keys and policy (which must be the same policy), the appraiser's
// approval made now and the approvers' as collected.
func (s *Server) completionInput(ks *keyState, a *store.Authorization, ds []store.Decision, rec *authz.Record, now time.Time) (receipt.IssueInput, error) {
	if !rec.PolicyHash.Matches(s.polCBOR) || rec.Issuer != s.cfg.Issuer {
		return receipt.IssueInput{}, fmt.Errorf("authorization %x was made under policy %q and issuer %q; the server now runs %q as %q",
			a.ID, rec.PolicyID, rec.Issuer, s.pol.ID, s.cfg.Issuer)
	}
	act, err := receipt.ParseAction(rec.Action)
	if err != nil {
		return receipt.IssueInput{}, err
	}
	in := receipt.IssueInput{
		Action: *act, PolicyCBOR: s.polCBOR, EAR: rec.EAR, Audience: rec.Audience, Subject: rec.Subject, Snapshot: rec.Snapshot,
		TokenLifetime: time.Duration(s.pol.Receipts.TokenLifetime), Masking: s.pol.Receipts.MaskingProfile,
		Approvers: []*receipt.Signer{ks.approver}, ReceiptID: a.ID, TokenDigest: rec.TokenDigest, Now: now,
		Authorization: &receipt.AuthorizationExt{Created: uint64(a.CreatedAt.Unix()), Expires: uint64(a.ExpiresAt.Unix())},
	}
	for _, d := range ds {
		if d.Decision != store.DecisionApprove {
			continue
		}
		ra := rec.Approver(d.Approver)
		if ra == nil {
			return receipt.IssueInput{}, fmt.Errorf("authorization %x: a decision by %q, who is not among its approvers", a.ID, d.Approver)
		}
		in.Approvals = append(in.Approvals, receipt.CollectedApproval{Identity: receipt.Approver{ID: ra.ID, Kid: ra.Kid, Role: ra.Role}, Signature: d.COSE})
	}
	return in, nil
}

// handlePending is POST /v1/authorizations/pending: the body is an
// approver query signed by an approver of the server's policy; the answer
// lists the pending authorizations awaiting its decision (oldest first, at
// most store.MaxList), without the policy preimage.
func (s *Server) handlePending(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, authz.MaxApprovalBody)
	if !ok {
		return
	}
	now := s.now()
	q, err := receipt.ParseApproverQuery(body)
	if err != nil {
		refuseAuthz(w, &authz.Error{Code: authz.CodeBadQuery, Detail: receipt.ProblemCode(err) + ": " + err.Error()})
		return
	}
	key, known := s.approverKeys[q.Approver]
	if !known {
		refuseAuthz(w, &authz.Error{Code: authz.CodeUnknownApprover, Field: "payload.approver", Detail: fmt.Sprintf("%q is not an approver in the server's policy", q.Approver)})
		return
	}
	if _, err := receipt.VerifyApproverQuery(body, key.TrustedKey); err != nil {
		refuseAuthz(w, &authz.Error{Code: authz.CodeBadQuery, Detail: receipt.ProblemCode(err) + ": " + err.Error()})
		return
	}
	skew := time.Duration(s.pol.Receipts.ClockSkew)
	if q.Audience != s.cfg.Issuer {
		refuseAuthz(w, &authz.Error{Code: authz.CodeBadQuery, Field: "payload.aud", Detail: fmt.Sprintf("for issuer %q, this is %q", q.Audience, s.cfg.Issuer)})
		return
	}
	if iat := time.Unix(int64(q.IssuedAt), 0); iat.Before(now.Add(-skew)) || iat.After(now.Add(skew)) {
		refuseAuthz(w, &authz.Error{Code: authz.CodeBadQuery, Field: "payload.iat", Detail: fmt.Sprintf("iat %d is more than %s from the server's time %d", q.IssuedAt, skew, now.Unix())})
		return
	}
	list, err := s.store.ListPending(r.Context(), q.Approver, now, store.MaxList)
	if err != nil {
		s.internal(w, "list pending authorizations", err)
		return
	}
	out := api.PendingList{Approver: q.Approver, Authorizations: []api.Authorization{}}
	for i := range list {
		rec, err := authz.DecodeRecord(list[i].Record)
		if err != nil {
			s.internal(w, "read an authorization", err)
			return
		}
		v, err := s.view(&list[i], nil, rec, now, false)
		if err != nil {
			s.internal(w, "show an authorization", err)
			return
		}
		out.Authorizations = append(out.Authorizations, *v)
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSONStatus(w, http.StatusOK, out)
}
