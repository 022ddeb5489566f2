package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/seatrx/seatrx/conformance"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/peersuite"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/tlsbind"
)

func conformanceCommand() *cli.Command {
	return &cli.Command{Name: "conformance", Summary: "run conformance vectors, and test another implementation live", Subs: []*cli.Command{{
		Name:    "vectors",
		Summary: "run seatrx-vectors files (v2; v1 still read), one PASS/FAIL line per case",
		Usage:   "FILE...",
		Doc:     "Vectors exits 1 if any case fails. The vectors and their schema are in conformance/.",
		Setup: func(fs *flag.FlagSet) cli.Action {
			return runVectors
		},
	}, serveCommand(), runCommand()}}
}

// runVectors implements "conformance vectors FILE...": one line per case,
// PASS or FAIL with the reason, exit 1 on any failure.
func runVectors(env *cli.Env, args []string) error {
	if len(args) == 0 {
		return cli.Usagef("missing FILE: name one or more seatrx-vectors files, e.g. conformance/vectors/*.json")
	}
	stdout := env.Stdout
	pass, fail := 0, 0
	for _, path := range args {
		f, err := conformance.LoadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", path, err)
			fail++
			continue
		}
		for _, r := range f.Run() {
			if r.Err != nil {
				fmt.Fprintf(stdout, "FAIL %s/%s: %v\n", f.Kind, r.Name, r.Err)
				fail++
			} else {
				fmt.Fprintf(stdout, "PASS %s/%s\n", f.Kind, r.Name)
				pass++
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", pass, fail)
	if fail > 0 {
		return cli.ErrReported
	}
	return nil
}

// peerFlags are the flags serve and run share: how to reach the peer, how
// to secure the connection, the profile, limits, the report and the
// debugging aids.
type peerFlags struct {
	transport, profile                string
	target, listen                    string
	dev, ca, tlsCert, tlsKey, caOut   string
	serverName                        string
	insecure                          bool
	only                              string
	jsonOut                           string
	timeout, stepTimeout, verdictWait time.Duration
	dbg                               debugFlags
}

func (p *peerFlags) define(fs *flag.FlagSet, only, onlyWhat, listenDefault string) {
	cli.EnumVar(fs, &p.transport, "transport", string(peersuite.HTTP), peersuite.Transports(),
		"how the messages travel: http (seatrx's API), seatrx-raw (docs/PROTOCOL.md §11) or cocos (cocos's framing)")
	ids := tlsbind.ProfileIDs(tlsbind.Profiles())
	cli.EnumVar(fs, &p.profile, "profile", tlsbind.ProfileExpat04, ids, "interop profile: "+strings.Join(ids, ", ")+" (docs/PROTOCOL.md §2)")
	fs.StringVar(&p.target, "target", "", "dial the peer at `HOST:PORT`")
	cli.AddrVar(fs, &p.listen, "listen", listenDefault, "listen here for the peer to connect (raw transports; "+onlyWhat+")")
	fs.StringVar(&p.dev, "dev", "", "a seatrx dev server's client files (`DIR`, its DATA/dev): its CA (to verify a dialled peer, and to issue this side's certificate when listening) and simulated TEE PKI")
	fs.StringVar(&p.ca, "ca", "", "CA certificates (PEM `FILE`) to verify a dialled peer; default system roots")
	fs.StringVar(&p.serverName, "server-name", "", "`NAME` to verify a dialled peer's certificate for (default: the target's host)")
	cli.BoolVar(fs, &p.insecure, "tls-insecure", false, "do not verify a dialled peer's TLS certificate (raw transports; a test peer with a throwaway certificate); attestation is still checked")
	fs.StringVar(&p.tlsCert, "tls-cert", "", "listening: this side's certificate chain (PEM `FILE`); default a fresh one for localhost (from --dev's CA if given)")
	fs.StringVar(&p.tlsKey, "tls-key", "", "listening: the key of --tls-cert (PEM `FILE`)")
	fs.StringVar(&p.caOut, "ca-out", "", "listening: write the certificate the peer must trust to `FILE` (PEM)")
	fs.StringVar(&p.only, only, "", "comma-separated `LIST` of "+only+" to run, in order (default all)")
	fs.StringVar(&p.jsonOut, "json", "", "also write the report as JSON (schema "+peersuite.ReportSchema+") to `FILE`")
	cli.DurationVar(fs, &p.timeout, "timeout", 5*time.Minute, time.Second, "bound on the whole run")
	cli.DurationVar(fs, &p.stepTimeout, "step-timeout", peersuite.DefaultStepTimeout, time.Millisecond, "bound on each wait for the peer's next message")
	p.dbg.define(fs)
}

// direction checks --target and --listen for the role: over HTTP the
// attester is the TLS client, the relying party the TLS server.
func (p *peerFlags) direction(fs *flag.FlagSet, attester bool) error {
	if err := cli.Conflict(fs, "target", "listen", "dial or listen, not both"); err != nil {
		return err
	}
	if p.transport != string(peersuite.HTTP) {
		return nil
	}
	switch {
	case attester && p.target == "" && p.listen != "":
		return cli.Usagef("the HTTP transport's attester dials: give --target (--listen is for the raw transports)")
	case attester && p.target == "":
		return cli.Usagef("missing --target HOST:PORT (or, on a raw transport, --listen ADDR for a relying party that dials)")
	case !attester && p.target != "":
		return cli.Usagef("the HTTP transport's relying party listens: give --listen (--target is for the raw transports)")
	}
	return nil
}

// endpoint resolves the shared flags; sim is the dev server's simulated PKI
// when --dev is given.
func (p *peerFlags) endpoint(fs *flag.FlagSet, env *cli.Env) (peersuite.Endpoint, *sim.PKI, func(), error) {
	ep := peersuite.Endpoint{Transport: peersuite.Transport(p.transport), Target: p.target, ServerName: p.serverName,
		Insecure: p.insecure, StepTimeout: p.stepTimeout, VerdictWait: p.verdictWait}
	for _, c := range [][3]string{{"ca", "dev", "--dev already names the dev server's CA"},
		{"tls-insecure", "ca", "--tls-insecure verifies nothing"}, {"tls-insecure", "dev", "--tls-insecure verifies nothing"}} {
		if err := cli.Conflict(fs, c[0], c[1], c[2]); err != nil {
			return ep, nil, nil, err
		}
	}
	if (p.tlsCert == "") != (p.tlsKey == "") {
		return ep, nil, nil, cli.Usagef("--tls-cert and --tls-key go together")
	}
	if p.insecure {
		fmt.Fprintln(env.Stderr, "WARNING: --tls-insecure: the peer's TLS certificate is not verified (attestation still is)")
	}
	var pki *sim.PKI
	var devCA *x509.Certificate
	if p.dev != "" {
		roots, pk, err := devFiles(p.dev)
		if err != nil {
			return ep, nil, nil, err
		}
		ep.Roots, pki = roots, pk
		if cas, err := keyfile.LoadCertificates(filepath.Join(p.dev, "ca.pem")); err == nil {
			devCA = cas[0]
		}
	}
	if p.ca != "" {
		cas, err := keyfile.LoadCertificates(p.ca)
		if err != nil {
			return ep, nil, nil, fmt.Errorf("--ca: %w", err)
		}
		ep.Roots = x509.NewCertPool()
		for _, c := range cas {
			ep.Roots.AddCert(c)
		}
	}
	if p.target == "" {
		if err := p.listenOn(&ep, devCA, env); err != nil {
			return ep, nil, nil, err
		}
	}
	closeDbg, err := p.dbg.open(env.Stderr)
	if err != nil {
		if ep.Listener != nil {
			ep.Listener.Close()
		}
		return ep, nil, nil, err
	}
	ep.KeyLog, ep.Dump = p.dbg.keyLog, p.dbg.dump
	return ep, pki, func() {
		closeDbg()
		if ep.Listener != nil {
			ep.Listener.Close()
		}
	}, nil
}

// listenOn opens --listen with this side's certificate: --tls-cert, or a
// fresh one issued by the dev CA (--dev), or self-signed.
func (p *peerFlags) listenOn(ep *peersuite.Endpoint, devCA *x509.Certificate, env *cli.Env) error {
	var anchor *x509.Certificate
	switch {
	case p.tlsCert != "":
		c, err := tls.LoadX509KeyPair(p.tlsCert, p.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		ep.Certificate = c
		anchor = c.Leaf
	default:
		var err error
		if devCA != nil {
			caKey, kerr := keyfile.LoadKey(filepath.Join(p.dev, "ca-key.pem"))
			if kerr != nil {
				return fmt.Errorf("--dev: the CA key to issue this side's certificate: %w", kerr)
			}
			ep.Certificate, anchor, err = peersuite.EphemeralCertificate(devCA, caKey)
		} else {
			ep.Certificate, anchor, err = peersuite.EphemeralCertificate(nil, nil)
		}
		if err != nil {
			return err
		}
	}
	if p.caOut != "" {
		if err := os.WriteFile(p.caOut, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: anchor.Raw}), 0o644); err != nil {
			return fmt.Errorf("--ca-out: %w", err)
		}
	}
	ln, err := net.Listen("tcp", p.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	ep.Listener = ln
	return nil
}

// context is the run's bound: --timeout, and SIGINT/SIGTERM end it early
// (the report is still written).
func (p *peerFlags) context() (context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	return ctx, func() { stop(); cancel() }
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, x := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(x))
	}
	return out
}

