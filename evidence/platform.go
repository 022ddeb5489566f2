package evidence

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
)

// Claims is what verified evidence says, whatever TEE produced it. Each
// platform fills it from its own result (kept in Appraisal.Detail), so that
// callers (EAR claims, receipt context) handle every platform alike.
type Claims struct {
	// ReportData is the evidence's 64-byte REPORTDATA.
	ReportData [64]byte
	// Measurements are the platform's measurement registers, in the
	// platform's order: SEV-SNP "measurement", "host_data"; TDX "mrtd",
	// "rtmr0".."rtmr3", "mrseam", "mrconfigid", "mrowner", "mrownerconfig"
	// and, from a TD 1.5 body (quote v5), "mrservicetd".
	Measurements []Value
	// Identifiers name the TEE instance: SEV-SNP "chip_id" (zero when the
	// guest masks it); none for TDX.
	Identifiers []Value
	// Collateral lists the endorsements the verification relied on, with
	// their SHA-256 digests: SEV-SNP "vcek" or "vlek", TDX "pck".
	Collateral []Value
	// TrustAnchor is "sha256:<hex>" of the root certificate the evidence
	// chains to.
	TrustAnchor string
	// Simulated is true when that root belongs to a simulated (test) PKI.
	Simulated bool
	// ValidUntil is when the endorsements the verification relied on (the
	// certificate chain) stop being valid: the end of this appraisal's
	// validity, which nothing derived from it (a credential) may outlive.
	ValidUntil time.Time
	// Debug is true when the TEE runs in debug mode (its memory is readable
	// by the host).
	Debug bool
	// TCBStatus is the vendor's TCB status when the platform has one and it
	// was evaluated (TDX with collateral: "UpToDate", "OutOfDate", ...), else "".
	TCBStatus string
	// NotEvaluated names the checks that could not be made on this evidence
	// (NotEvaluatedTCBStatus, NotEvaluatedRevocation), e.g. TDX verified
	// without collateral. The appraisal is "warning" at best unless the
	// policy accepts them; it records them either way.
	NotEvaluated []string
}

// Checks an appraisal may record as not evaluated (Claims.NotEvaluated), as
// EARs (ear.KeyNotEvaluated) and receipts (context_snapshot.not_evaluated)
// spell them.
const (
	// NotEvaluatedTCBStatus: the vendor's TCB status was not evaluated
	// (TDX: no TCB info / QE identity).
	NotEvaluatedTCBStatus = ear.NotEvaluatedTCBStatus
	// NotEvaluatedRevocation: the certificates the evidence chains through
	// were not checked against the vendor's CRLs (TDX: no PCK and root CRL;
	// SEV-SNP: no ARK CRL for the ASK, the verifier is offline).
	NotEvaluatedRevocation = ear.NotEvaluatedRevocation
)

// Value is one named byte string of verified evidence: a measurement, an
// identifier, or a collateral item's SHA-256 digest.
type Value struct {
	Name  string
	Value []byte
}

// platform verifies one TEE's evidence for a Verifier. Each supported TEE
// implements it once (platform_snp.go, platform_tdx.go) and has one row in
// platforms; the rest of this package, and everything above it, sees only
// Claims and the outcome.
type platform interface {
	// verify checks d's evidence and endorsements: the signature chain to a
	// configured trust anchor and, unless opts.SkipReportData, REPORTDATA.
	// Failures are *check.Error in the platform's namespace.
	verify(ctx context.Context, d *Decoded, opts VerifyOptions) (verified, error)
}

// verified is one platform's verified evidence.
type verified interface {
	claims() Claims
	// appraise applies the platform's section of p. Failures are *check.Error.
	appraise(p *AppraisalPolicy) (outcome, error)
	// detail is the platform's own result, for Appraisal.Detail.
	detail() any
}

