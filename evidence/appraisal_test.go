package evidence

import (
	"testing"

	"github.com/seatrx/seatrx/evidence/ear"
)

// TestAffirmNotEvaluated: checks that were not made lower what they speak to
// to a warning unless the policy accepts them; known problems keep their
// standard values (AR4SI: a standard warning before a non-standard one).
func TestAffirmNotEvaluated(t *testing.T) {
	both := []string{NotEvaluatedTCBStatus, NotEvaluatedRevocation}
	cases := []struct {
		name       string
		claims     Claims
		o          outcome
		status     string
		config, hw int
	}{
		{"everything evaluated", Claims{}, outcome{}, StatusAffirming, 2, 2},
		{"TDX without collateral", Claims{NotEvaluated: both}, outcome{}, StatusWarning,
			int(ear.ConfigurationUnavailable), int(ear.HardwareRevocationNotEvaluated)},
		{"TDX without collateral, accepted by policy", Claims{NotEvaluated: both}, outcome{unevaluatedAccepted: true}, StatusAffirming, 2, 2},
		{"SNP offline: revocation only", Claims{NotEvaluated: []string{NotEvaluatedRevocation}}, outcome{}, StatusWarning,
			2, int(ear.HardwareRevocationNotEvaluated)},
		{"simulated keeps unsafe hardware", Claims{NotEvaluated: both, Simulated: true}, outcome{}, StatusWarning,
			int(ear.ConfigurationUnavailable), 32},
		{"debug keeps unsafe configuration", Claims{NotEvaluated: both, Debug: true}, outcome{}, StatusWarning,
			32, int(ear.HardwareRevocationNotEvaluated)},
		{"unknown name changes nothing", Claims{NotEvaluated: []string{"something_else"}}, outcome{}, StatusAffirming, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := &Appraisal{Claims: tc.claims}
			a.affirm(tc.o)
			if a.Status != tc.status || a.TrustVector[ClaimConfiguration] != tc.config || a.TrustVector[ClaimHardware] != tc.hw {
				t.Fatalf("status %s vector %v; want %s, configuration %d, hardware %d", a.Status, a.TrustVector, tc.status, tc.config, tc.hw)
			}
		})
	}
}
