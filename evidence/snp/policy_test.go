package snp

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"gopkg.in/yaml.v3"
)

func TestPolicyValidate(t *testing.T) {
	m := strings.Repeat("ab", 48)
	tests := []struct {
		name string
		p    Policy
		want string // "" = valid
	}{
		{"zero", Policy{}, ""},
		{"full", Policy{Measurements: []string{m}, HostData: strings.Repeat("00", 32), AllowedVMPLs: []uint32{0, 3},
			AllowedSigners: []string{"vcek", "vlek"}, MinTCB: &TCB{SNP: 1}}, ""},
		{"short measurement", Policy{Measurements: []string{m, m[:94]}}, "snp.measurements[1]: want 96 lowercase hex chars, got 94"},
		{"uppercase measurement", Policy{Measurements: []string{strings.ToUpper(m)}}, "snp.measurements[0]: want 96 lowercase hex chars, byte 0 is 'A'"},
		{"non-hex measurement", Policy{Measurements: []string{"zz" + m[2:]}}, "snp.measurements[0]: want 96 lowercase hex chars, byte 0 is 'z'"},
		{"duplicate measurement", Policy{Measurements: []string{m, m}}, "snp.measurements[1]: duplicate of measurements[0]"},
		{"host data length", Policy{HostData: "00"}, "snp.host_data: want 64 lowercase hex chars, got 2"},
		{"vmpl 4", Policy{AllowedVMPLs: []uint32{0, 4}}, "snp.allowed_vmpls[1]: 4 is not a VMPL"},
		{"bad signer", Policy{AllowedSigners: []string{"VCEK"}}, `snp.allowed_signers[0]: "VCEK" is not`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var pe *PolicyError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(tc.want, pe.Key+": ") {
				t.Fatalf("Validate = %v, want a *PolicyError %q", err, tc.want)
			}
		})
	}
}

