// Package ear issues and verifies EAT Attestation Results (EAR) in the
// Veraison profile ("tag:github.com,2023:veraison/ear"), serialised as a JWT
// and signed with ES256 or ES384, using github.com/veraison/ear v1.1.3 for
// the claims model and github.com/lestrrat-go/jwx/v3 for the JWS.
//
// seatrx issues one EAR per appraised peer: it becomes the receipt's
// hae_attestation_token. In the passport model a peer presents an EAR issued
// by an external Verifier; Verify accepts it only if it is signed by a
// configured verifier key and is bound to this connection (eat_nonce equals
// the binding, the key attestation names the authenticator key).
//
// Where each Claims field lives in the token (one submodule per EAR):
//
//	Submod          submods key
//	Status          submods[Submod]["ear.status"]
//	TrustVector     submods[Submod]["ear.trustworthiness-vector"]
//	Nonce           "eat_nonce" (top level, base64url without padding)
//	AKPub           submods[Submod]["ear.veraison.key-attestation"]["akpub"] (base64url DER SPKI)
//	PolicyID        submods[Submod]["ear.appraisal-policy-id"]
//	PolicyDigest    submods[Submod]["ear.veraison.policy-claims"]["seatrx.policy-digest"] (base64url)
//	Measurements    submods[Submod]["ear.veraison.annotated-evidence"]["seatrx.measurements"] (name -> hex)
//	EvidenceDigest  submods[Submod]["ear.veraison.annotated-evidence"]["seatrx.evidence-digest"] (base64url)
//	TrustAnchors    submods[Submod]["ear.veraison.annotated-evidence"]["seatrx.trust-anchors"] (array of text)
//	Simulated       submods[Submod]["ear.veraison.annotated-evidence"]["seatrx.simulated"] (bool)
//	NotEvaluated    submods[Submod]["ear.veraison.annotated-evidence"]["seatrx.not-evaluated"] (array of text)
//	IssuedAt        "iat" (whole seconds)
//
// The verifier identity ("ear.verifier-id") carries the developer and build
// given to NewIssuer; the JWS header carries "kid" (the issuer's RFC 7638 key
// thumbprint) and "typ": "JWT".
package ear

import (
	"errors"
	"time"

	vear "github.com/veraison/ear"

	"github.com/seatrx/seatrx/evidence/check"
)

// Profile is the only eat_profile this package issues and accepts.
const Profile = vear.EatProfile

// MediaType is the CMW media type of an EAR issued here (docs/PROTOCOL.md §5.4).
const MediaType = `application/eat+jwt; eat_profile="` + Profile + `"`

// MaxTokenSize bounds the size of a token Verify will look at, and of a token
// Issue will produce; it keeps an EAR inside one cmw_attestation extension.
const MaxTokenSize = 64 << 10

// Bounds on the binding carried in eat_nonce (EAR: 8..64 bytes). seatrx uses
// 32 (SHA-256) or 48 (SHA-384) bytes.
const (
	MinNonceSize = 8
	MaxNonceSize = 64
)

// MaxSubmods bounds the number of appraisals Verify accepts in one token.
const MaxSubmods = 16

// MaxNotEvaluated bounds Claims.NotEvaluated: 8 names of at most
// maxNameLen (64) bytes each.
const MaxNotEvaluated = 8

const maxNameLen = 64

// Status names (AR4SI trust tiers), as used in Claims.Status and
// VerifyOptions.AcceptedStatuses.
const (
	StatusNone            = "none"
	StatusAffirming       = "affirming"
	StatusWarning         = "warning"
	StatusContraindicated = "contraindicated"
)

// Names of the AR4SI trustworthiness claims, the keys of Claims.TrustVector.
const (
	ClaimInstanceIdentity = "instance-identity"
	ClaimConfiguration    = "configuration"
	ClaimExecutables      = "executables"
	ClaimFileSystem       = "file-system"
	ClaimHardware         = "hardware"
	ClaimRuntimeOpaque    = "runtime-opaque"
	ClaimStorageOpaque    = "storage-opaque"
	ClaimSourcedData      = "sourced-data"
)

// Trust vector values seatrx asserts besides veraison/ear's named ones
// (AR4SI: 36 is a standard configuration value; negative values are
// non-standard reasons within a tier).
const (
	// ConfigurationUnavailable (configuration, 36, warning): "elements of the
	// configuration relevant to security are unavailable to the Verifier";
	// seatrx asserts it when the vendor's TCB status was not evaluated.
	ConfigurationUnavailable vear.TrustClaim = 36
	// HardwareRevocationNotEvaluated (hardware, -33, warning, seatrx's own):
	// the evidence chains to the vendor's root, but its certificates were not
	// checked against the vendor's revocation lists.
	HardwareRevocationNotEvaluated vear.TrustClaim = -33
)

// Names of checks an appraisal records as not evaluated
// (Claims.NotEvaluated, annotation KeyNotEvaluated).
const (
	NotEvaluatedTCBStatus  = "tcb_status" // the vendor's TCB status
	NotEvaluatedRevocation = "revocation" // the vendor's certificate revocation lists
)

