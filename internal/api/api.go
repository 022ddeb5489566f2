// Package api holds the wire types of seatrx's HTTP API, shared by the
// server and the client so that both sides encode the same thing.
package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/seatrx/seatrx/tlsbind"
)

// Media types (application/vnd.seatrx.* where none is registered).
const (
	MediaRequest         = "application/vnd.seatrx.authenticator-request"
	MediaAuthenticator   = "application/vnd.seatrx.authenticator"
	MediaEAR             = "application/eat+jwt"
	MediaReceiptRequest  = "application/vnd.seatrx.receipt-request+cbor"
	MediaReceiptResponse = "application/vnd.seatrx.receipt-response+cbor"
	// MediaAttestIssueRequest and MediaAttestIssueResponse are the bodies
	// of POST /v1/attest/issue.
	MediaAttestIssueRequest  = "application/vnd.seatrx.attest-issue-request+cbor"
	MediaAttestIssueResponse = "application/vnd.seatrx.attest-issue-response+cbor"
	MediaBundle              = "application/vnd.seatrx.receipt-bundle+cbor"
	MediaKeys                = "application/vnd.seatrx.keys+cbor"
	MediaProblem             = "application/problem+json"
	// MediaCertChain is a PEM certificate chain (RFC 8555 §9.1): an
	// issued SVID, or the PEM trust bundle.
	MediaCertChain = "application/pem-certificate-chain"
	// MediaCOSESign1 is an approval or an approver query (RFC 9052 §9.1).
	MediaCOSESign1 = `application/cose; cose-type="cose-sign1"`
)

// Paths of the API.
const (
	PathWellKnown   = "/.well-known/seatrx"
	PathChallenge   = "/v1/attest/challenge"
	PathAttest      = "/v1/attest"
	PathAttestServe = "/v1/attest/server"
	PathAttestIssue = "/v1/attest/issue"
	PathReceipts    = "/v1/receipts"
	PathRedeem      = "/v1/tokens/redeem"
	PathKeys        = "/v1/keys"
	// PathCredentials issues an X.509-SVID on an attested connection;
	// PathBundle (JWKS) and PathBundlePEM serve the workload CA's trust bundle.
	PathCredentials = "/v1/credentials"
	PathBundle      = "/v1/credentials/bundle"
	PathBundlePEM   = "/v1/credentials/bundle.pem"
	// PathAuthorizations is POST (create) and, followed by /{id}, GET
	// (show, long-poll) and /{id}/approvals (POST, decide).
	PathAuthorizations = "/v1/authorizations"
	// PathPending lists the authorizations awaiting the approver whose
	// signed query is the body (POST).
	PathPending = "/v1/authorizations/pending"
)

// MaxWait bounds the long-poll of GET /v1/authorizations/{id}?wait=SECONDS:
// it stays below the server's 30 s write timeout.
const MaxWait = 25 * time.Second

// ProblemTypePrefix starts every problem "type": the type is this prefix
// followed by the problem's namespaced code, e.g.
// urn:seatrx:problem:attest.binding_connection or
// urn:seatrx:problem:expat.bad_signature. The namespace says which layer
// refused (expat, attest, cmw, snp, tdx, ear, receipt, authz, server); every code is
// listed in conformance/README.md.
const ProblemTypePrefix = "urn:seatrx:problem:"

// Problem is an RFC 9457 problem details object; it is also the error the
// client returns for a refusal. Callers branch on Code (ProblemCode), never
// on Title or Detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Step   string `json:"step,omitempty"` // attestation step that failed
	Code   string `json:"code"`           // namespaced code: Type without ProblemTypePrefix
}

func (p *Problem) Error() string {
	return fmt.Sprintf("server refused (%d %s): %s: %s", p.Status, p.Code, p.Title, p.Detail)
}

// ProblemCode returns the namespaced code, so a refusal received from the
// server and a typed error raised locally are read the same way.
func (p *Problem) ProblemCode() string { return p.Code }

