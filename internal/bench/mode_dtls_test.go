package bench

import (
	"context"
	"slices"
	"testing"
)

// The DTLS modes run against an in-process server's DTLS listener: every
// session counted without error, each phase reported, the server's
// counters read. Figures are never checked, only that they exist.
func TestRunCompareDTLS(t *testing.T) {
	tg := devServer(t)
	cfg := Config{Target: tg, Transport: TransportDTLS, Modes: []string{"plain", "snp", "tdx"}, Workers: 2, Count: 3, Rounds: 2, Warmup: 1,
		Metrics: tg.Server.JoinPath("/metrics")}
	rep, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Transport != TransportDTLS || len(rep.Modes) != 3 {
		t.Fatalf("report header: %+v", rep)
	}
	for _, m := range rep.Modes {
		mode, _ := lookup(TransportDTLS, m.Mode)
		if m.Sessions != 6 || m.Errors != 0 {
			t.Errorf("%s: %d sessions, %d errors %v; want 6 and 0", m.Mode, m.Sessions, m.Errors, m.ErrorCodes)
		}
		var phases []string
		for _, l := range m.Latency {
			phases = append(phases, l.Phase)
		}
		if want := append(slices.Clone(mode.Phases), "total"); !slices.Equal(phases, want) {
			t.Errorf("%s: phases %v, want %v", m.Mode, phases, want)
		}
		if m.ServerCPUms == nil {
			t.Errorf("%s: server CPU not read", m.Mode)
		}
	}
	if len(rep.Ratios) != 2 {
		t.Fatalf("ratios %+v", rep.Ratios)
	}
	tg.DTLSAddr = ""
	if _, err := Run(context.Background(), Config{Target: tg, Transport: TransportDTLS, Modes: []string{"plain"}, Workers: 1, Count: 1}); err == nil {
		t.Fatal("a dtls run without the DTLS address started")
	}
}
