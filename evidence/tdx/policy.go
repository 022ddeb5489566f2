package tdx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/seatrx/seatrx/evidence/check"
)

// Policy is the operator's appraisal policy for TDX evidence. The zero value
// forbids debug TDs, accepts any measurement and, when collateral was used,
// only the UpToDate TCB status; without collateral it passes the quote but
// the appraisal stays "warning" at best (AcceptUnevaluatedTCB).
type Policy struct {
	// AllowDebug accepts TDs with TD_ATTRIBUTES.DEBUG set (go-tdx-guest's
	// validate lets them through; seatrx rejects them unless this is true).
	AllowDebug bool `json:"allow_debug" yaml:"allow_debug" cbor:"allow_debug"`
	// MRTDs allow-lists MRTD values (96 hex chars each); empty accepts any.
	MRTDs []string `json:"mrtds,omitempty" yaml:"mrtds,omitempty" cbor:"mrtds,omitempty"`
	// RTMRs holds a per-register allow-list for RTMR0..3; an empty or missing
	// list accepts any value of that register.
	RTMRs [][]string `json:"rtmrs,omitempty" yaml:"rtmrs,omitempty" cbor:"rtmrs,omitempty"`
	// MRSeams allow-lists TDX module measurements; empty accepts any.
	MRSeams []string `json:"mr_seams,omitempty" yaml:"mr_seams,omitempty" cbor:"mr_seams,omitempty"`
	// MinTEETCBSVN is a component-wise minimum TEE_TCB_SVN (32 hex chars); "" = none.
	MinTEETCBSVN string `json:"min_tee_tcb_svn,omitempty" yaml:"min_tee_tcb_svn,omitempty" cbor:"min_tee_tcb_svn,omitempty"`
	// AcceptedTCBStatuses lists acceptable Intel TCB statuses (default
	// ["UpToDate"], see ApplyDefaults); applied only when the result carries a
	// status. "Revoked" is never acceptable.
	AcceptedTCBStatuses []string `json:"accepted_tcb_statuses,omitempty" yaml:"accepted_tcb_statuses,omitempty" cbor:"accepted_tcb_statuses,omitempty"`
	// RequireCollateral rejects results verified without collateral
	// (tdx.policy).
	RequireCollateral bool `json:"require_collateral" yaml:"require_collateral" cbor:"require_collateral"`
	// AcceptUnevaluatedTCB lets a quote verified without collateral, whose
	// TCB status and revocation were therefore not evaluated, be appraised
	// "affirming". By default (false) such an appraisal is at best "warning":
	// leaving collateral out must not give a better verdict than supplying
	// it. The appraisal records what was not evaluated either way. It
	// contradicts RequireCollateral. Omitted from the canonical form when
	// false, so policies without it keep their digest.
	AcceptUnevaluatedTCB bool `json:"accept_unevaluated_tcb,omitempty" yaml:"accept_unevaluated_tcb,omitempty" cbor:"accept_unevaluated_tcb,omitempty"`
}

// ApplyDefaults fills the absent values with their defaults, so that a loaded
// policy (and its digest) states what is applied: AcceptedTCBStatuses
// defaults to ["UpToDate"]. Appraise applies the same defaults to a policy
// built without it.
func (p *Policy) ApplyDefaults() {
	if len(p.AcceptedTCBStatuses) == 0 {
		p.AcceptedTCBStatuses = []string{string(pcs.TcbComponentStatusUpToDate)}
	}
}

// ErrPolicy is wrapped by every Policy.Validate error.
var ErrPolicy = errors.New("invalid tdx policy")

// PolicyError is a Policy.Validate failure: Key is the dotted path of the
// invalid field (e.g. "tdx.rtmrs[1][0]"), Msg what is wrong with it. It
// wraps ErrPolicy.
type PolicyError struct {
	Key, Msg string
}

func (e *PolicyError) Error() string { return e.Key + ": " + e.Msg }
func (e *PolicyError) Unwrap() error { return ErrPolicy }

// PolicyField returns the field path and the problem, for the policy loader.
func (e *PolicyError) PolicyField() (key, msg string) { return e.Key, e.Msg }

