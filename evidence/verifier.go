package evidence

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// Errors for misuse of the Verifier API (not properties of the evidence); they
// carry no check code.
var (
	// ErrConfig is wrapped by NewVerifier errors.
	ErrConfig = errors.New("evidence: invalid verifier configuration")
	// ErrNoTime is returned when VerifyOptions.Now is zero: the verifier never
	// reads the clock itself.
	ErrNoTime = errors.New("evidence: verification time is required")
	// ErrNoReportData is returned when VerifyOptions has neither a ReportData
	// (all zero) nor SkipReportData: a forgotten binder must not turn into
	// accepting evidence whose REPORTDATA is zero.
	ErrNoReportData = errors.New("evidence: no expected REPORTDATA (set VerifyOptions.ReportData, or SkipReportData to inspect unbound evidence)")
)

// Config configures a Verifier.
type Config struct {
	// SNPRoots and TDXRoots are the trusted root sets, tried in order with
	// production roots first; simulated roots belong here only when the
	// operator explicitly trusts them.
	SNPRoots []*snp.Roots
	TDXRoots []*tdx.Roots
	// TDXCollateral is the verifier's own TDX collateral (from its cache
	// directory); when nil, collateral carried in the CMW is used, if any.
	TDXCollateral *tdx.Collateral
	// Policy is what the verifier accepts, composed from the policy document
	// by its loader (package policy); its ID and Digest are required, and it
	// must pass Validate. The Verifier keeps the platform sections it points
	// to: change them only before NewVerifier.
	Policy AppraisalPolicy
	// SNPCache and TDXCache optionally cache verified certificate chains.
	SNPCache *snp.ChainCache
	TDXCache *tdx.ChainCache
	// VCEK optionally overrides the VCEK/VLEK of the certificate table (DER),
	// e.g. the CLI's --vcek.
	VCEK []byte
	// Getter enables online collateral (nil = fully offline, the default):
	// a VCEK missing from the SNP certificate table is fetched from AMD KDS,
	// and TDX collateral is fetched from Intel PCS for the verified PCK's
	// FMSPC when neither TDXCollateral nor the CMW provides any. Requests go
	// through the Getter's cache, so repeat peers cost no request.
	Getter *fetch.Getter
}

// VerifyOptions are the inputs of one Verify or VerifyRaw call.
type VerifyOptions struct {
	// Now is the verification time; required (zero is ErrNoTime).
	Now time.Time
	// ReportData is the value the evidence's 64-byte REPORTDATA must equal:
	// the binder of the connection it was presented on.
	ReportData [64]byte
	// SkipReportData skips that check, for inspecting evidence bound to
	// nothing the caller knows (the offline evidence CLI). Such evidence
	// proves nothing about who presented it.
	SkipReportData bool
}

func (o *VerifyOptions) check() error {
	if o.Now.IsZero() {
		return ErrNoTime
	}
	if !o.SkipReportData && o.ReportData == ([64]byte{}) {
		return ErrNoReportData
	}
	return nil
}

// Verifier verifies and appraises TEE evidence. It is immutable after
// NewVerifier and safe for concurrent use.
type Verifier struct {
	pol       *AppraisalPolicy // shared with the platforms
	platforms map[Platform]platform
}

// NewVerifier checks cfg and returns a Verifier. The root lists are copied
// and ordered production first (stable), so that simulated roots are only
// ever a fallback.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Policy.ID == "" {
		return nil, fmt.Errorf("%w: no policy (Policy.ID is empty)", ErrConfig)
	}
	if cfg.Policy.Digest == ([32]byte{}) {
		return nil, fmt.Errorf("%w: policy %q has no digest", ErrConfig, cfg.Policy.ID)
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if slices.Contains(cfg.SNPRoots, nil) || slices.Contains(cfg.TDXRoots, nil) {
		return nil, fmt.Errorf("%w: nil root set", ErrConfig)
	}
	cfg.SNPRoots = slices.Clone(cfg.SNPRoots)
	slices.SortStableFunc(cfg.SNPRoots, func(a, b *snp.Roots) int { return boolOrder(a.Simulated(), b.Simulated()) })
	cfg.TDXRoots = slices.Clone(cfg.TDXRoots)
	slices.SortStableFunc(cfg.TDXRoots, func(a, b *tdx.Roots) int { return boolOrder(a.Simulated(), b.Simulated()) })
	cfg.VCEK = slices.Clone(cfg.VCEK)
	cfg.Policy.TrustAnchors = slices.Clone(cfg.Policy.TrustAnchors)
	v := &Verifier{pol: &cfg.Policy, platforms: map[Platform]platform{}}
	for _, k := range platforms {
		v.platforms[k.name] = k.build(&cfg)
	}
	return v, nil
}

func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// AppraisalError is the error of evidence that verified but that the policy
// refused. Appraisal describes the verified evidence (Status
// "contraindicated", the trust vector flags the failed rule), so that a
// caller may record or report it; Err is the *check.Error of the failed rule,
// which errors.As and check.Code find through Unwrap.
type AppraisalError struct {
	Appraisal *Appraisal
	Err       error
}

func (e *AppraisalError) Error() string { return e.Err.Error() }
func (e *AppraisalError) Unwrap() error { return e.Err }

