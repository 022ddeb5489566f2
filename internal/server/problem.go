package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Code names a refusal the HTTP layer itself decides. On the wire it is
// namespaced: "server." + Code.
type Code string

// Namespace is the wire namespace of the server's own codes.
const Namespace = "server"

// The server's own codes, with the HTTP status each is sent with.
const (
	CodeBodyTooLarge                 Code = "body_too_large"                 // 413: request body over the endpoint's limit
	CodeBadReceiptRequest            Code = "bad_receipt_request"            // 400: POST /v1/receipts body of an unsupported media type (its content: receipt.* codes)
	CodeBadAttestIssueRequest        Code = "bad_attest_issue_request"       // 400: POST /v1/attest/issue body not a CBOR map of authenticator and receipt (its receipt request: receipt.* codes)
	CodeBadReceiptID                 Code = "bad_receipt_id"                 // 400: receipt id is not lowercase hex of 1..store.MaxIDLen bytes
	CodeReceiptNotFound              Code = "receipt_not_found"              // 404: no receipt with this id
	CodeBadRedeemRequest             Code = "bad_redeem_request"             // 400: POST /v1/tokens/redeem body malformed
	CodeTokenUnknown                 Code = "token_unknown"                  // 404: redemption for a receipt id the store does not hold
	CodeAttestationStatus            Code = "attestation_status"             // 403: the EAR status is not accepted for receipts
	CodeAttestationStale             Code = "attestation_stale"              // 403: the connection's attestation is older than AttestationMaxAge
	CodeAttestationUsed              Code = "attestation_used"               // 403: this attestation already has its one receipt
	CodeServerAttestationUnavailable Code = "server_attestation_unavailable" // 501: no attester configured for mutual attestation
	CodeInternal                     Code = "internal"                       // 500: anything without a code; the detail is a reference to the log line with the cause, never the cause
	CodeNotFound                     Code = "not_found"                      // 404: no endpoint at this path
	CodeMethodNotAllowed             Code = "method_not_allowed"             // 405: the endpoint exists with other methods (Allow lists them)
	CodeRedirect                     Code = "redirect"                       // 307: the path is not canonical (Location has the canonical one)
	CodeHeadersTooLarge              Code = "headers_too_large"              // 431: header block over MaxHeaderBytes
	CodeNotReady                     Code = "not_ready"                      // 503: GET /readyz: a readiness check failed (detail names it)
	CodeBodyUnreadable               Code = "body_unreadable"                // 400: the request body could not be read (cut short, or slower than the read timeout)
	CodeTooManyConnections           Code = "too_many_connections"           // 503 + Retry-After: over the bound of connections not yet attested (or of attested ones, when an attestation starts); the connection is closed
	CodeTooManyFromAddress           Code = "too_many_from_address"          // 503 + Retry-After: the peer's address holds its bound of connections not yet attested; the connection is closed
	CodeTooManyStreams               Code = "too_many_streams"               // 429 + Retry-After: more concurrent requests than a connection not yet attested may run
	CodeBusy                         Code = "busy"                           // 503 + Retry-After: request bodies in progress fill the server's budget
	CodeAttestationDeadline          Code = "attestation_deadline"           // 408: the connection did not attest within its deadline; it is closed
)

// codes lists the server's own codes (documentation is checked against it).
var codes = []Code{CodeBodyTooLarge, CodeBadReceiptRequest, CodeBadAttestIssueRequest, CodeBadReceiptID, CodeReceiptNotFound, CodeBadRedeemRequest,
	CodeTokenUnknown, CodeAttestationStatus, CodeAttestationStale, CodeAttestationUsed, CodeServerAttestationUnavailable, CodeInternal,
	CodeNotFound, CodeMethodNotAllowed, CodeRedirect, CodeHeadersTooLarge, CodeNotReady,
	CodeBodyUnreadable, CodeTooManyConnections, CodeTooManyFromAddress, CodeTooManyStreams, CodeBusy, CodeAttestationDeadline}

