package tlsbind

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
)

// The EAR a background check issues carries every measurement the platform
// reports (read from the appraisal's platform-neutral claims), by name.
func TestEARCarriesPlatformMeasurements(t *testing.T) {
	cases := []struct {
		name   string
		prover *Prover
		want   []string
		set    string // the measurement the guest was configured with: 0xab... in the EAR
	}{
		{"snp", snpProver(t, sim.SNPGuestConfig{HostData: [32]byte{0xab}}), []string{"measurement", "host_data"}, "host_data"},
		{"tdx", tdxProver(t, sim.TDXGuestConfig{MRConfigID: [48]byte{0xab}}),
			[]string{"mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mrseam", "mrconfigid", "mrowner", "mrownerconfig"}, "mrconfigid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, server := sessions(t)
			req, err := server.Challenge()
			if err != nil {
				t.Fatal(err)
			}
			proof, err := client.Respond(context.Background(), tc.prover, req.Raw)
			if err != nil {
				t.Fatal(err)
			}
			c := checker(t, true, testPolicy())
			res, err := server.Accept(context.Background(), c, proof.Authenticator)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ear.Verify(res.EAR, ear.VerifyOptions{
				Trusted:       []ear.TrustedVerifier{{ID: "self", Key: c.Issuer.Public()}},
				ExpectedNonce: res.Binder.Binding, Now: time.Now(), AcceptedStatuses: []string{evidence.StatusWarning},
			})
			if err != nil {
				t.Fatalf("issued EAR does not verify: %v", err)
			}
			if len(got.Measurements) != len(tc.want) {
				t.Fatalf("EAR measurements %v, want %v", got.Measurements, tc.want)
			}
			for _, name := range tc.want {
				var claim []byte
				for _, m := range res.Appraisal.Measurements {
					if m.Name == name {
						claim = m.Value
					}
				}
				if v, ok := got.Measurements[name]; !ok || claim == nil || v != hex.EncodeToString(claim) {
					t.Fatalf("EAR %s = %q, appraisal %x", name, v, claim)
				}
			}
			if v := got.Measurements[tc.set]; !strings.HasPrefix(v, "ab00") {
				t.Fatalf("EAR %s = %q, want the guest's configured 0xab00...", tc.set, v)
			}
		})
	}
}
