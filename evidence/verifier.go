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
	"github.com/seatrx/seatrx/evidence/policy"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// Errors for misuse of the Verifier API (not properties of the evidence); they
// carry no check code.
var (
	// ErrConfig is wrapped by NewVerifier errors.
	ErrConfig = errors.New("evidence: invalid verifier configuration")
	// ErrNoTime is returned when Verify is called with a zero time: the
	// verifier never reads the clock itself.
	ErrNoTime = errors.New("evidence: verification time is required")
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
	// Policy is the appraisal policy; required, and must be valid.
	Policy *policy.Policy
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

// Verifier verifies and appraises TEE evidence. It is immutable after
// NewVerifier and safe for concurrent use.
type Verifier struct {
	cfg          Config
	policyDigest []byte
}

// NewVerifier checks cfg and returns a Verifier. The root lists are copied
// and ordered production first (stable), so that simulated roots are only
// ever a fallback.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Policy == nil {
		return nil, fmt.Errorf("%w: no policy", ErrConfig)
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
	d := cfg.Policy.Digest()
	return &Verifier{cfg: cfg, policyDigest: d[:]}, nil
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

// Verify decodes the CMW, verifies the evidence against each configured root
// set in turn (a trust_anchor failure moves to the next set; any other
// failure is final), checks REPORTDATA == *expected (nil skips the check: CLI
// only), checks that the root is allowed by the policy's trust_anchors, and
// appraises the result against the policy.
//
// Errors are *check.Error (ErrNoTime and context errors excepted). When the
// evidence verified but the appraisal failed, Verify returns the error AND
// an Appraisal with Status "contraindicated" describing the verified
// evidence, so that a caller may record or report it; on any other error the
// Appraisal is nil. Passport CMWs (attestation results) are refused with
// cmw.format: they are verified by evidence/ear; use Decode first.
func (v *Verifier) Verify(ctx context.Context, cmwBytes []byte, expected *[64]byte, now time.Time) (*Appraisal, error) {
	d, err := Decode(cmwBytes)
	if err != nil {
		return nil, err
	}
	if d.Kind != KindEvidence {
		return nil, formatErr("the CMW carries an attestation result (passport model); verify it with evidence/ear, not as evidence")
	}
	digest := sha256.Sum256(cmwBytes)
	return v.verify(ctx, d, digest[:], expected, now)
}

// VerifyRaw is Verify for platform evidence that did not come in a CMW (the
// CLI's snp-report, snp-extended and tdx-quote formats). ev.Kind must be
// KindEvidence; EvidenceDigest is the SHA-256 of the report or quote.
func (v *Verifier) VerifyRaw(ctx context.Context, ev *Decoded, expected *[64]byte, now time.Time) (*Appraisal, error) {
	if ev == nil || ev.Kind != KindEvidence {
		return nil, formatErr("raw evidence: want kind %q", KindEvidence)
	}
	var digest [32]byte
	switch ev.Platform {
	case PlatformSNP:
		digest = sha256.Sum256(ev.Report)
	case PlatformTDX:
		digest = sha256.Sum256(ev.Quote)
	default:
		return nil, formatErr("raw evidence: unknown platform %q", ev.Platform)
	}
	return v.verify(ctx, ev, digest[:], expected, now)
}

func (v *Verifier) verify(ctx context.Context, d *Decoded, digest []byte, expected *[64]byte, now time.Time) (*Appraisal, error) {
	if now.IsZero() {
		return nil, ErrNoTime
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch d.Platform {
	case PlatformSNP:
		return v.verifySNP(ctx, d, digest, expected, now)
	case PlatformTDX:
		return v.verifyTDX(ctx, d, digest, expected, now)
	default:
		return nil, formatErr("unknown platform %q", d.Platform)
	}
}

func (v *Verifier) verifySNP(ctx context.Context, d *Decoded, digest []byte, expected *[64]byte, now time.Time) (*Appraisal, error) {
	const plat = check.SNP
	pol := v.cfg.Policy.SNP
	if pol == nil {
		return nil, check.Errorf(plat, check.Policy, "policy %q does not accept SEV-SNP evidence", v.cfg.Policy.ID)
	}
	if len(v.cfg.SNPRoots) == 0 {
		return nil, check.Errorf(plat, check.TrustAnchor, "no SEV-SNP roots are configured")
	}
	var res *snp.Result
	err := tryRoots(ctx, v.cfg.SNPRoots, func(r *snp.Roots) error {
		opts := snp.VerifyOptions{Now: now, Roots: r, VCEK: v.cfg.VCEK, Cache: v.cfg.SNPCache}
		if v.cfg.Getter != nil { // never a typed nil in the interface
			opts.Getter = snpGetter{ctx: ctx, g: v.cfg.Getter}
		}
		var err error
		res, err = snp.Verify(d.Report, d.CertTable, expected, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	a := v.newAppraisal(PlatformSNP, res.TrustAnchor, res.Simulated, digest)
	a.SNP = res
	if err := v.checkAnchor(plat, res.TrustAnchor); err != nil {
		return a.contraindicate(err), err
	}
	if err := snp.Appraise(res, pol); err != nil {
		return a.contraindicate(err), err
	}
	a.affirm(res.Debug, len(pol.Measurements) > 0, "")
	return a, nil
}

func (v *Verifier) verifyTDX(ctx context.Context, d *Decoded, digest []byte, expected *[64]byte, now time.Time) (*Appraisal, error) {
	const plat = check.TDX
	pol := v.cfg.Policy.TDX
	if pol == nil {
		return nil, check.Errorf(plat, check.Policy, "policy %q does not accept TDX evidence", v.cfg.Policy.ID)
	}
	if len(v.cfg.TDXRoots) == 0 {
		return nil, check.Errorf(plat, check.TrustAnchor, "no TDX roots are configured")
	}
	coll := v.cfg.TDXCollateral
	if coll == nil && len(d.Collateral) > 0 {
		c, err := tdx.ParseCollateralJSON(d.Collateral)
		if err != nil {
			return nil, check.Wrap(plat, check.Collateral, err, "collateral carried in the CMW")
		}
		coll = c
	}
	var res *tdx.Result
	err := tryRoots(ctx, v.cfg.TDXRoots, func(r *tdx.Roots) error {
		opts := tdx.VerifyOptions{Now: now, Roots: r, Collateral: coll, Cache: v.cfg.TDXCache}
		if coll == nil && v.cfg.Getter != nil {
			opts.FetchCollateral = func(fmspc string) (*tdx.Collateral, error) {
				return tdx.FetchCollateral(ctx, v.cfg.Getter.TDX(), fmspc)
			}
		}
		var err error
		res, err = tdx.Verify(d.Quote, expected, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	a := v.newAppraisal(PlatformTDX, res.TrustAnchor, res.Simulated, digest)
	a.TDX = res
	if err := v.checkAnchor(plat, res.TrustAnchor); err != nil {
		return a.contraindicate(err), err
	}
	if err := tdx.Appraise(res, pol); err != nil {
		return a.contraindicate(err), err
	}
	allowListed := len(pol.MRTDs) > 0 || len(pol.MRSeams) > 0 || slices.ContainsFunc(pol.RTMRs, func(l []string) bool { return len(l) > 0 })
	a.affirm(res.Debug, allowListed, res.TCBStatus)
	return a, nil
}

// tryRoots runs verify with each root set until one succeeds or fails with
// something other than trust_anchor. If every set fails with trust_anchor,
// the first set's error is returned (it names the production roots).
func tryRoots[R any](ctx context.Context, roots []R, verify func(R) error) error {
	var first error
	for _, r := range roots {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := verify(r)
		if err == nil {
			return nil
		}
		if ce := (*check.Error)(nil); !errors.As(err, &ce) || ce.Check != check.TrustAnchor {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// checkAnchor applies the policy's trust_anchors allow-list.
func (v *Verifier) checkAnchor(plat check.Platform, anchor string) error {
	allowed := v.cfg.Policy.TrustAnchors
	if len(allowed) == 0 || slices.Contains(allowed, anchor) {
		return nil
	}
	return check.Errorf(plat, check.TrustAnchor, "root %s is trusted by configuration but not allowed by policy %q (%d trust_anchors)",
		anchor, v.cfg.Policy.ID, len(allowed))
}

func (v *Verifier) newAppraisal(p Platform, anchor string, simulated bool, digest []byte) *Appraisal {
	return &Appraisal{
		Platform:       p,
		PolicyID:       v.cfg.Policy.ID,
		PolicyDigest:   slices.Clone(v.policyDigest),
		TrustAnchor:    anchor,
		Simulated:      simulated,
		EvidenceDigest: slices.Clone(digest),
	}
}

// snpGetter binds a fetch.Getter to the verification's context, so that a
// cancelled Verify also abandons its KDS requests (go-sev-guest calls Get
// without one).
type snpGetter struct {
	ctx context.Context
	g   *fetch.Getter
}

func (s snpGetter) Get(url string) ([]byte, error) { return s.g.GetContext(s.ctx, url) }
