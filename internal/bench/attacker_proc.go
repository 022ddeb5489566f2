package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A scenario's attackers run, by default, in a process of their own (this
// same program, re-executed with attackerEnv set): an attacker is not the
// legitimate client, and sharing one Go runtime with 10,000 attacker
// goroutines delayed the measured sessions' own goroutines, which
// the server could do nothing about. The child runs the scenario exactly as
// in-process and reports its counters when its standard input closes.
const attackerEnv = "SEATRX_BENCH_ATTACKER"

// attackerSpec is what the parent tells the child (JSON in attackerEnv).
type attackerSpec struct {
	Server   string        `json:"server"`
	Scenario string        `json:"scenario"`
	N        int           `json:"attackers"`
	PerAddr  int           `json:"per_address"`
	Ramp     time.Duration `json:"ramp"`
}

// IsAttackerProcess reports whether this process was started as a
// scenario's attacker process (then its main calls AttackerMain).
func IsAttackerProcess() bool { return os.Getenv(attackerEnv) != "" }

// AttackerMain runs the attacker process: the scenario from attackerEnv,
// "started" on out once every attacker has started, "held N" every
// heldEvery, and the counters as one JSON line once in closes. It returns
// the exit code.
func AttackerMain(in io.Reader, out, errOut io.Writer) int {
	var spec attackerSpec
	if err := json.Unmarshal([]byte(os.Getenv(attackerEnv)), &spec); err != nil {
		fmt.Fprintf(errOut, "seatrx bench attacker: %s: %v\n", attackerEnv, err)
		return 2
	}
	sc, err := NewScenario(spec.Scenario, spec.N, spec.PerAddr, spec.Ramp)
	u, uerr := url.Parse(spec.Server)
	if err == nil && uerr != nil {
		err = uerr
	}
	if err != nil {
		fmt.Fprintf(errOut, "seatrx bench attacker: %v\n", err)
		return 2
	}
	a := sc.(*attack)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The parent going away (its end of in closed) stops the attack at any
	// point, the ramp included.
	stopped := make(chan struct{})
	go func() {
		io.Copy(io.Discard, in)
		cancel()
		close(stopped)
	}()
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	if err := a.Start(ctx, &Target{Server: u, Addr: u.Host}); err != nil && ctx.Err() == nil {
		fmt.Fprintf(errOut, "seatrx bench attacker: %v\n", err)
		return 1
	}
	say("started")
	tick := time.NewTicker(heldEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			say("held %d", a.Held())
			continue
		case <-stopped:
		}
		break
	}
	counts, _ := json.Marshal(a.Stop())
	say("%s", counts)
	return 0
}

const heldEvery = 250 * time.Millisecond

// procAttack is a scenario run by an attacker process.
type procAttack struct {
	spec attackerSpec
	nice int

	cmd   *exec.Cmd
	stdin io.WriteCloser
	held  atomic.Int64
	final chan map[string]int64
}

// NewScenarioProcess is NewScenario with the attackers in a process of
// their own, run at niceness nice (0: as this one; Linux only).
func NewScenarioProcess(name string, n, perAddr int, ramp time.Duration, nice int) (Scenario, error) {
	sc, err := NewScenario(name, n, perAddr, ramp)
	if err != nil {
		return nil, err
	}
	a := sc.(*attack)
	if nice < 0 || nice > 19 {
		return nil, &ConfigError{Field: "AttackerNice", Reason: fmt.Sprintf("%d: want 0 to 19", nice)}
	}
	return &procAttack{spec: attackerSpec{Scenario: a.kind, N: a.n, PerAddr: a.perAddr, Ramp: a.ramp}, nice: nice}, nil
}

func (p *procAttack) Name() string { return p.spec.Scenario }

// Held is how many attacker connections were open at the child's last report.
func (p *procAttack) Held() int64 { return p.held.Load() }

// Start starts the attacker process and returns once it says every
// attacker has started.
func (p *procAttack) Start(ctx context.Context, t *Target) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: attacker process: %w", err)
	}
	p.spec.Server = t.Server.String()
	spec, _ := json.Marshal(p.spec)
	p.cmd = exec.Command(exe)
	p.cmd.Env = append(os.Environ(), attackerEnv+"="+string(spec))
	p.cmd.Stderr = os.Stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return err
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("bench: attacker process: %w", err)
	}
	if p.nice > 0 {
		if err := setNice(p.cmd.Process.Pid, p.nice); err != nil {
			p.kill()
			return fmt.Errorf("bench: attacker process niceness %d: %w", p.nice, err)
		}
	}
	started := make(chan struct{})
	p.final = make(chan map[string]int64, 1)
	go p.read(stdout, started)
	select {
	case <-started:
		return nil
	case <-ctx.Done():
		p.kill()
		return ctx.Err()
	case c := <-p.final:
		p.kill()
		return fmt.Errorf("bench: attacker process ended before starting (%v)", c)
	}
}

// read follows the child's reports.
func (p *procAttack) read(r io.Reader, started chan struct{}) {
	sc := bufio.NewScanner(r)
	var final map[string]int64
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "started":
			close(started)
		case strings.HasPrefix(line, "held "):
			if n, err := strconv.ParseInt(line[len("held "):], 10, 64); err == nil {
				p.held.Store(n)
			}
		case strings.HasPrefix(line, "{"):
			json.Unmarshal([]byte(line), &final)
		}
	}
	p.final <- final
}

// Stop ends the attacker process and returns its counters, plus
// attacker_process 1 and attacker_nice.
func (p *procAttack) Stop() map[string]int64 {
	if p.cmd == nil {
		return nil
	}
	p.stdin.Close()
	var out map[string]int64
	select {
	case out = <-p.final:
	case <-time.After(time.Minute):
		p.kill()
	}
	p.cmd.Wait()
	p.cmd = nil
	if out == nil {
		out = map[string]int64{}
	}
	out["attacker_process"], out["attacker_nice"] = 1, int64(p.nice)
	return out
}

func (p *procAttack) kill() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}
