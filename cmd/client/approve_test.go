package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/clitest"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
)

// approvalServer runs a dev server whose policy gives transfers to two of
// three approvers, with keys made by 'seatrx authorization keygen'.
type approvalServer struct {
	url, dev, policy string
	keys             map[string]string // approver id -> key file
}

func startApprovalServer(t *testing.T) *approvalServer {
	t.Helper()
	dir := t.TempDir()
	a := &approvalServer{keys: map[string]string{}, policy: filepath.Join(dir, "policy.yaml")}
	var entries strings.Builder
	for _, k := range []struct{ id, role, alg string }{{"alice", "cfo", "ed25519"}, {"bob", "", "es256"}, {"carol", "", "es384"}} {
		a.keys[k.id] = filepath.Join(dir, k.id+".pem")
		args := []string{"authorization", "keygen", "--id", k.id, "--out", a.keys[k.id], "--alg", k.alg}
		if k.role != "" {
			args = append(args, "--role", k.role)
		}
		r := sx(t, args...)
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, `    - id: "`+k.id+`"`) {
			t.Fatalf("keygen: %s", r)
		}
		entries.WriteString(r.Stdout)
		if st, err := os.Stat(a.keys[k.id]); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file %v %v", st, err)
		}
	}
	if r := sx(t, "authorization", "keygen", "--id", "alice", "--out", a.keys["alice"]); r.Code != 1 || !strings.Contains(r.Stderr, "exists: keygen never overwrites a key") {
		t.Fatalf("keygen over an existing key: %s", r)
	}
	pol := "id: cli-approvals\nsnp: {}\ntdx: {}\nreceipts:\n  approvers:\n" + entries.String() + demoRules
	if err := os.WriteFile(a.policy, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, PolicyFile: a.policy,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	a.url, a.dev = "https://"+addr.String(), server.DevDir(data)
	return a
}

// requester runs 'seatrx receipt request' in the background and returns
// the authorization id it prints and a function that waits for its end.
func (a *approvalServer) requester(t *testing.T, out string, requested string) (string, func() clitest.Result) {
	t.Helper()
	action := out + ".json"
	os.WriteFile(action, []byte(requested), 0o600)
	cmd := exec.Command(seatrx, "receipt", "request", "--server", a.url, "--dev", a.dev, "--tee", "sim-snp", "--action", action, "--out", out)
	cmd.Env = clitest.Env()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen strings.Builder
	ids := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`authorization ([0-9a-f]{32}) pending`)
		for sc.Scan() {
			mu.Lock()
			seen.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				ids <- m[1]
			}
		}
		close(ids)
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(30 * time.Second):
	}
	if id == "" {
		cmd.Process.Kill()
		<-done
		t.Fatalf("no pending authorization printed:\n%s\n%s", seen.String(), stderr.String())
	}
	return id, func() clitest.Result {
		<-done
		cmd.Wait()
		mu.Lock()
		defer mu.Unlock()
		return clitest.Result{Code: cmd.ProcessState.ExitCode(), Stdout: seen.String(), Stderr: stderr.String()}
	}
}