// Capabilities is the body of GET /.well-known/seatrx. CMWExtensionType and
// BinderLabel are those of the server's preferred profile (Profiles[0]).
type Capabilities struct {
	EvidenceTypes    []string  `json:"evidence_types"`
	Models           []string  `json:"models"`
	SignatureSchemes []string  `json:"signature_schemes"`
	CMWExtensionType uint16    `json:"cmw_extension_type"`
	BinderLabel      string    `json:"binder_label"`
	Profiles         []Profile `json:"profiles"`
	PolicyID         string    `json:"policy_id"`
	PolicyDigest     string    `json:"policy_digest"`
	ReceiptProfile   string    `json:"receipt_profile"`
	Issuer           string    `json:"issuer"`
	ServerAttester   bool      `json:"server_attestation"`
	Simulated        bool      `json:"simulated_roots_trusted"`
	// Credentials describes workload credential issuance; absent when the
	// server's policy issues none.
	Credentials *CredentialsInfo `json:"credentials,omitempty"`
}

// CredentialsInfo tells clients where credentials and the trust bundle are.
type CredentialsInfo struct {
	TrustDomain string `json:"trust_domain"`
	Issue       string `json:"issue"`      // POST: an X.509-SVID on an attested connection
	Bundle      string `json:"bundle"`     // GET: the SPIFFE bundle (JWKS)
	BundlePEM   string `json:"bundle_pem"` // GET: the CA certificates as PEM
	Lifetime    int64  `json:"lifetime"`   // seconds, the policy's (an SVID may end sooner)
}

// Profile describes one interop profile the server accepts
// (docs/PROTOCOL.md, "Profiles").
type Profile struct {
	ID               string `json:"id"`
	ExporterLabel    string `json:"exporter_label"`
	ExportedLength   int    `json:"exported_length"`
	CMWExtensionType uint16 `json:"cmw_extension_type"`
	CMWData          string `json:"cmw_data"`    // cmw, cocos-json, rust-ref-record
	ReportData       string `json:"report_data"` // binding-aik, sha512-binding, exported
}

// ReceiptRequest is the body of POST /v1/receipts (CBOR, or JSON).
type ReceiptRequest struct {
	// Requested describes the operation being authorized; it becomes the
	// action object's "requested" member, in deterministic CBOR.
	Requested any `json:"requested" cbor:"requested"`
	// Audience is the executor that will redeem the execution token;
	// default the issuer itself.
	Audience string `json:"audience,omitempty" cbor:"audience,omitempty"`
}

// ReceiptResponse is the body of a successful POST /v1/receipts (CBOR).
type ReceiptResponse struct {
	ReceiptID   []byte `cbor:"receipt_id"`
	Bundle      []byte `cbor:"bundle"`       // receipt bundle (CBOR)
	TokenSecret []byte `cbor:"token_secret"` // execution token secret: returned once, never stored
}

// AttestIssueRequest is the body of POST /v1/attest/issue (CBOR): the
// client's Authenticator, as POST /v1/attest takes it, and the receipt
// request, as POST /v1/receipts takes it in CBOR (a ReceiptRequest,
// encoded). The receipt is issued only if the attestation is accepted, and
// stored in the same durable write as its record.
type AttestIssueRequest struct {
	Authenticator []byte `cbor:"authenticator"`
	Receipt       []byte `cbor:"receipt"`
}

// AttestIssueResponse is the body of a successful POST /v1/attest/issue
// (CBOR): the EAR POST /v1/attest returns and the receipt POST /v1/receipts
// returns.
type AttestIssueResponse struct {
	EAR         []byte `cbor:"ear"` // the EAR JWT (application/eat+jwt)
	ReceiptID   []byte `cbor:"receipt_id"`
	Bundle      []byte `cbor:"bundle"`
	TokenSecret []byte `cbor:"token_secret"`
}

// RedeemRequest is the body of POST /v1/tokens/redeem (JSON, hex strings).
type RedeemRequest struct {
	ReceiptID string `json:"receipt_id"`
	Secret    string `json:"secret"`
}

