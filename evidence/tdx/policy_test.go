package tdx

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	good := strings.Repeat("ab", 48)
	cases := []struct {
		name string
		p    Policy
		want string // "" = valid
	}{
		{"zero", Policy{}, ""},
		{"full", Policy{MRTDs: []string{good}, RTMRs: [][]string{nil, {good}}, MRSeams: []string{good},
			MinTEETCBSVN: strings.Repeat("00", 16), AcceptedTCBStatuses: []string{"UpToDate", "SWHardeningNeeded"}}, ""},
		{"short mrtd", Policy{MRTDs: []string{"abcd"}}, "tdx.mrtds[0]: want 96 hex chars, got 4"},
		{"bad rtmr", Policy{RTMRs: [][]string{{good}, {good[:94]}}}, "tdx.rtmrs[1][0]: want 96 hex chars"},
		{"not hex", Policy{MRSeams: []string{strings.Repeat("zz", 48)}}, "tdx.mr_seams[0]: not hex"},
		{"five rtmrs", Policy{RTMRs: make([][]string, 5)}, "tdx.rtmrs: 5 registers"},
		{"svn length", Policy{MinTEETCBSVN: "00"}, "tdx.min_tee_tcb_svn: want 32 hex chars"},
		{"unknown status", Policy{AcceptedTCBStatuses: []string{"Fine"}}, `tdx.accepted_tcb_statuses[0]: unknown status "Fine"`},
		{"revoked", Policy{AcceptedTCBStatuses: []string{"UpToDate", "Revoked"}}, "tdx.accepted_tcb_statuses[1]: Revoked"},
		{"relaunch advised", Policy{AcceptedTCBStatuses: []string{"UpToDate", "TDRelaunchAdvised"}}, ""},
		{"accept unevaluated", Policy{AcceptUnevaluatedTCB: true}, ""},
		{"require and accept unevaluated", Policy{RequireCollateral: true, AcceptUnevaluatedTCB: true},
			"tdx.accept_unevaluated_tcb: contradicts require_collateral"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.Is(err, ErrPolicy) || !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(tc.want, pe.Key+": ") {
				t.Fatalf("err = %v, want a *PolicyError (ErrPolicy) %q", err, tc.want)
			}
		})
	}
}

func TestPolicyJSONNames(t *testing.T) {
	b, err := json.Marshal(Policy{AllowDebug: true, MinTEETCBSVN: "x", AcceptedTCBStatuses: []string{"UpToDate"}, RequireCollateral: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"allow_debug":true`, `"min_tee_tcb_svn":"x"`, `"accepted_tcb_statuses"`, `"require_collateral":true`} {
		if !bytes.Contains(b, []byte(k)) {
			t.Fatalf("%s lacks %s", b, k)
		}
	}
	if bytes.Contains(b, []byte("accept_unevaluated_tcb")) {
		t.Fatalf("%s carries accept_unevaluated_tcb while false", b)
	}
	if b, _ := json.Marshal(Policy{AcceptUnevaluatedTCB: true}); !bytes.Contains(b, []byte(`"accept_unevaluated_tcb":true`)) {
		t.Fatalf("%s lacks accept_unevaluated_tcb", b)
	}
}

func testResult() *Result {
	r := &Result{
		MRTD: bytes.Repeat([]byte{1}, 48), MRSeam: bytes.Repeat([]byte{2}, 48),
		TDAttributes: make([]byte, 8), TEETCBSVN: []byte{3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
	}
	for i := range r.RTMRs {
		r.RTMRs[i] = bytes.Repeat([]byte{byte(0x10 + i)}, 48)
	}
	return r
}

func TestAppraise(t *testing.T) {
	hexOf := func(b byte) string { return hex.EncodeToString(bytes.Repeat([]byte{b}, 48)) }
	with := func(f func(r *Result)) *Result { r := testResult(); f(r); return r }
	cases := []struct {
		name string
		r    *Result
		p    Policy
		code string // "" = accepted
	}{
		{"zero policy", testResult(), Policy{}, ""},
		{"pinned", testResult(), Policy{MRTDs: []string{hexOf(9), hexOf(1)}, RTMRs: [][]string{{hexOf(0x10)}, nil, nil, {hexOf(0x13)}}, MRSeams: []string{hexOf(2)}}, ""},
		{"debug", with(func(r *Result) { r.Debug = true; r.TDAttributes[0] = 1 }), Policy{}, "tdx.debug"},
		{"debug allowed", with(func(r *Result) { r.Debug = true }), Policy{AllowDebug: true}, ""},
		{"mrtd", testResult(), Policy{MRTDs: []string{hexOf(9)}}, "tdx.measurement"},
		{"rtmr3", testResult(), Policy{RTMRs: [][]string{nil, nil, nil, {hexOf(0x10)}}}, "tdx.measurement"},
		{"mrseam", testResult(), Policy{MRSeams: []string{hexOf(1)}}, "tdx.measurement"},
		{"svn ok", testResult(), Policy{MinTEETCBSVN: "03000400000000000000000000000000"}, ""},
		{"svn low", testResult(), Policy{MinTEETCBSVN: "03000500000000000000000000000000"}, "tdx.tcb"},
		{"status default", with(func(r *Result) { r.TCBStatus = "SWHardeningNeeded" }), Policy{}, "tdx.tcb"},
		{"status default accepts UpToDate", with(func(r *Result) { r.TCBStatus = "UpToDate" }), Policy{}, ""},
		{"status accepted", with(func(r *Result) { r.TCBStatus = "SWHardeningNeeded" }), Policy{AcceptedTCBStatuses: []string{"SWHardeningNeeded"}}, ""},
		{"revoked", with(func(r *Result) { r.TCBStatus = "Revoked" }), Policy{}, "tdx.tcb"},
		{"collateral required", testResult(), Policy{RequireCollateral: true}, "tdx.policy"},
		{"invalid policy", testResult(), Policy{MRTDs: []string{"00"}}, "tdx.policy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Appraise(tc.r, &tc.p)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Appraise: %v", err)
				}
				return
			}
			wantCode(t, err, tc.code)
		})
	}
}

// The TCB status default has one owner: ApplyDefaults, used by the policy
// loader and (on a copy) by Appraise.
func TestApplyDefaults(t *testing.T) {
	var p Policy
	if err := Appraise(testResult(), &p); err != nil || p.AcceptedTCBStatuses != nil {
		t.Fatalf("Appraise changed the policy or failed: %v, %v", p.AcceptedTCBStatuses, err)
	}
	p.ApplyDefaults()
	if len(p.AcceptedTCBStatuses) != 1 || p.AcceptedTCBStatuses[0] != "UpToDate" {
		t.Fatalf("default statuses %v", p.AcceptedTCBStatuses)
	}
	q := Policy{AcceptedTCBStatuses: []string{"OutOfDate"}}
	q.ApplyDefaults()
	if len(q.AcceptedTCBStatuses) != 1 || q.AcceptedTCBStatuses[0] != "OutOfDate" {
		t.Fatalf("explicit statuses replaced: %v", q.AcceptedTCBStatuses)
	}
}
