package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:    "demo",
		Summary: "run the whole flow locally on simulated TEEs (no TEE hardware, no network beyond loopback)",
		Usage:   "[--keep DIR] [--quiet] [--transport tls|dtls]",
		Doc: `Demo starts an in-process --dev server on a loopback port and runs two
sessions against it: mutual attestation with simulated SEV-SNP, then TDX; a
receipt per session, verified offline; the first session's execution token
redeemed, and its second redemption refused. A third session keeps a
workload key in a (simulated) TEE's data directory, obtains an X.509-SVID for
it, gets a receipt whose subject is the SVID's SPIFFE ID, and redeems that
receipt's token on a second connection authenticated only by the SVID over
mTLS. A fourth session is a transfer that the policy gives to three
approvers (alice, bob, carol: keys made in the demo's directory), two of
whom must approve: it waits as a pending authorization until alice and bob
approve it (as 'seatrx approve --yes' does), and its receipt carries the
appraiser's and their approvals and verifies under the policy. The server
runs with a policy like examples/policy-credentials-dev.yaml plus those
approvers (DIR/demo-policy.yaml). It prints a summary of each session and
the first receipt as JSON.

With --keep DIR the server's data stays in DIR (keys/, seatrx.db, dev/ with
its CA and simulated PKI, workload/ with the workload key, demo-policy.yaml,
approvers/ with the three approver keys) and each session's
receipt bundle and the server's keys document are written as
DIR/session-N.cbor and DIR/session-N.cbor.keys, ready for 'seatrx receipt
verify' (the demo prints the command), and the SVID and trust bundle as
DIR/session-3-svid.pem and DIR/bundle.pem.

With --transport dtls the demo instead runs one session over DTLS 1.3: the
server also listens on UDP (--dtls), a simulated SEV-SNP guest attests and
gets its receipt in one exchange of datagrams (docs/PROTOCOL.md §13), and
the receipt, verified offline, records transport "dtls" and version
0xfefc.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			keep := fs.String("keep", "", "keep the server's data, the receipt bundles and the keys document in `DIR` (new or empty)")
			quiet := fs.Bool("quiet", false, "do not print the receipt JSON")
			var transport string
			cli.EnumVar(fs, &transport, "transport", "tls", []string{"tls", "dtls"}, "tls: the four sessions on HTTPS; dtls: one attested receipt over DTLS 1.3")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if transport == "dtls" {
					return runDemoDTLS(env, *keep, *quiet)
				}
				return runDemo(env, *keep, *quiet)
			}
		},
	}
}

// runDemo is the one-command main job on a machine without a TEE: an
// in-process --dev server on a loopback port, mutual attestation with
// simulated SEV-SNP and then TDX, two receipts verified offline, one execution
// token redeemed (and refused the second time), a summary and the receipt.
func runDemo(env *cli.Env, keep string, quiet bool) error {
	stdout := env.Stdout
	data, cleanup, err := demoDataDir(keep)
	if err != nil {
		return err
	}
	defer cleanup()
	// The dev server's policy is the default's plus one workload identity
	// (the simulated SEV-SNP guest's reference values name demo/workload)
	// and three approvers for large transfers.
	approvers, polPath, err := demoApprovers(data)
	if err != nil {
		return err
	}
	_, addr, stop, err := startDemoServer(server.Config{DataDir: data, PolicyFile: polPath}, stdout)
	if err != nil {
		return err
	}
	defer stop()

	// The client side uses only what the dev server published for clients.
	roots, pki, err := devFiles(server.DevDir(data))
	if err != nil {
		return err
	}
	checker, err := client.NewChecker(pki, nil)
	if err != nil {
		return err
	}
	var first *client.Outcome
	var kept []string
	for i, tee := range []string{"sim-snp", "sim-tdx"} {
		att, err := server.NewAttester(tee, pki)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\n== session %d: client TEE %s, mutual attestation ==\n", i+1, tee)
		o, err := client.Run(context.Background(), client.Flow{
			Server: "https://" + addr.String(), Roots: roots, Prover: &tlsbind.Prover{Attester: att}, Checker: checker,
			Mutual: true, Requested: map[string]any{"operation": "release-model-weights", "model": "demo-7b", "session": i + 1},
			Redeem: i == 0, ShowSingleUse: i == 0, AllowSimulated: true, SimulatedPKI: pki,
		})
		if o != nil {
			printSession(stdout, o)
		}
		if err != nil {
			printRefusal(env.Stderr, err)
			return cli.ErrReported
		}
		if first == nil {
			first = o
		}
		if keep != "" {
			path := filepath.Join(keep, fmt.Sprintf("session-%d.cbor", i+1))
			if err := os.WriteFile(path, o.Receipt.Bundle, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(path+".keys", o.KeysDoc, 0o644); err != nil {
				return err
			}
			kept = append(kept, path)
		}
	}
	if err := demoCredential(env, "https://"+addr.String(), roots, pki, data, keep); err != nil {
		return err
	}
	approved, err := demoApprovals(env, "https://"+addr.String(), roots, pki, checker, approvers, keep)
	if err != nil {
		return err
	}
	// Audit the first receipt again from its bytes alone, as anyone could later.
	rep, err := verify.Bundle(first.Receipt.Bundle, first.Keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: pki})
	if err != nil || !rep.OK {
		return fmt.Errorf("re-verification failed: %v", err)
	}
	fmt.Fprintln(stdout, "\nSummary: 2 sessions, mutual attestation (simulated SEV-SNP, then simulated TDX), 2 receipts issued and verified offline,")
	fmt.Fprintln(stdout, "1 execution token redeemed and its second redemption refused; then 1 workload credential (X.509-SVID) issued,")
	fmt.Fprintln(stdout, "and a token bound to its key redeemed on a second connection authenticated by it alone; then a transfer")
	fmt.Fprintln(stdout, "approved by 2 of 3 approvers, its receipt carrying the appraiser's and their approvals.")
	fmt.Fprintln(stdout, "Evidence was SIMULATED: every EAR, receipt and credential says so.")
	if !quiet {
		b, _ := receipt.UnmarshalBundle(first.Receipt.Bundle)
		r, err := receipt.ParseReceipt(b.Receipt)
		if err != nil {
			return err
		}
		js, err := r.JSONWithReport(rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nReceipt of session 1 (JSON rendering; the signed form is COSE_Sign1/CBOR):\n%s\n", js)
	}
	if keep != "" {
		fmt.Fprintf(stdout, "\nKept in %s: the server's keys/, seatrx.db and dev/ (CA, simulated PKI), and\n", keep)
		for _, p := range kept {
			fmt.Fprintf(stdout, "  %s (receipt bundle) and %s.keys (the server's keys document)\n", p, p)
		}
		fmt.Fprintf(stdout, "Verify one later with:\n  %s receipt verify --bundle %s --keys %s.keys --allow-simulated --trust-simulated %s\n",
			name, kept[0], kept[0], filepath.Join(server.DevDir(keep), "sim-pki"))
		fmt.Fprintf(stdout, "and the approved transfer with the policy that names its approvers (its canonical form is in the bundle):\n  %s receipt verify --bundle %s --keys %s.keys --policy %s --allow-simulated --trust-simulated %s\n",
			name, approved, approved, polPath, filepath.Join(server.DevDir(keep), "sim-pki"))
	}
	return nil
}

// emptyDir makes sure dir exists and holds nothing, so that --keep never
// mixes the demo's files with others or overwrites any.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("not empty (%d entries): the demo writes a fresh server's keys and store there", len(ents))
	}
	return nil
}

// demoPolicy is the demo server's policy: seatrx's default (SEV-SNP and TDX,
// debug refused) and one workload identity, the simulated SEV-SNP guest's
// default reference values (all zero) named demo/workload.
const demoPolicy = `id: seatrx-demo
snp: {}
tdx: {}
credentials:
  trust_domain: seatrx.demo
  workloads:
    - name: demo/workload
      platform: sev-snp
      measurements:
        measurement: "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        host_data: "0000000000000000000000000000000000000000000000000000000000000000"
