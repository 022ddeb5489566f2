package snp

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/google/go-sev-guest/abi"

	"github.com/seatrx/seatrx/evidence/check"
)

// Size of a launch MEASUREMENT and of HOST_DATA in an SNP report.
const (
	MeasurementSize = abi.MeasurementSize
	HostDataSize    = abi.HostDataSize
)

// Policy is the SNP part of the appraisal policy. The zero value is strict:
// no debug, no SMT, no migration agent, VMPL 0 only, any measurement, any TCB.
type Policy struct {
	// AllowDebug permits guests whose policy has DEBUG set (memory readable by the host).
	AllowDebug bool `json:"allow_debug" yaml:"allow_debug" cbor:"allow_debug"`
	// Measurements is the allow-list of launch measurements, lowercase hex of 48 bytes; empty = any.
	Measurements []string `json:"measurements,omitempty" yaml:"measurements,omitempty" cbor:"measurements,omitempty"`
	// MinTCB is the component-wise minimum of REPORTED_TCB; nil = any.
	MinTCB *TCB `json:"min_tcb,omitempty" yaml:"min_tcb,omitempty" cbor:"min_tcb,omitempty"`
	// AllowedVMPLs lists the VMPLs a report may come from; empty = {0}.
	AllowedVMPLs []uint32 `json:"allowed_vmpls,omitempty" yaml:"allowed_vmpls,omitempty" cbor:"allowed_vmpls,omitempty"`
	// AllowSMT permits guests whose policy allows simultaneous multithreading.
	AllowSMT bool `json:"allow_smt" yaml:"allow_smt" cbor:"allow_smt"`
	// AllowMigrationAgent permits guests whose policy allows a migration agent.
	AllowMigrationAgent bool `json:"allow_migration_agent" yaml:"allow_migration_agent" cbor:"allow_migration_agent"`
	// HostData, if set, must equal HOST_DATA exactly (lowercase hex of 32 bytes).
	HostData string `json:"host_data,omitempty" yaml:"host_data,omitempty" cbor:"host_data,omitempty"`
	// AllowedSigners lists accepted signer kinds ("vcek", "vlek"); empty = both.
	AllowedSigners []string `json:"allowed_signers,omitempty" yaml:"allowed_signers,omitempty" cbor:"allowed_signers,omitempty"`
	// AcceptUnevaluatedRevocation lets a report whose ASK was not checked
	// against AMD's CRL (no CRL could be had: the verifier is offline) be
	// appraised "affirming". By default (false) such an appraisal is at best
	// "warning": leaving a check out must not give a better verdict. The
	// appraisal records "revocation" as not evaluated either way. Omitted from
	// the canonical form when false, so policies without it keep their digest.
	AcceptUnevaluatedRevocation bool `json:"accept_unevaluated_revocation,omitempty" yaml:"accept_unevaluated_revocation,omitempty" cbor:"accept_unevaluated_revocation,omitempty"`
}

// AllowListsMeasurements reports whether p restricts the launch measurement
// to an allow-list, so that passing it says which code runs.
func (p *Policy) AllowListsMeasurements() bool { return len(p.Measurements) > 0 }

// maxVMPL is the highest VMPL SEV-SNP defines.
const maxVMPL = 3

// PolicyError is a Policy.Validate failure: Key is the dotted path of the
// invalid field (e.g. "snp.measurements[2]"), Msg what is wrong with it.
type PolicyError struct {
	Key, Msg string
}

func (e *PolicyError) Error() string { return e.Key + ": " + e.Msg }

// PolicyField returns the field path and the problem, for the policy loader.
func (e *PolicyError) PolicyField() (key, msg string) { return e.Key, e.Msg }