// Verify decodes the CMW, verifies its evidence against the configured roots
// of its platform, checks REPORTDATA (opts), checks that the root is allowed
// by the policy's trust_anchors, and appraises the evidence against the
// policy. It returns the Appraisal, or nil and an error: *check.Error for
// evidence that failed verification, *AppraisalError (wrapping the
// *check.Error) for verified evidence the policy refused, and ErrNoTime,
// ErrNoReportData or a context error for misuse. Passport CMWs (attestation
// results) are refused with cmw.format: they are verified by evidence/ear;
// use Decode first.
func (v *Verifier) Verify(ctx context.Context, cmwBytes []byte, opts VerifyOptions) (*Appraisal, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	d, err := Decode(cmwBytes)
	if err != nil {
		return nil, err
	}
	if d.Kind != KindEvidence {
		return nil, formatErr("the CMW carries an attestation result (passport model); verify it with evidence/ear, not as evidence")
	}
	return v.verify(ctx, d, opts)
}

// VerifyRaw is Verify for platform evidence that did not come in a CMW (the
// CLI's snp-report, snp-extended and tdx-quote formats). ev.Kind must be
// KindEvidence; the EvidenceDigest is the same as for that evidence in a CMW.
func (v *Verifier) VerifyRaw(ctx context.Context, ev *Decoded, opts VerifyOptions) (*Appraisal, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	if ev == nil || ev.Kind != KindEvidence {
		return nil, formatErr("raw evidence: want kind %q", KindEvidence)
	}
	return v.verify(ctx, ev, opts)
}

func (v *Verifier) verify(ctx context.Context, d *Decoded, opts VerifyOptions) (*Appraisal, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, ok := kindOf(d.Platform)
	if !ok {
		return nil, formatErr("unknown platform %q", d.Platform)
	}
	ver, err := v.platforms[d.Platform].verify(ctx, d, opts)
	if err != nil {
		return nil, err
	}
	digest, err := EvidenceDigest(d)
	if err != nil { // the platform parsed the same bytes already
		return nil, err
	}
	a := &Appraisal{
		Platform:       d.Platform,
		Claims:         ver.claims(),
		PolicyID:       v.pol.ID,
		PolicyDigest:   slices.Clone(v.pol.Digest[:]),
		EvidenceDigest: digest,
		Detail:         ver.detail(),
	}
	if err := v.checkAnchor(k.ns, a.TrustAnchor); err != nil {
		return nil, &AppraisalError{Appraisal: a.contraindicate(err), Err: err}
	}
	o, err := ver.appraise(v.pol)
	if err != nil {
		return nil, &AppraisalError{Appraisal: a.contraindicate(err), Err: err}
	}
	a.affirm(o)
	return a, nil
}

// checkAnchor applies the policy's trust_anchors allow-list.
func (v *Verifier) checkAnchor(ns check.Platform, anchor string) error {
	allowed := v.pol.TrustAnchors
	if len(allowed) == 0 || slices.Contains(allowed, anchor) {
		return nil
	}
	return check.Errorf(ns, check.TrustAnchor, "root %s is trusted by configuration but not allowed by policy %q (%d trust_anchors)",
		anchor, v.pol.ID, len(allowed))
}

// EvidenceDigest returns the evidence digest of decoded CMW content: the
// SHA-256 of its canonical form, so that one attestation has one digest
// however it was encoded. It is the only definition of the digest that
// appraisals, EARs (seatrx.evidence-digest) and receipts (evidence_digest)
// carry; receipt/PROFILE.md §3 documents it:
//
//   - TDX: the quote up to the end of its signed data, without zero padding
//     (tdx.CanonicalQuote; the PCK chain is inside). Collateral is not
//     covered: it endorses the quote, and the same quote may be verified
//     with collateral from the CMW, the verifier's cache or Intel PCS.
//   - SEV-SNP: the 1184-byte report followed by the certificate table in
//     canonical form (snp.CanonicalCertTable; nothing when there is none).
//   - An attestation result (passport model): the EAR JWT bytes.
//
// Malformed evidence fails with the platform's decode error.
func EvidenceDigest(d *Decoded) ([]byte, error) {
	if d == nil {
		return nil, formatErr("digest: no decoded CMW")
	}
	var canon []byte
	switch d.Kind {
	case KindAttestationResult:
		if len(d.EAR) == 0 {
			return nil, formatErr("digest: empty EAR")
		}
		canon = d.EAR
	case KindEvidence:
		k, ok := kindOf(d.Platform)
		if !ok {
			return nil, formatErr("digest: unknown platform %q", d.Platform)
		}
		var err error
		if canon, err = k.canonical(d); err != nil {
			return nil, err
		}
	default:
		return nil, formatErr("digest: CMW kind %q", d.Kind)
	}
	sum := sha256.Sum256(canon)
	return sum[:], nil
}

// DigestCMW decodes a cmw_attestation payload and returns its EvidenceDigest.
func DigestCMW(cmwBytes []byte) ([]byte, error) {
	d, err := Decode(cmwBytes)
	if err != nil {
		return nil, err
	}
	return EvidenceDigest(d)
}