// Keys seatrx adds inside the Veraison extension maps of an appraisal. They
// are namespaced so that they cannot collide with an external verifier's own
// annotations.
const (
	// KeyMeasurements (annotated evidence): map of measurement name ->
	// lower-case hex, e.g. "measurement", "mrtd", "rtmr0".
	KeyMeasurements = "seatrx.measurements"
	// KeyEvidenceDigest (annotated evidence): base64url digest of the
	// appraised evidence's canonical form.
	KeyEvidenceDigest = "seatrx.evidence-digest"
	// KeyTrustAnchors (annotated evidence): fingerprints of the roots the
	// evidence chained to.
	KeyTrustAnchors = "seatrx.trust-anchors"
	// KeySimulated (annotated evidence): true if those roots are a simulated
	// (test) PKI.
	KeySimulated = "seatrx.simulated"
	// KeyNotEvaluated (annotated evidence): the checks that could not be made
	// (NotEvaluatedTCBStatus, NotEvaluatedRevocation); absent when none.
	KeyNotEvaluated = "seatrx.not-evaluated"
	// KeyPolicyDigest (policy claims): base64url digest of the appraisal
	// policy that was applied.
	KeyPolicyDigest = "seatrx.policy-digest"
)

// platform is the namespace of every check this package reports.
const platform = check.EAR

// Checks of attestation results that the check package does not define for
// every platform: the Check of a *check.Error whose Platform is check.EAR.
// Verify also reports the shared check.Decode, check.Signature, check.Nonce
// and check.Time. Branch on these (errors.As, then Platform and Check).
const (
	// CheckKey: the signer is not trusted, or akpub is not the expected key
	// (errors.Is ErrUntrustedVerifier or ErrAKPubMismatch tells which).
	CheckKey check.Check = "key"
	// CheckStatus: an appraisal's status is not accepted.
	CheckStatus check.Check = "status"
	// CheckProfile: eat_profile is not Profile.
	CheckProfile check.Check = "profile"
)

// Wire codes reported by Verify (the ProblemCode of the returned
// *check.Error), for logs, problem documents and vectors.
const (
	CodeDecode    = string(platform) + "." + string(check.Decode)    // "ear.decode": not a well-formed compact JWS / EAR, or too large
	CodeSignature = string(platform) + "." + string(check.Signature) // "ear.signature": signature invalid, or an algorithm other than the key's
	CodeKey       = string(platform) + "." + string(CheckKey)        // "ear.key": signer not trusted, or akpub is not the expected key
	CodeNonce     = string(platform) + "." + string(check.Nonce)     // "ear.nonce": eat_nonce missing or not the expected binding
	CodeTime      = string(platform) + "." + string(check.Time)      // "ear.time": iat too old or in the future
	CodeStatus    = string(platform) + "." + string(CheckStatus)     // "ear.status": an appraisal's status is not accepted
	CodeProfile   = string(platform) + "." + string(CheckProfile)    // "ear.profile": eat_profile is not Profile
)

// Sentinel errors; the *check.Error values returned by Verify wrap the first
// two so that callers can tell the two ear.key cases apart with errors.Is.
var (
	// ErrUntrustedVerifier: the token names (kid) or uses a signer that is
	// not in VerifyOptions.Trusted.
	ErrUntrustedVerifier = errors.New("ear: untrusted verifier")
	// ErrAKPubMismatch: the attested key is missing or is not the
	// authenticator's key.
	ErrAKPubMismatch = errors.New("ear: akpub mismatch")
	// ErrInvalidClaims: Issue was given Claims that cannot form a valid EAR.
	ErrInvalidClaims = errors.New("ear: invalid claims")
	// ErrInvalidOptions: Verify was given incomplete or inconsistent options.
	ErrInvalidOptions = errors.New("ear: invalid verify options")
	// ErrUnsupportedKey: the key type or curve has no EAR signing algorithm here.
	ErrUnsupportedKey = errors.New("ear: unsupported key")
)

// Claims is what seatrx puts into an EAR about one appraised peer, and what
// Verify returns about the appraisal it accepted.
type Claims struct {
	// Submod is the submodule name: "sev-snp" or "tdx".
	Submod string
	// Status is the appraisal's trust tier: "affirming", "warning",
	// "contraindicated" or "none".
	Status string
	// TrustVector maps AR4SI claim names (Claim* constants) to values in
	// -128..127. A value of 0 means "no claim" and is not returned by Verify.
	TrustVector map[string]int
	// Nonce is the attestation binding for the connection (32 or 48 bytes).
	Nonce []byte
	// AKPub is the DER SubjectPublicKeyInfo of the authenticator key
	// (Veraison key attestation "akpub"); optional.
	AKPub []byte
	// PolicyID names the appraisal policy (ear.appraisal-policy-id).
	PolicyID string
	// PolicyDigest is the digest of the canonical appraisal policy.
	PolicyDigest []byte
	// TrustAnchors are the fingerprints of the roots the evidence chained to.
	TrustAnchors []string
	// Simulated is true when the evidence chained to a simulated (test) PKI.
	Simulated bool
	// EvidenceDigest is the digest of the appraised evidence's canonical
	// form (evidence.EvidenceDigest).
	EvidenceDigest []byte
	// NotEvaluated names the checks the appraisal could not make
	// (NotEvaluatedTCBStatus, NotEvaluatedRevocation); at most
	// MaxNotEvaluated names of 1..64 bytes.
	NotEvaluated []string
	// Measurements maps measurement names to hex; carried as
	// annotated evidence. seatrx reports SEV-SNP "measurement" and
	// "host_data"; TDX "mrtd", "rtmr0".."rtmr3", "mrseam", "mrconfigid",
	// "mrowner", "mrownerconfig" and, for TD 1.5, "mrservicetd"
	// (evidence.Claims.Measurements).
	Measurements map[string]string
	// IssuedAt is the token's iat; Issue uses the current time when zero.
	IssuedAt time.Time
	// Verifier is set by Verify to the ID of the TrustedVerifier whose key
	// verified the token; Issue ignores it.
	Verifier string
}