func policyErr(key, format string, args ...any) error {
	return &PolicyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the policy's syntax; errors are *PolicyError naming the
// bad field, e.g. "tdx.rtmrs[1][0]: want 96 hex chars".
func (p *Policy) Validate() error {
	if err := validHexList("tdx.mrtds", p.MRTDs, measSize); err != nil {
		return err
	}
	if len(p.RTMRs) > 4 {
		return policyErr("tdx.rtmrs", "%d registers listed, TDX has 4", len(p.RTMRs))
	}
	for i, l := range p.RTMRs {
		if err := validHexList(fmt.Sprintf("tdx.rtmrs[%d]", i), l, measSize); err != nil {
			return err
		}
	}
	if err := validHexList("tdx.mr_seams", p.MRSeams, measSize); err != nil {
		return err
	}
	if p.MinTEETCBSVN != "" {
		if err := validHex("tdx.min_tee_tcb_svn", p.MinTEETCBSVN, 16); err != nil {
			return err
		}
	}
	if p.RequireCollateral && p.AcceptUnevaluatedTCB {
		return policyErr("tdx.accept_unevaluated_tcb", "contradicts require_collateral: a quote without collateral is refused, so its unevaluated TCB cannot be accepted")
	}
	for i, s := range p.AcceptedTCBStatuses {
		st := pcs.TcbComponentStatus(s)
		if _, ok := statusRank[st]; !ok {
			return policyErr(fmt.Sprintf("tdx.accepted_tcb_statuses[%d]", i), "unknown status %q", s)
		}
		if st == pcs.TcbComponentStatusRevoked {
			return policyErr(fmt.Sprintf("tdx.accepted_tcb_statuses[%d]", i), "Revoked can never be accepted")
		}
	}
	return nil
}

func validHexList(name string, l []string, n int) error {
	for i, s := range l {
		if err := validHex(fmt.Sprintf("%s[%d]", name, i), s, n); err != nil {
			return err
		}
	}
	return nil
}

func validHex(name, s string, n int) error {
	if len(s) != 2*n {
		return policyErr(name, "want %d hex chars, got %d", 2*n, len(s))
	}
	if _, err := hex.DecodeString(s); err != nil {
		return policyErr(name, "not hex: %v", err)
	}
	return nil
}

// Appraise applies p to a verified result: tdx.debug (DEBUG set and not
// allowed), tdx.measurement (MRTD, RTMR or MRSEAM not allow-listed), tdx.tcb
// (TEE_TCB_SVN below minimum or TCB status not accepted), tdx.policy (an
// invalid policy or collateral required but absent).
func Appraise(r *Result, p *Policy) error {
	if r == nil || p == nil {
		return check.Errorf(platform, check.Policy, "nil result or policy")
	}
	if err := p.Validate(); err != nil {
		return check.Wrap(platform, check.Policy, err, "policy")
	}
	if r.Debug && !p.AllowDebug {
		return check.Errorf(platform, check.Debug, "TD_ATTRIBUTES %x has DEBUG set and the policy forbids debug TDs", r.TDAttributes)
	}
	if !inList(p.MRTDs, r.MRTD) {
		return check.Errorf(platform, check.Measurement, "MRTD %x is not in the policy's %d allowed values", r.MRTD, len(p.MRTDs))
	}
	for i, l := range p.RTMRs {
		if !inList(l, r.RTMRs[i]) {
			return check.Errorf(platform, check.Measurement, "RTMR%d %x is not in the policy's %d allowed values", i, r.RTMRs[i], len(l))
		}
	}
	if !inList(p.MRSeams, r.MRSeam) {
		return check.Errorf(platform, check.Measurement, "MRSEAM %x is not in the policy's %d allowed values", r.MRSeam, len(p.MRSeams))
	}
	if p.MinTEETCBSVN != "" {
		min, _ := hex.DecodeString(p.MinTEETCBSVN) // validated above
		if len(r.TEETCBSVN) != len(min) {
			return check.Errorf(platform, check.TCB, "TEE_TCB_SVN is %d bytes, want %d", len(r.TEETCBSVN), len(min))
		}
		for i := range min {
			if r.TEETCBSVN[i] < min[i] {
				return check.Errorf(platform, check.TCB, "TEE_TCB_SVN[%d] = %d is below the policy minimum %d (have %x, min %x)",
					i, r.TEETCBSVN[i], min[i], r.TEETCBSVN, min)
			}
		}
	}
	if r.TCBStatus == "" {
		if p.RequireCollateral {
			return check.Errorf(platform, check.Policy, "policy requires collateral, but the quote was verified without it (no TCB status)")
		}
		return nil
	}
	d := *p
	d.ApplyDefaults()
	accepted := d.AcceptedTCBStatuses
	if r.TCBStatus == string(pcs.TcbComponentStatusRevoked) {
		return check.Errorf(platform, check.TCB, "TCB status is Revoked")
	}
	for _, s := range accepted {
		if s == r.TCBStatus {
			return nil
		}
	}
	return check.Errorf(platform, check.TCB, "TCB status %s is not accepted (accepted: %v)", r.TCBStatus, accepted)
}

// AllowListsMeasurements reports whether p restricts any measurement (MRTD,
// an RTMR or MRSEAM) to an allow-list, so that passing it says which code runs.
func (p *Policy) AllowListsMeasurements() bool {
	return len(p.MRTDs) > 0 || len(p.MRSeams) > 0 || slices.ContainsFunc(p.RTMRs, func(l []string) bool { return len(l) > 0 })
}

// TCBBehind reports whether r carries an Intel TCB status other than
// UpToDate (a policy may still accept it, e.g. SWHardeningNeeded).
func (r *Result) TCBBehind() bool {
	return r.TCBStatus != "" && r.TCBStatus != string(pcs.TcbComponentStatusUpToDate)
}

// inList reports whether v is in the hex allow-list l; an empty list allows all.
func inList(l []string, v []byte) bool {
	if len(l) == 0 {
		return true
	}
	for _, s := range l {
		if b, err := hex.DecodeString(s); err == nil && bytes.Equal(b, v) {
			return true
		}
	}
	return false
}