// RedeemResponse is the consumption record of a redeemed execution token.
type RedeemResponse struct {
	TokenID    string    `json:"token_id"`
	ReceiptID  string    `json:"receipt_id"`
	RedeemedAt time.Time `json:"redeemed_at"`
	By         string    `json:"by"`
}

// ProfileOf describes p as /.well-known/seatrx lists it.
func ProfileOf(p tlsbind.Profile) Profile {
	return Profile{ID: p.ID, ExporterLabel: p.Label, ExportedLength: p.ExportedSize,
		CMWExtensionType: p.CMWType, CMWData: p.Container.String(), ReportData: p.Layout.String()}
}

// Hash is a hash in JSON: the algorithm's name and the value in base64url
// without padding, as in the receipt's JSON rendering.
type Hash struct {
	Alg   string `json:"alg"`
	Value string `json:"value"`
}

// Authorization is the body of POST /v1/authorizations (202) and of GET
// /v1/authorizations/{id}: what is authorized, under which policy and
// rule, who may approve it, and where it stands. Byte strings are
// base64url without padding. An approver signs over the hashes of the
// preimages shown here, recomputed (PROFILE.md §4).
type Authorization struct {
	// ID is the authorization's id, lowercase hex of 16 bytes; the
	// receipt_id approvals name and the receipt will carry.
	ID string `json:"id"`
	// State is pending, completed, denied or expired (PROFILE.md §15).
	State string `json:"state"`
	// Rule names the policy rule that chose the approvers.
	Rule string `json:"rule"`
	// Action is the action decoded for reading; ActionPreimage its
	// deterministic CBOR, ActionHash that hashed.
	Action         json.RawMessage `json:"action"`
	ActionPreimage string          `json:"action_preimage"`
	ActionHash     Hash            `json:"action_hash"`
	// PolicyID names the policy; PolicyPreimage is its canonical CBOR and
	// PolicyHash that hashed.
	PolicyID       string `json:"policy_id"`
	PolicyPreimage string `json:"policy_preimage,omitempty"` // not in lists
	PolicyHash     Hash   `json:"policy_hash"`
	// AttestationDigest is the hash of the EAR about the requester.
	AttestationDigest Hash `json:"attestation_digest"`
	// Audience is the issuer's URI, an approval's aud.
	Audience string `json:"aud"`
	// Appraiser is the id under which the server's appraiser approves
	// (always, on top of the approvers).
	Appraiser string `json:"appraiser"`
	// Approvers may approve or deny; Threshold of them must approve;
	// DenyLimit denies end it.
	Approvers []AuthorizationApprover `json:"approvers"`
	Threshold int                     `json:"threshold"`
	DenyLimit int                     `json:"deny_limit"`
	Approvals int                     `json:"approvals"`
	Denials   int                     `json:"denials"`
	// Created and Expires are Unix seconds (an approval's exp must be at
	// least Expires); Now is the server's clock when it answered (an
	// approval's iat may not be later than the server's clock).
	Created int64 `json:"created"`
	Expires int64 `json:"expires"`
	Now     int64 `json:"now"`
	Decided int64 `json:"decided,omitempty"`
	// Receipt is the receipt bundle (CBOR, base64url), once completed, for
	// the requester only (its connection, or one proving the same attested
	// key or workload identity).
	Receipt string `json:"receipt,omitempty"`
	// TokenSecret is the execution token's secret (lowercase hex), in the
	// answer to the requester's POST only: it is never stored or shown again.
	TokenSecret string `json:"token_secret,omitempty"`
}

// AuthorizationApprover is one approver of an authorization and its
// decision, if made.
type AuthorizationApprover struct {
	ID       string `json:"id"`
	Role     string `json:"role,omitempty"`
	Kid      string `json:"kid"` // base64url of the RFC 9679 thumbprint of its key
	Decision string `json:"decision,omitempty"`
	Decided  int64  `json:"decided,omitempty"`
}

// PendingList is the answer to POST /v1/authorizations/pending.
type PendingList struct {
	Approver       string          `json:"approver"`
	Authorizations []Authorization `json:"authorizations"`
}