// finish writes the report's summary and JSON, and turns it into the exit
// status: 1 unless everything tested passed.
func (p *peerFlags) finish(env *cli.Env, rep *peersuite.Report, err error) error {
	if rep != nil {
		fmt.Fprintln(env.Stdout, rep.Summary())
		if p.jsonOut != "" {
			f, ferr := os.Create(p.jsonOut)
			if ferr != nil {
				return fmt.Errorf("--json: %w", ferr)
			}
			werr := rep.WriteJSON(f)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				return fmt.Errorf("--json: %w", werr)
			}
		}
		if p.dbg.dump != nil {
			fmt.Fprintf(env.Stdout, "dump: %s\n", p.dbg.dump.Dir())
		}
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	if rep == nil || !rep.OK() {
		return cli.ErrReported
	}
	return nil
}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:    "serve",
		Summary: "be a relying party that tests a foreign attester, one scripted scenario per connection",
		Usage:   "[--listen ADDR | --target HOST:PORT] [--transport http|seatrx-raw|cocos] [--profile ID] [flags]",
		Doc: `Serve plays the relying party. Each connection runs one scenario: a
well-formed request, or a request that breaks one rule of RFC 9261 or
draft-fossati-seat-expat (cmw_attestation not offered, offered twice or with
data, the wrong message type, no signature_algorithms, ...), or two requests
on one connection (context reuse, re-attestation). It reports, one line per
scenario, whether the attester reacted as the rule requires (docs/PROTOCOL.md
§12 lists each scenario, its rule and the reactions that pass).

Over HTTP (seatrx's API) a connection's scenario is the one its URL names,
https://HOST:PORT/s/NAME/ (a seatrx client takes it as its --server), or else
the next one not yet run. Over the raw framings the scenarios are taken in
sequence, one per connection; --target dials an attester that listens (a
cocos agent). Serve ends when every scenario has a conclusive result, or at
--timeout. It verifies the attester's evidence against the vendors' roots,
plus the simulated ones of --dev or --trust-simulated, under --policy.
Exit status 1 unless every scenario passed (a scenario the attester never
reached, such as re-attestation over HTTP with a client that attests once,
is inconclusive).

Scenarios: ` + scenarioList() + `.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			var p peerFlags
			p.define(fs, "scenarios", "the default", "127.0.0.1:8444")
			trustSim := fs.String("trust-simulated", "", "also trust the simulated TEE PKI in `DIR` (without --dev)")
			polFile := fs.String("policy", "", "appraisal policy `FILE` for the attester's evidence (the server's format); default seatrx's")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if err := p.direction(fs, false); err != nil {
					return err
				}
				if err := cli.Conflict(fs, "trust-simulated", "dev", "--dev already names the simulated PKI"); err != nil {
					return err
				}
				sel, err := peersuite.SelectScenarios(list(p.only))
				if err != nil {
					return cli.Usagef("--scenarios: %v", err)
				}
				ep, pki, closeAll, err := p.endpoint(fs, env)
				if err != nil {
					return err
				}
				defer closeAll()
				if *trustSim != "" {
					if pki, err = sim.Load(*trustSim); err != nil {
						return fmt.Errorf("--trust-simulated: %w", err)
					}
				}
				var pol *policy.Policy
				if *polFile != "" {
					if pol, err = policy.Load(*polFile); err != nil {
						return fmt.Errorf("--policy: %w", err)
					}
				}
				checker, err := client.NewChecker(pki, pol)
				if err != nil {
					return err
				}
				prof, _ := tlsbind.LookupProfile(p.profile)
				names := make([]string, len(sel))
				for i, s := range sel {
					names[i] = s.Name
				}
				where := ep.Target
				if where == "" {
					where = "listening on " + ep.Listener.Addr().String()
					if ep.Transport == peersuite.HTTP {
						where += fmt.Sprintf(" (https://%s/s/SCENARIO/, or https://%s/ for the next)", ep.Listener.Addr(), ep.Listener.Addr())
					}
				}
				fmt.Fprintf(env.Stdout, "seatrx conformance serve: relying party, profile %s, transport %s, %s\n", prof.ID, ep.Transport, where)
				ctx, cancel := p.context()
				defer cancel()
				rep, err := peersuite.Serve(ctx, peersuite.ServeConfig{Endpoint: ep, Profile: prof, Checker: checker, Scenarios: names,
					SimulatedTrusted: pki != nil, Progress: env.Stdout})
				return p.finish(env, rep, err)
			}
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:     "run",
		Summary:  "be an attester that tests a foreign relying party with good and bad authenticators",
		Usage:    "(--target HOST:PORT | --listen ADDR) --tee KIND [--transport http|seatrx-raw|cocos] [--profile ID] [flags]",
		Required: []string{"tee"},
		Doc: `Run plays the attester. Each case opens a connection (the relay case two),
