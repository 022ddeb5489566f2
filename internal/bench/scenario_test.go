package bench

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"
)

// The test binary doubles as the attacker process of NewScenarioProcess.
func TestMain(m *testing.M) {
	if IsAttackerProcess() {
		os.Exit(AttackerMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Each scenario, in this process and in an attacker process of its own,
// gets its connections to the server and counts what it did.
func TestScenarios(t *testing.T) {
	tg := devServer(t)
	tg.Addr = tg.Server.Host
	for _, name := range Scenarios() {
		for _, proc := range []bool{false, true} {
			label := name + "/in-process"
			if proc {
				label = name + "/process"
			}
			t.Run(label, func(t *testing.T) {
				var sc Scenario
				var err error
				if proc {
					sc, err = NewScenarioProcess(name, 3, 0, 0, 0)
				} else {
					sc, err = NewScenario(name, 3, 0, 0)
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := sc.Start(context.Background(), &tg); err != nil {
					t.Fatal(err)
				}
				held := sc.(interface{ Held() int64 })
				deadline := time.Now().Add(30 * time.Second)
				for held.Held() < 3 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				counts := sc.Stop()
				if counts["held_peak"] < 3 || counts["dials"] < 3 || counts["attackers"] != 3 {
					t.Fatalf("counters %v: want 3 attackers, each dialled and held", counts)
				}
				if (counts["attacker_process"] == 1) != proc {
					t.Fatalf("counters %v: attacker_process, want %v", counts, proc)
				}
				if tlsScenario := name != ScenarioConnFlood; tlsScenario != (counts["handshakes"] > 0) {
					t.Fatalf("counters %v: handshakes for %s", counts, name)
				}
			})
		}
	}
}

// Bad scenario settings name the setting.
func TestScenarioConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		field string
		err   func() error
	}{
		{"Scenarios", func() error { _, err := NewScenario("nope", 1, 0, 0); return err }},
		{"Attackers", func() error { _, err := NewScenario(ScenarioIdleH2, 0, 0, 0); return err }},
		{"PerAddress", func() error { _, err := NewScenario(ScenarioIdleH2, 10000, 1, 0); return err }},
		{"AttackerNice", func() error { _, err := NewScenarioProcess(ScenarioIdleH2, 1, 0, 0, 20); return err }},
	} {
		var ce *ConfigError
		if err := tc.err(); !errors.As(err, &ce) || ce.Field != tc.field {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
}