`

// demoCredential is the demo's third session: a workload key kept in the
// (simulated) TEE's data directory, an X.509-SVID for it on an attested
// connection, a receipt whose subject is the SPIFFE ID, and its token
// redeemed on a second connection that presents the SVID over mTLS and
// does not attest.
func demoCredential(env *cli.Env, srvURL string, roots *x509.CertPool, pki *sim.PKI, data, keep string) error {
	stdout, ctx := env.Stdout, context.Background()
	fmt.Fprintf(stdout, "\n== session 3: a workload credential (X.509-SVID), and a token redeemed on a second connection ==\n")
	keyPath := filepath.Join(data, "workload", "workload.key")
	key, _, err := keyfile.LoadOrCreateWorkloadKey(keyPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  workload key %s (0600; in a real CVM this directory is inside the encrypted guest)\n", keyPath)
	att, err := server.NewAttester("sim-snp", pki)
	if err != nil {
		return err
	}
	a, err := client.Dial(ctx, client.Config{Server: srvURL, Roots: roots, Prover: &tlsbind.Prover{Attester: att, Key: key}})
	if err != nil {
		return err
	}
	defer a.Close()
	fail := func(err error) error { printRefusal(env.Stderr, err); return cli.ErrReported }
	if _, err := a.Attest(ctx); err != nil {
		return fail(err)
	}
	chain, chainPEM, err := a.RequestCredential(ctx, nil)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, "  connection A: attested with the workload key, credential issued:")
	var buf bytes.Buffer
	printSVID(&buf, chain[0])
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		fmt.Fprintf(stdout, "    %s\n", l)
	}
	rr, err := a.RequestReceipt(ctx, map[string]any{"operation": "release-model-weights", "model": "demo-7b", "session": 3}, "")
	if err != nil {
		return fail(err)
	}
	b, err := receipt.UnmarshalBundle(rr.Bundle)
	if err != nil {
		return err
	}
	rc, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  receipt %x issued on A: subject %s, token bound to the workload key\n", rr.ReceiptID, rc.Subject)
	m, err := client.Dial(ctx, client.Config{Server: srvURL, Roots: roots,
		ClientCertificate: &tls.Certificate{Certificate: [][]byte{chain[0].Raw}, PrivateKey: key, Leaf: chain[0]}})
	if err != nil {
		return err
	}
	defer m.Close()
	red, err := m.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "  connection B: mTLS with the SVID, no attestation: execution token %s redeemed at %s\n", red.TokenID, red.RedeemedAt.Format(time.RFC3339))
	if keep != "" {
		bundlePEM, err := m.Bundle(ctx, true)
		if err != nil {
			return fail(err)
		}
		for name, b := range map[string][]byte{"session-3-svid.pem": chainPEM, "bundle.pem": bundlePEM} {
			if err := os.WriteFile(filepath.Join(keep, name), b, 0o644); err != nil {
				return err
			}
		}
		fmt.Fprintf(stdout, "  kept %s and %s: openssl verify -CAfile %s %s\n", filepath.Join(keep, "session-3-svid.pem"), filepath.Join(keep, "bundle.pem"),
			filepath.Join(keep, "bundle.pem"), filepath.Join(keep, "session-3-svid.pem"))
	}
	return nil
}

// demoApprovals is the demo's fourth session: a transfer the policy gives
// to approvers waits as a pending authorization until alice and bob approve
// it; its receipt verifies under the policy. It returns the kept bundle's
// path ("" without keep).
func demoApprovals(env *cli.Env, srvURL string, roots *x509.CertPool, pki *sim.PKI, checker *tlsbind.Checker, approvers map[string]crypto.Signer, keep string) (string, error) {
	stdout := env.Stdout
	att, err := server.NewAttester("sim-snp", pki)
	if err != nil {
		return "", err
	}
	plain, err := client.NewPlain(srvURL, roots, 0)
	if err != nil {
		return "", err
	}
	defer plain.Close()
	fmt.Fprintln(stdout, "\n== session 4: client TEE sim-snp, a transfer that needs 2 of 3 approvers ==")
	var approveErr error
	o, err := client.Run(context.Background(), client.Flow{
		Server: srvURL, Roots: roots, Prover: &tlsbind.Prover{Attester: att}, Checker: checker,
		Requested:      map[string]any{"operation": "transfer", "amount": 250000, "currency": "EUR", "to": "ACME Corp"},
		AllowSimulated: true, SimulatedPKI: pki,
		OnPending: func(v *api.Authorization) {
			if v.State != client.StatePending || v.Approvals > 0 || approveErr != nil {
				return
			}
			fmt.Fprintf(stdout, "  authorization %s pending: rule %q needs %d of %s\n", v.ID, v.Rule, v.Threshold, approverList(v.Approvers))
			// Two approvers decide, each as 'seatrx approve --yes' does:
			// review what the server shows, sign, send.
			for _, id := range []string{"alice", "bob"} {
				got, err := demoApprove(plain, v.ID, approvers[id])
				if err != nil {
					approveErr = fmt.Errorf("%s: %w", id, err)
					return
				}
				fmt.Fprintf(stdout, "  %s approved: %s, %d of %d approvals\n", id, got.State, got.Approvals, got.Threshold)
			}
		},
	})
	if o != nil {
		printSession(stdout, o)
	}
	if err == nil {
		err = approveErr
	}
	if err != nil {
		printRefusal(env.Stderr, err)
		return "", cli.ErrReported
	}
	var ids []string
	for _, a := range o.Report.Receipt.ApproverIdentities {
		ids = append(ids, a.ID)
	}
	fmt.Fprintf(stdout, "  receipt approvals: %s (verified under the server's policy)\n", strings.Join(ids, ", "))
	if keep == "" {
		return "", nil
	}
	path := filepath.Join(keep, "session-4.cbor")
	if err := os.WriteFile(path, o.Receipt.Bundle, 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(path+".keys", o.KeysDoc, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// demoRules is the demo policy's approval rule: transfers of 1000 or more
// need two of the three approvers; everything else the appraiser alone.
const demoRules = `  approval_rules:
    - name: large-transfer
      match:
        - field: operation
          equals: transfer
        - field: amount
          at_least: 1000
      approvers: [alice, bob, carol]
      threshold: 2
      deny_ends: true
    - name: default