takes the relying party's request and answers it with one authenticator:
the good one, which must be accepted, or one wrong in one way, which must be
refused: RFC 9261 and cmw_attestation message faults (bad signature, bad
Finished, cmw_attestation in the second entry, an unsolicited extension, an
empty authenticator where attestation was required, ...) and binding faults
(evidence relayed from another connection, made for another context or key,
bound with another label, in another profile's container, or absent). One
line per case with the rule it tests; --json writes the report; exit status
1 on any failure. --codes also requires each refusal to carry the code
seatrx's own relying party gives (for relying parties using seatrx's codes).

Over HTTP the relying party is a seatrx-API server (--target); Run first
checks that it accepts --profile. If it also accepts other profiles, the
cases bound as another profile says (evidence-other-label, wrong-container)
are skipped, since accepting them is then right: test those rules against a
relying party that accepts one profile. Over the raw framings Run dials
(--target) or, for a relying party that dials (cocos's client), listens
(--listen); cocos's framing has no verdict, so a closed connection is a
refusal and application data, or an open connection silent for
--verdict-wait, acceptance. --tee is the evidence source: sim-snp and
sim-tdx use --dev's simulated PKI (rust-ref carries TDX quotes only).

Cases: ` + caseList() + `.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			var p peerFlags
			p.define(fs, "cases", "for a relying party that dials", "")
			var tee string
			cli.EnumVar(fs, &tee, "tee", "", []string{"sim-snp", "sim-tdx", "snp", "tdx"}, "evidence source: sim-snp, sim-tdx (simulated; need --dev), snp, tdx")
			strict := fs.Bool("codes", false, "also require seatrx's refusal code for each case")
			cli.DurationVar(fs, &p.verdictWait, "verdict-wait", peersuite.DefaultVerdictWait, time.Millisecond, "cocos framing: how long an open, silent connection after an authenticator takes to count as acceptance")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if err := p.direction(fs, true); err != nil {
					return err
				}
				if p.target == "" && p.listen == "" {
					return cli.Usagef("missing --target HOST:PORT (or --listen ADDR for a relying party that dials)")
				}
				if (tee == "sim-snp" || tee == "sim-tdx") && p.dev == "" {
					return cli.Usagef("--tee %s needs --dev DIR: the simulated TEE PKI comes from the dev server's files", tee)
				}
				sel, err := peersuite.SelectCases(list(p.only))
				if err != nil {
					return cli.Usagef("--cases: %v", err)
				}
				ep, pki, closeAll, err := p.endpoint(fs, env)
				if err != nil {
					return err
				}
				defer closeAll()
				attester, err := server.NewAttester(tee, pki)
				if err != nil {
					return fmt.Errorf("--tee: %w", err)
				}
				prof, _ := tlsbind.LookupProfile(p.profile)
				names := make([]string, len(sel))
				for i, c := range sel {
					names[i] = c.Name
				}
				where := ep.Target
				if where == "" {
					where = "listening on " + ep.Listener.Addr().String()
				}
				fmt.Fprintf(env.Stdout, "seatrx conformance run: attester (%s), profile %s, transport %s, %s\n", tee, prof.ID, ep.Transport, where)
				ctx, cancel := p.context()
				defer cancel()
				rep, err := peersuite.Run(ctx, peersuite.RunConfig{Endpoint: ep, Profile: prof, Prover: &tlsbind.Prover{Attester: attester},
					Cases: names, StrictCodes: *strict, Progress: env.Stdout})
				return p.finish(env, rep, err)
			}
		},
	}
}

func scenarioList() string {
	var n []string
	for _, s := range peersuite.Scenarios() {
		n = append(n, s.Name)
	}
	return wrap(n)
}

func caseList() string {
	var n []string
	for _, c := range peersuite.Cases() {
		n = append(n, c.Name)
	}
	return wrap(n)
}

// wrap joins names with commas into lines of at most 76 columns.
func wrap(names []string) string {
	var b strings.Builder
	col := 10 // after "Scenarios: "
	for i, n := range names {
		if i > 0 {
			b.WriteString(",")
			col++
			if col+len(n)+1 > 76 {
				b.WriteString("\n")
				col = 0
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(n)
		col += len(n)
	}
	return b.String()
}
