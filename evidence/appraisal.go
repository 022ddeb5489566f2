package evidence

import (
	"errors"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// Appraisal is the outcome of verifying and appraising one piece of evidence;
// the server turns it into an EAR and records it in receipts.
type Appraisal struct {
	Platform Platform
	SNP      *snp.Result // set for SEV-SNP
	TDX      *tdx.Result // set for TDX
	// Status is the AR4SI trust tier: StatusAffirming, StatusWarning or
	// StatusContraindicated; it is the worst tier in TrustVector.
	Status string
	// TrustVector maps AR4SI claim names (ClaimInstanceIdentity, ...) to values.
	TrustVector  map[string]int
	PolicyID     string
	PolicyDigest []byte // SHA-256 of the policy's canonical CBOR
	TrustAnchor  string // "sha256:<hex>" of the root the evidence chains to
	Simulated    bool   // the root belongs to a simulated (test) PKI
	// EvidenceDigest is the SHA-256 of the CMW bytes (or, for VerifyRaw, of
	// the report or quote).
	EvidenceDigest []byte
}

// AR4SI trust tiers (draft-ietf-rats-ar4si), the values of Appraisal.Status.
const (
	StatusAffirming       = "affirming"
	StatusWarning         = "warning"
	StatusContraindicated = "contraindicated"
)

// AR4SI trustworthiness claim names, spelt as in EAR's JSON form and in
// evidence/ear (which this package does not import).
const (
	ClaimInstanceIdentity = "instance-identity"
	ClaimConfiguration    = "configuration"
	ClaimExecutables      = "executables"
	ClaimHardware         = "hardware"
	ClaimRuntimeOpaque    = "runtime-opaque"
)

// AR4SI claim values used here (specs.md §5.2, veraison/ear trustclaim.go).
const (
	valTrustworthyInstance  = 2  // instance-identity: key chain verified to a trusted root
	valApprovedConfig       = 2  // configuration: passed every policy rule
	valUnsafeConfig         = 32 // configuration: accepted, but debug on or TCB not up to date
	valUnsupportableConfig  = 96 // configuration: policy rule failed
	valApprovedRuntime      = 2  // executables: measurement on the policy's allow-list
	valContraindicatedExec  = 96 // executables: measurement not allowed
	valGenuineHardware      = 2  // hardware: chains to a production vendor root
	valUnsafeHardware       = 32 // hardware: simulated TEE, no hardware protection
	valContraindicatedHW    = 96 // hardware: TCB below policy
	valUnrecognisedHardware = 97 // hardware: root not allowed by policy
	valEncryptedMemory      = 2  // runtime-opaque: memory encrypted and hidden from the host
	valIsolatedMemory       = 32 // runtime-opaque: debug allowed, host may read memory
	valVisibleMemory        = 96 // runtime-opaque: debug refused by policy
)

// affirm fills Status and TrustVector for evidence that passed the policy.
// debug: the TEE runs in debug mode (the policy allowed it); allowListed: a
// measurement allow-list was applied; tcbStatus: TDX's Intel TCB status ("" for
// SNP or without collateral).
func (a *Appraisal) affirm(debug, allowListed bool, tcbStatus string) {
	tv := map[string]int{ClaimInstanceIdentity: valTrustworthyInstance, ClaimConfiguration: valApprovedConfig}
	if debug || (tcbStatus != "" && tcbStatus != "UpToDate") {
		tv[ClaimConfiguration] = valUnsafeConfig
	}
	if allowListed {
		tv[ClaimExecutables] = valApprovedRuntime
	}
	switch {
	case a.Simulated:
		tv[ClaimHardware] = valUnsafeHardware
	default:
		tv[ClaimHardware] = valGenuineHardware
		tv[ClaimRuntimeOpaque] = valEncryptedMemory
		if debug {
			tv[ClaimRuntimeOpaque] = valIsolatedMemory
		}
	}
	a.TrustVector = tv
	a.Status = statusOf(tv)
}

// contraindicate records a failed appraisal of verified evidence and returns a.
func (a *Appraisal) contraindicate(err error) *Appraisal {
	tv := map[string]int{ClaimInstanceIdentity: valTrustworthyInstance}
	if a.Simulated {
		tv[ClaimHardware] = valUnsafeHardware
	} else {
		tv[ClaimHardware] = valGenuineHardware
	}
	var failed check.Check
	if ce := (*check.Error)(nil); errors.As(err, &ce) {
		failed = ce.Check
	}
	switch failed {
	case check.Debug:
		tv[ClaimConfiguration] = valUnsupportableConfig
		tv[ClaimRuntimeOpaque] = valVisibleMemory
	case check.Measurement:
		tv[ClaimExecutables] = valContraindicatedExec
	case check.TCB:
		tv[ClaimHardware] = valContraindicatedHW
	case check.TrustAnchor:
		tv[ClaimHardware] = valUnrecognisedHardware
	default:
		tv[ClaimConfiguration] = valUnsupportableConfig
	}
	a.TrustVector = tv
	a.Status = StatusContraindicated
	return a
}

// tierOf is the AR4SI tier of one claim value: none [-1,1], affirming
// [2,31] and [-32,-2], warning [32,95] and [-96,-33], contraindicated beyond.
func tierOf(v int) int {
	if v < 0 {
		switch v = -v; {
		case v <= 1:
			return 0
		case v <= 32:
			return 1
		case v <= 96:
			return 2
		default:
			return 3
		}
	}
	switch {
	case v <= 1:
		return 0
	case v <= 31:
		return 1
	case v <= 95:
		return 2
	default:
		return 3
	}
}

// statusOf is the worst tier in tv, as a status name (affirming at best).
func statusOf(tv map[string]int) string {
	worst := 1
	for _, v := range tv {
		worst = max(worst, tierOf(v))
	}
	switch worst {
	case 1:
		return StatusAffirming
	case 2:
		return StatusWarning
	default:
		return StatusContraindicated
	}
}