// Error is a refusal the HTTP layer decides: its status, code and words.
type Error struct {
	Status int
	Code   Code
	Title  string
	Detail string
	Step   string // the attestation step concerned, if any
}

func (e *Error) Error() string {
	return fmt.Sprintf("server: %d %s: %s: %s", e.Status, e.ProblemCode(), e.Title, e.Detail)
}

// ProblemCode returns the namespaced wire code, e.g. "server.body_too_large".
func (e *Error) ProblemCode() string { return Namespace + "." + string(e.Code) }

// problemCoder is implemented by every typed error that reaches a client
// (expat, tlsbind, evidence checks, receipt, and Error itself).
type problemCoder interface{ ProblemCode() string }

// writeProblem writes an RFC 9457 problem whose type is
// urn:seatrx:problem:<code> and whose code member is code.
func writeProblem(w http.ResponseWriter, status int, code, title, detail, step string) {
	if rw, ok := w.(*recWriter); ok {
		rw.problemWritten(code)
	}
	w.Header().Set("Content-Type", api.MediaProblem)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypePrefix + code, Title: title, Status: status, Detail: detail, Step: step, Code: code})
}

// reject writes the server's own refusal e.
func reject(w http.ResponseWriter, e *Error) {
	writeProblem(w, e.Status, e.ProblemCode(), e.Title, e.Detail, e.Step)
}

// refuse writes err, a failure the peer's request caused, as a problem with
// status and err's wire code (found with errors.As, never from its text).
// An error without a code is an internal failure (see internal).
func (s *Server) refuse(w http.ResponseWriter, err error, status int) {
	var own *Error
	if errors.As(err, &own) {
		reject(w, own)
		return
	}
	code := problemCode(err)
	if code == "" {
		s.internal(w, "request", err)
		return
	}
	var te *tlsbind.Error
	if errors.As(err, &te) {
		writeProblem(w, status, code, "Attestation refused", err.Error(), te.Step)
		return
	}
	writeProblem(w, status, code, "Request refused", err.Error(), "")
}

// internal answers a failure on the server's side (storage, signing, its
// own data), whatever code the error carries: 500 server.internal, the cause
// logged with what the server was doing and a fresh reference, which is the
// detail sent (the cause never is). Two store failures are told to the
// client, because it can act on them (retry later, or elsewhere): a full
// disk, 507 store.disk_full; and a store unavailable for now
// (store.ErrUnavailable: the database unreachable, a dropped connection, a
// timeout), 503 store.unavailable with Retry-After, so that a client or a
// load balancer retries, on this replica or another. Nothing the request
// asked for was stored then (unless a COMMIT was cut in flight, which a
// retry cannot tell from not stored either).
func (s *Server) internal(w http.ResponseWriter, what string, err error) {
	ref := rand.Text()[:16]
	if s.store.IsDiskFull(err) {
		s.log.Error("store: disk full", "doing", what, "ref", ref, "err", err)
		writeProblem(w, http.StatusInsufficientStorage, store.ErrDiskFull.ProblemCode(), "Storage full",
			"the server's store has no space left; retry later (reference "+ref+")", "")
		return
	}
	if errors.Is(err, store.ErrUnavailable) {
		s.log.Warn("store unavailable", "doing", what, "ref", ref, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
		writeProblem(w, http.StatusServiceUnavailable, store.ErrUnavailable.ProblemCode(), "Store unavailable",
			"the server's store cannot be reached for now; nothing was stored; retry (reference "+ref+")", "")
		return
	}
	if errors.Is(err, context.Canceled) {
		// The client went away (or the server is shutting down) while
		// the request waited: no fault, and nobody reads the answer.
		s.log.Info("request abandoned", "doing", what, "ref", ref, "err", err)
	} else {
		s.log.Error("internal error", "doing", what, "ref", ref, "err", err)
	}
	reject(w, &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Title: "Internal error",
		Detail: "the cause is in the server's log under reference " + ref})
}

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503
// store.unavailable answer.
const RetryAfterUnavailable = 1

// problemCode returns the wire code of the first error in err's chain that
// has one, or "".
func problemCode(err error) string {
	var pc problemCoder
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}
