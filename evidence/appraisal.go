package evidence

import (
	"errors"

	vear "github.com/veraison/ear"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
)

// Appraisal is the outcome of verifying and appraising one piece of evidence;
// the relying party turns it into an EAR and records it in receipts.
type Appraisal struct {
	Platform Platform
	// Claims is what the verified evidence says, in platform-neutral terms.
	Claims
	// Status is the AR4SI trust tier: StatusAffirming, StatusWarning or
	// StatusContraindicated; it is the worst tier in TrustVector.
	Status string
	// TrustVector maps AR4SI claim names (ClaimInstanceIdentity, ...) to values.
	TrustVector  map[string]int
	PolicyID     string
	PolicyDigest []byte // SHA-256 of the policy's canonical CBOR
	// EvidenceDigest is the SHA-256 of the evidence's canonical form
	// (EvidenceDigest documents it), whether it came in a CMW or raw.
	EvidenceDigest []byte
	// Detail is the platform's own verified result, for callers that show
	// every field (the evidence CLI): *snp.Result or *tdx.Result. Nothing
	// else needs it; use Claims.
	Detail any
}

// AR4SI trust tiers (draft-ietf-rats-ar4si), the values of Appraisal.Status,
// spelt as evidence/ear spells them in EARs.
const (
	StatusAffirming       = ear.StatusAffirming
	StatusWarning         = ear.StatusWarning
	StatusContraindicated = ear.StatusContraindicated
)

// AR4SI trustworthiness claim names, the keys of Appraisal.TrustVector.
const (
	ClaimInstanceIdentity = ear.ClaimInstanceIdentity
	ClaimConfiguration    = ear.ClaimConfiguration
	ClaimExecutables      = ear.ClaimExecutables
	ClaimHardware         = ear.ClaimHardware
	ClaimRuntimeOpaque    = ear.ClaimRuntimeOpaque
)

// affirm fills Status and TrustVector for evidence that passed the policy:
// configuration is unsafe when the TEE runs in debug mode or its TCB is
// behind; executables are approved when an allow-list applied; hardware is
// genuine unless simulated; runtime memory is encrypted, or only isolated in
// debug mode. Checks that were not evaluated lower what they speak to to a
// warning, unless the policy accepts that (unevaluated): an unevaluated TCB
// status makes an approved configuration ear.ConfigurationUnavailable, an
// unevaluated revocation makes genuine hardware
// ear.HardwareRevocationNotEvaluated. Known problems (debug, TCB behind,
// simulated) keep their standard values.
func (a *Appraisal) affirm(o outcome) {
	tv := map[string]vear.TrustClaim{ClaimInstanceIdentity: vear.TrustworthyInstanceClaim, ClaimConfiguration: vear.ApprovedConfigClaim}
	if a.Debug || o.tcbBehind {
		tv[ClaimConfiguration] = vear.UnsafeConfigClaim
	}
	if o.allowListed {
		tv[ClaimExecutables] = vear.ApprovedRuntimeClaim
	}
	switch {
	case a.Simulated:
		tv[ClaimHardware] = vear.UnsafeHardwareClaim
	default:
		tv[ClaimHardware] = vear.GenuineHardwareClaim
		tv[ClaimRuntimeOpaque] = vear.EncryptedMemoryRuntimeClaim
		if a.Debug {
			tv[ClaimRuntimeOpaque] = vear.IsolatedMemoryRuntimeClaim
		}
	}
	if !o.unevaluatedAccepted {
		for _, c := range a.NotEvaluated {
			switch {
			case c == NotEvaluatedTCBStatus && tv[ClaimConfiguration] == vear.ApprovedConfigClaim:
				tv[ClaimConfiguration] = ear.ConfigurationUnavailable
			case c == NotEvaluatedRevocation && tv[ClaimHardware] == vear.GenuineHardwareClaim:
				tv[ClaimHardware] = ear.HardwareRevocationNotEvaluated
			}
		}
	}
	a.setVector(tv)
}

// contraindicate records a failed appraisal of verified evidence, flagging the
// claim the failed check speaks to, and returns a.
func (a *Appraisal) contraindicate(err error) *Appraisal {
	tv := map[string]vear.TrustClaim{ClaimInstanceIdentity: vear.TrustworthyInstanceClaim, ClaimHardware: vear.GenuineHardwareClaim}
	if a.Simulated {
		tv[ClaimHardware] = vear.UnsafeHardwareClaim
	}
	var failed check.Check
	if ce := (*check.Error)(nil); errors.As(err, &ce) {
		failed = ce.Check
	}
	switch failed {
	case check.Debug:
		tv[ClaimConfiguration] = vear.UnsupportableConfigClaim
		tv[ClaimRuntimeOpaque] = vear.VisibleMemoryRuntimeClaim
	case check.Measurement:
		tv[ClaimExecutables] = vear.ContraindicatedRuntimeClaim
	case check.TCB:
		tv[ClaimHardware] = vear.ContraindicatedHardwareClaim
	case check.TrustAnchor:
		tv[ClaimHardware] = vear.UnrecognizedHardwareClaim
	default:
		tv[ClaimConfiguration] = vear.UnsupportableConfigClaim
	}
	a.setVector(tv)
	return a
}

// setVector stores tv and sets Status to its worst tier (affirming at best),
// with the tiers as veraison/ear defines them.
func (a *Appraisal) setVector(tv map[string]vear.TrustClaim) {
	a.TrustVector = make(map[string]int, len(tv))
	worst := vear.TrustTierAffirming
	for name, c := range tv {
		a.TrustVector[name] = int(c)
		worst = max(worst, c.GetTier())
	}
	a.Status = worst.String()
}