func TestPolicyEncoding(t *testing.T) {
	src := "allow_debug: true\nmeasurements: [" + strings.Repeat("0", 96) + "]\nmin_tcb: {boot_loader: 3, snp: 20, microcode: 200}\nallowed_vmpls: [0, 1]\nallowed_signers: [vcek]\naccept_unevaluated_revocation: true\n"
	var p Policy
	if err := yaml.Unmarshal([]byte(src), &p); err != nil {
		t.Fatal(err)
	}
	if !p.AllowDebug || len(p.Measurements) != 1 || p.MinTCB == nil || *p.MinTCB != (TCB{BootLoader: 3, SNP: 20, Microcode: 200}) ||
		len(p.AllowedVMPLs) != 2 || p.AllowedSigners[0] != "vcek" || !p.AcceptUnevaluatedRevocation {
		t.Fatalf("YAML decoded to %+v", p)
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"allow_debug":true`, `"min_tcb":{"boot_loader":3,"tee":0,"snp":20,"microcode":200}`, `"allowed_vmpls":[0,1]`,
		`"accept_unevaluated_revocation":true`} {
		if !bytes.Contains(j, []byte(key)) {
			t.Errorf("JSON %s lacks %s", j, key)
		}
	}
}

// appraisable is a Result as Verify would return it for a Genoa VCEK report.
func appraisable() *Result {
	return &Result{
		Version: 3, Product: ProductGenoa, SignerKind: SignerVCEK,
		Measurement: bytes.Repeat([]byte{0xaa}, 48), HostData: make([]byte, 32), ChipID: make([]byte, 64),
		ReportedTCB: ComposeTCB(ProductGenoa, TCB{BootLoader: 9, SNP: 23, Microcode: 72}),
		GuestPolicy: abi.SnpPolicyToBytes(abi.SnpPolicy{ABIMajor: 1}),
	}
}

func TestAppraise(t *testing.T) {
	good := hex.EncodeToString(bytes.Repeat([]byte{0xaa}, 48))
	other := strings.Repeat("bb", 48)
	withPolicy := func(p abi.SnpPolicy) func(*Result) {
		return func(r *Result) { r.GuestPolicy = abi.SnpPolicyToBytes(p); r.Debug = p.Debug }
	}
	tests := []struct {
		name   string
		mod    func(*Result)
		p      Policy
		code   string // "" = accepted
		detail string
	}{
		{"strict zero policy accepts clean guest", nil, Policy{}, "", ""},
		{"measurement allowed", nil, Policy{Measurements: []string{other, good}}, "", ""},
		{"measurement not allowed", nil, Policy{Measurements: []string{other}}, "snp.measurement", "not in the allow-list"},
		{"debug forbidden", withPolicy(abi.SnpPolicy{Debug: true}), Policy{}, "snp.debug", "DEBUG"},
		{"debug allowed", withPolicy(abi.SnpPolicy{Debug: true}), Policy{AllowDebug: true}, "", ""},
		{"tcb equal to minimum", nil, Policy{MinTCB: &TCB{BootLoader: 9, SNP: 23, Microcode: 72}}, "", ""},
		{"tcb snp below minimum", nil, Policy{MinTCB: &TCB{SNP: 24}}, "snp.tcb", "below the policy minimum"},
		{"tcb microcode below minimum", nil, Policy{MinTCB: &TCB{Microcode: 73}}, "snp.tcb", ""},
		{"fmc minimum ignored off Turin", nil, Policy{MinTCB: &TCB{FMC: 1}}, "", ""},
		{"turin fmc below minimum", func(r *Result) {
			r.Product, r.ReportedTCB = ProductTurin, ComposeTCB(ProductTurin, TCB{FMC: 1, BootLoader: 2, SNP: 3, Microcode: 4})
		}, Policy{MinTCB: &TCB{FMC: 2}}, "snp.tcb", "fmc:1"},
		{"turin layout", func(r *Result) {
			r.Product, r.ReportedTCB = ProductTurin, ComposeTCB(ProductTurin, TCB{FMC: 1, BootLoader: 2, SNP: 3, Microcode: 4})
		}, Policy{MinTCB: &TCB{FMC: 1, BootLoader: 2, SNP: 3, Microcode: 4}}, "", ""},
		{"vmpl 1 by default", func(r *Result) { r.VMPL = 1 }, Policy{}, "snp.policy", "VMPL 1"},
		{"vmpl 1 allowed", func(r *Result) { r.VMPL = 1 }, Policy{AllowedVMPLs: []uint32{1}}, "", ""},
		{"vmpl 0 not in list", nil, Policy{AllowedVMPLs: []uint32{2}}, "snp.policy", "VMPL 0"},
		{"smt forbidden", withPolicy(abi.SnpPolicy{SMT: true}), Policy{}, "snp.policy", "SMT"},
		{"smt allowed", withPolicy(abi.SnpPolicy{SMT: true}), Policy{AllowSMT: true}, "", ""},
		{"migration agent forbidden", withPolicy(abi.SnpPolicy{MigrateMA: true}), Policy{}, "snp.policy", "migration agent"},
		{"migration agent allowed", withPolicy(abi.SnpPolicy{MigrateMA: true}), Policy{AllowMigrationAgent: true}, "", ""},
		{"host data mismatch", nil, Policy{HostData: strings.Repeat("01", 32)}, "snp.policy", "HOST_DATA"},
		{"host data match", nil, Policy{HostData: strings.Repeat("00", 32)}, "", ""},
		{"vlek not allowed", func(r *Result) { r.SignerKind = SignerVLEK }, Policy{AllowedSigners: []string{"vcek"}}, "snp.policy", `signer "vlek"`},
		{"malformed guest policy", func(r *Result) { r.GuestPolicy = 0 }, Policy{}, "snp.policy", "guest policy 0x0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := appraisable()
			if tc.mod != nil {
				tc.mod(r)
			}
			if err := tc.p.Validate(); err != nil {
				t.Fatalf("test policy invalid: %v", err)
			}
			err := Appraise(r, &tc.p)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("Appraise = %v, want nil", err)
				}
				return
			}
			wantCode(t, err, tc.code, tc.detail)
		})
	}
	wantCode(t, Appraise(nil, &Policy{}), "snp.policy", "nil")
}

func TestTCBLayouts(t *testing.T) {
	tcb := TCB{FMC: 5, BootLoader: 1, TEE: 2, SNP: 3, Microcode: 4}
	if got := ComposeTCB(ProductTurin, tcb); got != 0x04_00_00_00_03_02_01_05 {
		t.Errorf("Turin compose = %#x", got)
	}
	if got := DecomposeTCB(ProductTurin, ComposeTCB(ProductTurin, tcb)); got != tcb {
		t.Errorf("Turin round trip = %v, want %v", got, tcb)
	}
	milan := TCB{BootLoader: 1, TEE: 2, SNP: 3, Microcode: 4}
	if got := ComposeTCB(ProductMilan, tcb); got != 0x04_03_00_00_00_00_02_01 {
		t.Errorf("Milan compose = %#x (FMC must be dropped)", got)
	}
	if want, err := kds.ComposeTCBParts(kds.TCBParts{BlSpl: 1, TeeSpl: 2, SnpSpl: 3, UcodeSpl: 4}); err != nil || uint64(want) != ComposeTCB(ProductMilan, milan) {
		t.Errorf("Milan layout disagrees with go-sev-guest kds: %#x vs %#x (%v)", want, ComposeTCB(ProductMilan, milan), err)
	}
	if got := DecomposeTCB(ProductGenoa, ComposeTCB(ProductGenoa, milan)); got != milan {
		t.Errorf("Genoa round trip = %v, want %v", got, milan)
	}
	if s := tcb.String(); s != "{bl:1 tee:2 snp:3 ucode:4 fmc:5}" {
		t.Errorf("String = %q", s)
	}
	if !milan.AtLeast(milan) || milan.AtLeast(TCB{SNP: 4}) || !milan.AtLeast(TCB{}) {
		t.Error("AtLeast is not component-wise >=")
	}
}
