package evidence

import (
	"context"
	"slices"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/snp"
)

// snpPlatform verifies AMD SEV-SNP reports with evidence/snp.
type snpPlatform struct {
	pol    *AppraisalPolicy
	roots  []*snp.Roots
	cache  *snp.ChainCache
	vcek   []byte
	getter *fetch.Getter
}

func newSNPPlatform(cfg *Config) platform {
	return &snpPlatform{pol: &cfg.Policy, roots: cfg.SNPRoots, cache: cfg.SNPCache, vcek: cfg.VCEK, getter: cfg.Getter}
}

func snpReportData(report []byte) ([64]byte, bool) { return snp.UnverifiedReportData(report) }

// snpCanonical is the report followed by the canonical certificate table.
func snpCanonical(d *Decoded) ([]byte, error) {
	if len(d.Evidence) != snp.ReportSize {
		return nil, check.Errorf(check.SNP, check.Decode, "report: %d bytes, want %d", len(d.Evidence), snp.ReportSize)
	}
	table, err := snp.CanonicalCertTable(d.Endorsements)
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(d.Evidence), table...), nil
}

func (p *snpPlatform) verify(ctx context.Context, d *Decoded, opts VerifyOptions) (verified, error) {
	if p.pol.SNP == nil {
		return nil, check.Errorf(check.SNP, check.Policy, "policy %q does not accept SEV-SNP evidence", p.pol.ID)
	}
	if len(p.roots) == 0 {
		return nil, check.Errorf(check.SNP, check.TrustAnchor, "no SEV-SNP roots are configured")
	}
	first := anchoredFirst(p.roots, func(r *snp.Roots) bool {
		return p.cache.Anchored(d.Evidence, d.Endorsements, p.vcek, r, opts.Now)
	})
	var res *snp.Result
	err := tryRoots(ctx, p.roots, first, func(r *snp.Roots) error {
		o := snp.VerifyOptions{Now: opts.Now, ReportData: opts.ReportData, SkipReportData: opts.SkipReportData,
			Roots: r, VCEK: p.vcek, Cache: p.cache}
		if p.getter != nil { // never a typed nil in the interface
			// Online: the ASK is checked against AMD's CRL (fetched through
			// the Getter's cache); without a CRL the report is refused.
			// Offline, revocation is recorded as not evaluated.
			o.Getter, o.CheckRevocations = snpGetter{ctx: ctx, g: p.getter}, true
		}
		var err error
		res, err = snp.Verify(d.Evidence, d.Endorsements, o)
		return err
	})
	if err != nil {
		return nil, err
	}
	return snpVerified{res}, nil
}

type snpVerified struct{ r *snp.Result }

func (v snpVerified) detail() any { return v.r }

func (v snpVerified) claims() Claims {
	r := v.r
	c := Claims{
		ReportData:   r.ReportData,
		Measurements: []Value{{"measurement", r.Measurement}, {"host_data", r.HostData}},
		Identifiers:  []Value{{"chip_id", r.ChipID}},
		Collateral:   []Value{{r.SignerKind, r.VCEKDigest}},
		TrustAnchor:  r.TrustAnchor,
		Simulated:    r.Simulated,
		Debug:        r.Debug,
		ValidUntil:   r.ValidUntil,
	}
	if !r.RevocationChecked {
		c.NotEvaluated = []string{NotEvaluatedRevocation}
	}
	return c
}

func (v snpVerified) appraise(p *AppraisalPolicy) (outcome, error) {
	if err := snp.Appraise(v.r, p.SNP); err != nil {
		return outcome{}, err
	}
	return outcome{allowListed: p.SNP.AllowListsMeasurements(), unevaluatedAccepted: p.SNP.AcceptUnevaluatedRevocation}, nil
}

// snpGetter binds a fetch.Getter to the verification's context, so that a
// cancelled Verify also abandons its KDS requests (evidence/snp calls Get
// without one).
type snpGetter struct {
	ctx context.Context
	g   *fetch.Getter
}

func (s snpGetter) Get(url string) ([]byte, error) { return s.g.GetContext(s.ctx, url) }