// outcome is what a platform's appraisal found besides pass or fail; it
// shapes the AR4SI trust vector.
type outcome struct {
	// allowListed: a measurement allow-list was applied (and passed).
	allowListed bool
	// tcbBehind: the policy accepted a TCB that is not the vendor's latest.
	tcbBehind bool
	// unevaluatedAccepted: the policy explicitly accepts the checks in
	// Claims.NotEvaluated being left out, so they do not lower the status.
	unevaluatedAccepted bool
}

// platformKind registers one TEE: its name, the namespace of its check codes,
// how a Verifier builds its verifier from Config, where its evidence keeps
// REPORTDATA (read unverified, only to explain a binding failure), and the
// canonical form of its evidence, which EvidenceDigest hashes.
type platformKind struct {
	name       Platform
	identity   []MeasurementName
	ns         check.Platform
	build      func(*Config) platform
	reportData func(evidence []byte) ([64]byte, bool)
	canonical  func(d *Decoded) ([]byte, error)
}

// platforms lists the supported TEEs; adding one adds a row (and its media
// types in mediaTypes).
var platforms = []platformKind{
	{PlatformSNP, snpIdentity, check.SNP, newSNPPlatform, snpReportData, snpCanonical},
	{PlatformTDX, tdxIdentity, check.TDX, newTDXPlatform, tdxReportData, tdxCanonical},
}

// MeasurementName is one of a platform's named measurements (the names of
// Claims.Measurements) with its size in bytes.
type MeasurementName struct {
	Name string
	Size int
}

// The measurements that identify a workload: what launched it and how it
// was configured. SEV-SNP: the launch digest and the host-supplied data;
// TDX: the build-time measurement, the runtime registers and the
// configuration id.
var (
	snpIdentity = []MeasurementName{{"measurement", 48}, {"host_data", 32}}
	tdxIdentity = []MeasurementName{{"mrtd", 48}, {"rtmr0", 48}, {"rtmr1", 48}, {"rtmr2", 48}, {"rtmr3", 48}, {"mrconfigid", 48}}
)

// IdentityMeasurements returns the measurements that identify a workload
// on platform p, which a workload-identity mapping pins all of (policy
// credentials), or false for an unknown platform.
func IdentityMeasurements(p Platform) ([]MeasurementName, bool) {
	k, ok := kindOf(p)
	if !ok {
		return nil, false
	}
	return slices.Clone(k.identity), true
}

// Platforms lists the supported platforms.
func Platforms() []Platform {
	out := make([]Platform, len(platforms))
	for i, k := range platforms {
		out[i] = k.name
	}
	return out
}

func kindOf(p Platform) (*platformKind, bool) {
	for i := range platforms {
		if platforms[i].name == p {
			return &platforms[i], true
		}
	}
	return nil, false
}

// tryRoots runs verify with each trusted root set in turn, starting with
// roots[first], until one succeeds or fails with something other than
// trust_anchor (a failure of the evidence itself is final). If every set
// fails with trust_anchor, roots[0]'s error is returned (it names the
// production roots). The platform verifiers choose the anchor from the
// evidence's own chain before any report signature is checked, so a set
// that does not anchor the evidence costs no signature verification; and
// first, the set whose chain cache already holds this evidence's
// endorsement chain, spares repeat evidence even that attempt. The order
// decides nothing else: each set verifies or fails on its own.
func tryRoots[R any](ctx context.Context, roots []R, first int, verify func(R) error) error {
	errs := make([]error, len(roots))
	for k := range roots {
		i := k
		switch {
		case k == 0:
			i = first
		case k <= first:
			i = k - 1
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := verify(roots[i])
		if err == nil {
			return nil
		}
		if ce := (*check.Error)(nil); !errors.As(err, &ce) || ce.Check != check.TrustAnchor {
			return err
		}
		errs[i] = err
	}
	return errs[0]
}

// anchoredFirst returns the index of the first root set for which anchored
// is true, or 0.
func anchoredFirst[R any](roots []R, anchored func(R) bool) int {
	for i, r := range roots {
		if anchored(r) {
			return i
		}
	}
	return 0
}