`

// demoApprovers makes the three approver keys (Ed25519, ES256, ES384) under
// data/approvers and writes the demo policy, data/demo-policy.yaml:
// demoPolicy, the approvers and demoRules.
func demoApprovers(data string) (map[string]crypto.Signer, string, error) {
	keys := map[string]crypto.Signer{}
	var b strings.Builder
	b.WriteString(demoPolicy + "receipts:\n  approvers:\n")
	for _, a := range []struct {
		id, role string
		key      func() (crypto.Signer, error)
	}{
		{"alice", "cfo", func() (crypto.Signer, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
		{"bob", "treasurer", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }},
		{"carol", "security-officer", func() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }},
	} {
		k, err := a.key()
		if err != nil {
			return nil, "", err
		}
		if err := keyfile.WriteKey(filepath.Join(data, "approvers", a.id+".pem"), k); err != nil {
			return nil, "", err
		}
		keys[a.id] = k
		b.WriteString(ApproverEntry(a.id, a.role, k.Public()))
	}
	b.WriteString(demoRules)
	path := filepath.Join(data, "demo-policy.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return nil, "", err
	}
	return keys, path, nil
}

// demoApprove is 'seatrx approve --yes': review authorization id with key,
// sign an approval, send it.
func demoApprove(p *client.Plain, id string, key crypto.Signer) (*api.Authorization, error) {
	ctx := context.Background()
	v, err := p.Authorization(ctx, id, 0)
	if err != nil {
		return nil, err
	}
	r, err := client.NewReview(v, key)
	if err != nil {
		return nil, err
	}
	body, err := r.Sign(receipt.DecisionApprove)
	if err != nil {
		return nil, err
	}
	return p.Decide(ctx, id, body)
}

// demoDataDir returns the demo's data directory: keep, emptied first, or a
// temporary directory that cleanup removes.
func demoDataDir(keep string) (dir string, cleanup func(), err error) {
	if keep != "" {
		if err := emptyDir(keep); err != nil {
			return "", nil, cli.Usagef("--keep %s: %v", keep, err)
		}
		return keep, func() {}, nil
	}
	d, err := os.MkdirTemp("", "seatrx-demo-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// startDemoServer starts an in-process --dev server on a loopback port with
// cfg's data directory and options, its log discarded, and prints the dev
// banner; stop shuts it down and waits for it.
func startDemoServer(cfg server.Config, stdout io.Writer) (srv *server.Server, addr net.Addr, stop func(), err error) {
	cfg.Addr, cfg.Dev = "127.0.0.1:0", true
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err = server.New(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	addr, err = srv.Listen()
	if err != nil {
		return nil, nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
	fmt.Fprint(stdout, server.DevBanner(cfg.DataDir, addr.String()))
	return srv, addr, stop, nil
}
