package evidence

import (
	"context"
	"fmt"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// tdxPlatform verifies Intel TDX quotes with evidence/tdx.
type tdxPlatform struct {
	pol        *AppraisalPolicy
	roots      []*tdx.Roots
	cache      *tdx.ChainCache
	collateral *tdx.Collateral
	getter     *fetch.Getter
}

func newTDXPlatform(cfg *Config) platform {
	return &tdxPlatform{pol: &cfg.Policy, roots: cfg.TDXRoots, cache: cfg.TDXCache, collateral: cfg.TDXCollateral, getter: cfg.Getter}
}

func tdxReportData(quote []byte) ([64]byte, bool) { return tdx.UnverifiedReportData(quote) }

// tdxCanonical is the quote without padding; the collateral is not part of it.
func tdxCanonical(d *Decoded) ([]byte, error) { return tdx.CanonicalQuote(d.Evidence) }

// verify uses the verifier's own collateral if configured, else the CMW's,
// else (with a Getter) collateral fetched for the verified PCK's FMSPC.
func (p *tdxPlatform) verify(ctx context.Context, d *Decoded, opts VerifyOptions) (verified, error) {
	if p.pol.TDX == nil {
		return nil, check.Errorf(check.TDX, check.Policy, "policy %q does not accept TDX evidence", p.pol.ID)
	}
	if len(p.roots) == 0 {
		return nil, check.Errorf(check.TDX, check.TrustAnchor, "no TDX roots are configured")
	}
	coll := p.collateral
	if coll == nil && len(d.Endorsements) > 0 {
		c, err := tdx.ParseCollateralJSON(d.Endorsements)
		if err != nil {
			return nil, check.Wrap(check.TDX, check.Collateral, err, "collateral carried in the CMW")
		}
		coll = c
	}
	first := anchoredFirst(p.roots, func(r *tdx.Roots) bool { return p.cache.Anchored(d.Evidence, r, opts.Now) })
	var res *tdx.Result
	err := tryRoots(ctx, p.roots, first, func(r *tdx.Roots) error {
		o := tdx.VerifyOptions{Now: opts.Now, ReportData: opts.ReportData, SkipReportData: opts.SkipReportData,
			Roots: r, Collateral: coll, Cache: p.cache}
		if coll == nil && p.getter != nil {
			o.FetchCollateral = func(fmspc string) (*tdx.Collateral, error) {
				return tdx.FetchCollateral(ctx, p.getter.TDX(), fmspc)
			}
		}
		var err error
		res, err = tdx.Verify(d.Evidence, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return tdxVerified{res}, nil
}

type tdxVerified struct{ r *tdx.Result }

func (v tdxVerified) detail() any { return v.r }

func (v tdxVerified) claims() Claims {
	r := v.r
	m := []Value{{"mrtd", r.MRTD}}
	for i, rtmr := range r.RTMRs {
		m = append(m, Value{fmt.Sprintf("rtmr%d", i), rtmr})
	}
	m = append(m, Value{"mrseam", r.MRSeam}, Value{"mrconfigid", r.MRConfigID},
		Value{"mrowner", r.MROwner}, Value{"mrownerconfig", r.MROwnerConfig})
	if r.MRServiceTD != nil { // TD 1.5 bodies
		m = append(m, Value{"mrservicetd", r.MRServiceTD})
	}
	c := Claims{
		ReportData:   r.ReportData,
		Measurements: m,
		Collateral:   []Value{{"pck", r.PCKDigest}},
		TrustAnchor:  r.TrustAnchor,
		Simulated:    r.Simulated,
		Debug:        r.Debug,
		TCBStatus:    r.TCBStatus,
		ValidUntil:   r.ValidUntil,
	}
	if r.TCBStatus == "" { // verified without collateral: no TCB info, no CRLs
		c.NotEvaluated = []string{NotEvaluatedTCBStatus, NotEvaluatedRevocation}
	}
	return c
}

func (v tdxVerified) appraise(p *AppraisalPolicy) (outcome, error) {
	if err := tdx.Appraise(v.r, p.TDX); err != nil {
		return outcome{}, err
	}
	return outcome{allowListed: p.TDX.AllowListsMeasurements(), tcbBehind: v.r.TCBBehind(),
		unevaluatedAccepted: p.TDX.AcceptUnevaluatedTCB}, nil
}