func fieldErr(key string, format string, args ...any) error {
	return &PolicyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the policy's syntax; errors are *PolicyError naming the
// field, e.g. `snp.measurements[2]: want 96 lowercase hex chars`.
func (p *Policy) Validate() error {
	for i, m := range p.Measurements {
		key := fmt.Sprintf("snp.measurements[%d]", i)
		if err := checkHex(m, MeasurementSize); err != nil {
			return fieldErr(key, "%v", err)
		}
		if j := slices.Index(p.Measurements, m); j != i {
			return fieldErr(key, "duplicate of measurements[%d]", j)
		}
	}
	if p.HostData != "" {
		if err := checkHex(p.HostData, HostDataSize); err != nil {
			return fieldErr("snp.host_data", "%v", err)
		}
	}
	for i, v := range p.AllowedVMPLs {
		if v > maxVMPL {
			return fieldErr(fmt.Sprintf("snp.allowed_vmpls[%d]", i), "%d is not a VMPL (0..%d)", v, maxVMPL)
		}
	}
	for i, s := range p.AllowedSigners {
		if s != SignerVCEK && s != SignerVLEK {
			return fieldErr(fmt.Sprintf("snp.allowed_signers[%d]", i), "%q is not %q or %q", s, SignerVCEK, SignerVLEK)
		}
	}
	return nil
}

func checkHex(s string, n int) error {
	if len(s) != 2*n {
		return fmt.Errorf("want %d lowercase hex chars, got %d", 2*n, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("want %d lowercase hex chars, byte %d is %q", 2*n, i, c)
		}
	}
	return nil
}

// Appraise checks a verified Result against the policy. It returns a
// *check.Error: snp.debug, snp.measurement, snp.tcb, or snp.policy for the
// other rules (VMPL, SMT, migration agent, HOST_DATA, signer kind). The policy
// must have passed Validate. It works on the Result alone (no certificate),
// so the guest-policy and TCB rules are evaluated here rather than with
// go-sev-guest's validate package, which needs the VCEK and does not know
// Turin's TCB layout.
func Appraise(r *Result, p *Policy) error {
	if r == nil || p == nil {
		return check.Errorf(platform, check.Policy, "nothing to appraise (nil result or policy)")
	}
	gp, err := abi.ParseSnpPolicy(r.GuestPolicy)
	if err != nil {
		return check.Wrap(platform, check.Policy, err, "guest policy 0x%x", r.GuestPolicy)
	}
	if (gp.Debug || r.Debug) && !p.AllowDebug {
		return check.Errorf(platform, check.Debug, "guest policy 0x%x has DEBUG set and the policy forbids debug guests", r.GuestPolicy)
	}
	if len(p.Measurements) > 0 {
		got := hex.EncodeToString(r.Measurement)
		if !slices.Contains(p.Measurements, got) {
			return check.Errorf(platform, check.Measurement, "MEASUREMENT %s is not in the allow-list (%d entries)", got, len(p.Measurements))
		}
	}
	if p.MinTCB != nil {
		got, min := DecomposeTCB(r.Product, r.ReportedTCB), *p.MinTCB
		if r.Product != ProductTurin {
			min.FMC = 0 // only Turin has an FMC patch level
		}
		if !got.AtLeast(min) {
			return check.Errorf(platform, check.TCB, "REPORTED_TCB %v is below the policy minimum %v in at least one component", got, min)
		}
	}
	vmpls := p.AllowedVMPLs
	if len(vmpls) == 0 {
		vmpls = []uint32{0}
	}
	if !slices.Contains(vmpls, r.VMPL) {
		return check.Errorf(platform, check.Policy, "VMPL %d is not allowed (allowed: %v)", r.VMPL, vmpls)
	}
	if gp.SMT && !p.AllowSMT {
		return check.Errorf(platform, check.Policy, "guest policy 0x%x allows SMT and the policy forbids it", r.GuestPolicy)
	}
	if gp.MigrateMA && !p.AllowMigrationAgent {
		return check.Errorf(platform, check.Policy, "guest policy 0x%x allows a migration agent and the policy forbids it", r.GuestPolicy)
	}
	if p.HostData != "" {
		want, err := hex.DecodeString(p.HostData)
		if err != nil || !bytes.Equal(want, r.HostData) {
			return check.Errorf(platform, check.Policy, "HOST_DATA %x is not the required %s", r.HostData, p.HostData)
		}
	}
	if len(p.AllowedSigners) > 0 && !slices.Contains(p.AllowedSigners, r.SignerKind) {
		return check.Errorf(platform, check.Policy, "signer %q is not allowed (allowed: %v)", r.SignerKind, p.AllowedSigners)
	}
	return nil
}