// The approval flow as a user runs it: a requester waits; an approver
// lists what awaits it, reads the authorization, is refused a prompt
// without a terminal, approves with --yes; a second approval completes it;
// the requester writes the receipt, which verifies under the policy.
// A deny ends another request.
func TestApprovalFlowCLI(t *testing.T) {
	a := startApprovalServer(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "transfer.cbor")
	id, wait := a.requester(t, bundle, `{"operation": "transfer", "amount": 250000, "to": "ACME Corp"}`)
	conn := []string{"--server", a.url, "--dev", a.dev}

	r := sx(t, append([]string{"authorization", "list", "--key", a.keys["alice"]}, conn...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "1 pending authorization(s) await alice:\n  "+id+"  rule large-transfer") ||
		!strings.Contains(r.Stdout, `requested {"amount":250000,"operation":"transfer","to":"ACME Corp"}`) {
		t.Fatalf("list: %s", r)
	}
	r = sx(t, append([]string{"authorization", "show"}, append(conn, id)...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Authorization "+id+": pending (rule \"large-transfer\")") ||
		!strings.Contains(r.Stdout, "approvers 2 of alice (cfo), bob, carol, and the server's appraiser (appraiser); one deny ends it") {
		t.Fatalf("show: %s", r)
	}
	if r := sx(t, append([]string{"authorization", "show", "--json"}, append(conn, id)...)...); r.Code != 0 || !strings.Contains(r.Stdout, `"state": "pending"`) {
		t.Fatalf("show --json: %s", r)
	}
	// Without a terminal, approve asks nothing and sends nothing.
	r = sx(t, append([]string{"approve", "--key", a.keys["alice"]}, append(conn, id)...)...)
	if r.Code != cli.ExitUsage || !strings.Contains(r.Stderr, "the input is not a terminal, so approve cannot ask for confirmation: pass --yes") {
		t.Fatalf("approve without a terminal: %s", r)
	}
	r = sx(t, append([]string{"approve", "--yes", "--key", a.keys["alice"]}, append(conn, id)...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"amount": 250000`) || !strings.Contains(r.Stdout, "You are alice (cfo).") ||
		!strings.Contains(r.Stdout, "approve sent: pending, 1 of 2 approvals, 0 denials") {
		t.Fatalf("alice approves: %s", r)
	}
	r = sx(t, append([]string{"approve", "--yes", "--key", a.keys["alice"]}, append(conn, id)...)...)
	if r.Code != 1 || !strings.Contains(r.Stderr, "REFUSED authz.duplicate (HTTP 409)") {
		t.Fatalf("alice again: %s", r)
	}
	r = sx(t, append([]string{"approve", "--yes", "--key", a.keys["bob"]}, append(conn, id)...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "approve sent: completed, 2 of 2 approvals") {
		t.Fatalf("bob approves: %s", r)
	}
	res := wait()
	if res.Code != 0 || !strings.Contains(res.Stdout, "completed: 2 of 2 approvals, 0 denials (alice approved, bob approved)") ||
		!strings.Contains(res.Stdout, "bundle: "+bundle) {
		t.Fatalf("requester: %s", res)
	}
	verify := []string{"receipt", "verify", "--bundle", bundle, "--keys", bundle + ".keys", "--allow-simulated", "--trust-simulated", filepath.Join(a.dev, "sim-pki")}
	if r := sx(t, append(verify, "--policy", a.policy)...); r.Code != 0 || !strings.Contains(r.Stdout, "pass   approvals              3 of 3 valid, threshold 3") {
		t.Fatalf("verify with the policy: %s", r)
	}
	if r := sx(t, verify...); r.Code != 1 || !strings.Contains(r.Stderr, "hint: the receipt carries approvals by approvers the keys document does not name") {
		t.Fatalf("verify without the policy: %s", r)
	}

	// A deny ends the next one; the requester reports it with its code.
	id2, wait2 := a.requester(t, filepath.Join(dir, "denied.cbor"), `{"operation": "transfer", "amount": 9000}`)
	r = sx(t, append([]string{"approve", "--yes", "--deny", "--key", a.keys["carol"]}, append(conn, id2)...)...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "deny sent: denied, 0 of 2 approvals, 1 denials") {
		t.Fatalf("carol denies: %s", r)
	}
	if res := wait2(); res.Code != 1 || !strings.Contains(res.Stderr, "FAILED authz.denied: client: authorization "+id2+" ended denied, without a receipt") {
		t.Fatalf("denied requester: %s", res)
	}
	// A key that is no approver is refused before anything is signed.
	stranger := filepath.Join(dir, "stranger.pem")
	sx(t, "authorization", "keygen", "--id", "x", "--out", stranger)
	if r := sx(t, append([]string{"approve", "--yes", "--key", stranger}, append(conn, id2)...)...); r.Code != 1 || !strings.Contains(r.Stderr, "this key is not among the approvers of authorization") {
		t.Fatalf("stranger: %s", r)
	}
}

// fakeInput is a terminal whose user types line.
type fakeInput struct {
	io.Reader
	tty bool
}

func (f fakeInput) IsTerminal() bool { return f.tty }

// On a terminal, approve sends only after "y" or "yes".
func TestApproveConfirms(t *testing.T) {
	a := startApprovalServer(t)
	sf := serverFlags{server: a.url, dev: a.dev}
	p, err := sf.plain(flag.NewFlagSet("approve", flag.ContinueOnError))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	id, wait := a.requester(t, filepath.Join(t.TempDir(), "r.cbor"), `{"operation": "transfer", "amount": 1000}`)
	key, err := keyfile.LoadKey(a.keys["bob"])
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errb}
	for _, answer := range []string{"n\n", "\n", "nope\n", ""} {
		out.Reset()
		if err := approve(env, p, key, id, receipt.DecisionApprove, false, fakeInput{strings.NewReader(answer), true}); err != cli.ErrReported ||
			!strings.Contains(out.String(), "Approve this action? [y/N] Nothing sent.") {
			t.Fatalf("answer %q: %v\n%s", answer, err, out.String())
		}
	}
	if v, _ := p.Authorization(context.Background(), id, 0); v.Approvals != 0 {
		t.Fatal("an unconfirmed approval was sent")
	}
	out.Reset()
	if err := approve(env, p, key, id, receipt.DecisionApprove, false, fakeInput{strings.NewReader("yes\n"), true}); err != nil ||
		!strings.Contains(out.String(), "approve sent: pending, 1 of 2 approvals") {
		t.Fatalf("yes: %v\n%s%s", err, out.String(), errb.String())
	}
	out.Reset()
	if err := approve(env, p, key, id, receipt.DecisionDeny, false, fakeInput{strings.NewReader("y\n"), false}); err == nil {
		t.Fatal("prompted without a terminal")
	}
	// Let the requester end (deny by carol) rather than leave it waiting.
	carol, _ := keyfile.LoadKey(a.keys["carol"])
	if err := approve(env, p, carol, id, receipt.DecisionDeny, true, fakeInput{nil, false}); err != nil {
		t.Fatalf("carol denies: %v\n%s", err, errb.String())
	}
	if r := wait(); r.Code != 1 {
		t.Fatalf("requester: %s", r)
	}
	if v, _ := p.Authorization(context.Background(), id, 0); v.State != client.StateDenied {
		t.Fatalf("state %s", v.State)
	}
}
