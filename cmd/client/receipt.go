package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// maxInputFile bounds files the CLI reads (bundles, keys, actions).
const maxInputFile = 4 << 20

func receiptCommand() *cli.Command {
	return &cli.Command{Name: "receipt", Summary: "obtain, verify and show receipts", Subs: []*cli.Command{
		requestCommand(), verifyCommand(), showCommand(),
	}}
}

func readInput(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxInputFile {
		return nil, fmt.Errorf("%s is %d bytes, limit %d", path, st.Size(), maxInputFile)
	}
	return os.ReadFile(path)
}

// devFiles loads what a dev server wrote for clients: its CA and the
// simulated PKI.
func devFiles(dir string) (*x509.CertPool, *sim.PKI, error) {
	cas, err := keyfile.LoadCertificates(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, nil, fmt.Errorf("--dev: %w", err)
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	p, err := sim.Load(filepath.Join(dir, "sim-pki"))
	if err != nil {
		return nil, nil, fmt.Errorf("--dev: %w", err)
	}
	return pool, p, nil
}

func requestCommand() *cli.Command {
	return &cli.Command{
		Name:    "request",
		Summary: "attest to a server over one TLS 1.3 connection and obtain a receipt",
		Usage:   "--server URL [--dev DIR | --ca FILE] --tee KIND --action FILE --out BUNDLE [flags]",
		Doc: `Request opens one TLS 1.3 connection to the server, answers its challenge
with this machine's evidence (or a simulated TEE's), optionally demands and
verifies the server's own evidence first (--mutual), obtains a receipt for the
operation in --action, verifies it offline and writes the bundle to --out and
the server's keys document to OUT.keys. Without --dev or --ca the server's
certificate is verified against the system roots.

When the server's policy needs approvers for this action, the request
becomes a pending authorization: request prints its id (for 'seatrx approve')
and waits on the same connection until it completes, is denied or expires,
or --wait runs out.`,
		Required: []string{"server", "tee", "action", "out"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			srvURL := fs.String("server", "", "server base `URL`, e.g. https://localhost:8443")
			dev := fs.String("dev", "", "a dev server's client files (`DIR`, the server's DATA/dev): its CA and the simulated TEE PKI")
			caFile := fs.String("ca", "", "CA certificates (PEM `FILE`) to verify the server; default system roots")
			var tee string
			cli.EnumVar(fs, &tee, "tee", "", []string{"sim-snp", "sim-tdx", "snp", "tdx"}, "evidence source: sim-snp, sim-tdx (simulated; need --dev), snp, tdx")
			actionFile := fs.String("action", "", "JSON `FILE` describing the operation to authorize")
			mutual := fs.Bool("mutual", false, "also demand and verify the server's own evidence on the same connection")
			serverPolicy := fs.String("server-policy", "", "with --mutual: policy `FILE` (the server's own format) the server's evidence must pass, e.g. measurement, MRTD, host data or minimum TCB allow-lists; a refusal carries the server's codes (snp.measurement, tdx.tcb, ...)")
			passport := fs.String("passport", "", "passport model: PEM key `FILE` of an external verifier the server trusts; the client has it sign an EAR over its evidence")
			out := fs.String("out", "", "where to write the receipt bundle (CBOR `FILE`); the server's keys go to OUT.keys")
			redeem := fs.Bool("redeem", false, "redeem the execution token on the same connection (it is bound to this session's key)")
			var profile string
			ids := tlsbind.ProfileIDs(tlsbind.Profiles())
			cli.EnumVar(fs, &profile, "profile", tlsbind.ProfileExpat04, ids, "interop profile to attest in, and to demand the server's attestation in: "+strings.Join(ids, ", ")+" (docs/PROTOCOL.md)")
			var transport string
			cli.EnumVar(fs, &transport, "transport", "tls", []string{"tls", "dtls"}, "tls: everything on one HTTPS connection; dtls: attest and get the receipt over DTLS 1.3 (--dtls-addr), the keys document over HTTPS")
			dtlsAddr := fs.String("dtls-addr", "", "with --transport dtls: the server's DTLS listener `HOST:PORT` (its --dtls); default the --server host and port")
			var wait time.Duration
			cli.DurationVar(fs, &wait, "wait", 0, time.Second, "bound on the wait for approvers; 0 waits until the authorization ends (completed, denied or expired)")
			var f client.Flow
			cli.DurationVar(fs, &f.ConnectTimeout, "connect-timeout", client.DefaultConnectTimeout, time.Millisecond, "bound on the TCP connect")
			cli.DurationVar(fs, &f.HandshakeTimeout, "tls-timeout", client.DefaultHandshakeTimeout, time.Millisecond, "bound on the TLS handshake")
			cli.DurationVar(fs, &f.RequestTimeout, "request-timeout", client.DefaultRequestTimeout, time.Millisecond, "bound on each request, the server's work included")
			var dbg debugFlags
			dbg.define(fs)
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if err := cli.Conflict(fs, "ca", "dev", "--dev already names the dev server's CA"); err != nil {
					return err
				}
				if *serverPolicy != "" && !*mutual {
					return cli.Usagef("--server-policy needs --mutual: without it the server's evidence is not requested, so nothing would be pinned")
				}
				f.Server, f.Mutual, f.Redeem = *srvURL, *mutual, *redeem
				if transport == "dtls" {
					if *mutual || *redeem || *passport != "" {
						return cli.Usagef("--transport dtls: --mutual, --redeem and --passport run on HTTPS only (docs/PROTOCOL.md §13)")
					}
					if f.DTLSAddr = *dtlsAddr; f.DTLSAddr == "" {
						u, err := url.Parse(*srvURL)
						if err != nil || u.Host == "" {
							return cli.Usagef("--server %q is not https://host:port", *srvURL)
						}
						f.DTLSAddr = u.Host
					}
				} else if *dtlsAddr != "" {
					return cli.Usagef("--dtls-addr needs --transport dtls")
				}
				f.Profile, _ = tlsbind.LookupProfile(profile) // the enum admits only known ids
				closeDbg, err := dbg.open(env.Stderr)
				if err != nil {
					return err
				}
				defer closeDbg()
				f.KeyLog, f.Dump = dbg.keyLog, dbg.dump
				trust := "--ca " + *caFile
				if *dev != "" {
					trust = "--dev " + *dev
				} else if *caFile == "" {
					trust = ""
				}
				f.OnPending = pendingPrinter(env.Stdout, *srvURL, trust)
				return receiptRequest(env, f, *dev, *caFile, tee, *actionFile, *passport, *serverPolicy, *out, wait)
			}
		},
	}
}

func receiptRequest(env *cli.Env, f client.Flow, dev, caFile, tee, actionFile, passport, serverPolicy, out string, wait time.Duration) error {
	if (tee == "sim-snp" || tee == "sim-tdx") && dev == "" {
		return cli.Usagef("--tee %s needs --dev DIR: the simulated TEE PKI comes from the dev server's files", tee)
	}
	var err error
	if dev != "" {
		if f.Roots, f.SimulatedPKI, err = devFiles(dev); err != nil {
			return err
		}
	}
	if caFile != "" {
		cas, err := keyfile.LoadCertificates(caFile)
		if err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
		f.Roots = x509.NewCertPool()
		for _, c := range cas {
			f.Roots.AddCert(c)
		}
	}
	actionJSON, err := readInput(actionFile)
	if err != nil {
		return fmt.Errorf("--action: %w", err)
	}
	// The one exact JSON-to-CBOR mapping the server also applies.
	requested, err := receipt.RequestedFromJSON(actionJSON)
	if err != nil {
		return fmt.Errorf("--action %s: %w", actionFile, err)
	}
	f.Requested = cbor.RawMessage(requested)
	attester, err := server.NewAttester(tee, f.SimulatedPKI)
	if err != nil {
		return fmt.Errorf("--tee: %w", err)
	}
	f.Prover = &tlsbind.Prover{Attester: attester}
	// own appraises this machine's evidence for --passport; f.Checker the
	// server's, against --server-policy when given.
	own, err := client.NewChecker(f.SimulatedPKI, nil)
	if err != nil {
		return err
	}
	f.Checker = own
	if serverPolicy != "" {
		pin, err := policy.Load(serverPolicy)
		if err != nil {
			return fmt.Errorf("--server-policy: %w", err)
		}
		if f.Checker, err = client.NewChecker(f.SimulatedPKI, pin); err != nil {
			return fmt.Errorf("--server-policy: %w", err)
		}
	}
	if passport != "" {
		k, err := keyfile.LoadKey(passport)
		if err != nil {
			return fmt.Errorf("--passport: %w", err)
		}
		iss, err := ear.NewIssuer(k, "seatrx", "seatrx-passport-verifier")
		if err != nil {
			return fmt.Errorf("--passport: %w", err)
		}
		f.Prover.Passport = &tlsbind.LocalPassport{Verifier: own.Verifier, Issuer: iss}
	}
	f.AllowSimulated = f.SimulatedPKI != nil
	ctx := context.Background()
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	res, err := client.Run(ctx, f)
	if res != nil {
		printSession(env.Stdout, res)
	}
	if err != nil && res != nil && res.Authorization != nil && res.Authorization.State == client.StatePending && errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(env.Stderr, "FAILED: gave up after --wait %s; authorization %s stays pending until %s; its receipt goes only to a connection that proves this attestation's key or workload identity (seatrx authorization show shows its state)\n",
			wait, res.Authorization.ID, time.Unix(res.Authorization.Expires, 0).UTC().Format(time.RFC3339))
		return cli.ErrReported
	}
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	if err := os.WriteFile(out, res.Receipt.Bundle, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(out+".keys", res.KeysDoc, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "bundle: %s\nkeys:   %s.keys\n", out, out)
	return nil
}

// pendingPrinter reports an authorization that waits for approvers: first
// what it needs and how an approver decides, then each change.
func pendingPrinter(w io.Writer, server, trust string) func(*api.Authorization) {
	first := true
	return func(v *api.Authorization) {
		if first {
			first = false
			fmt.Fprintf(w, "  authorization %s pending: rule %q needs %d of %s, and the server's appraiser; expires %s\n",
				v.ID, v.Rule, v.Threshold, approverList(v.Approvers), time.Unix(v.Expires, 0).UTC().Format(time.RFC3339))
			cmd := "seatrx approve --server " + server
			if trust != "" {
				cmd += " " + trust
			}
			fmt.Fprintf(w, "  an approver decides with: %s --key KEY %s\n  waiting on this connection...\n", cmd, v.ID)
			return
		}
		var decided []string
		for _, a := range v.Approvers {
			if a.Decision != "" {
				decided = append(decided, a.ID+" "+map[string]string{receipt.DecisionApprove: "approved", receipt.DecisionDeny: "denied"}[a.Decision])
			}
		}
		fmt.Fprintf(w, "  %s: %d of %d approvals, %d denials (%s)\n", v.State, v.Approvals, v.Threshold, v.Denials, strings.Join(decided, ", "))
	}
}

// printRefusal prints the server's problem (its namespaced code, status,
// title and detail) or the local error, with its code when it has one.
func printRefusal(w io.Writer, err error) {
	var p *api.Problem
	if errors.As(err, &p) {
		fmt.Fprintf(w, "REFUSED %s (HTTP %d): %s\n  %s\n", p.Code, p.Status, p.Title, p.Detail)
		return
	}
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) && pc.ProblemCode() != "" {
		fmt.Fprintf(w, "FAILED %s: %v\n", pc.ProblemCode(), err)
		return
	}
	fmt.Fprintf(w, "FAILED: %v\n", err)
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:    "verify",
		Summary: "verify a receipt bundle offline (online or audit mode)",
		Usage:   "--bundle FILE --keys FILE [--keys FILE...] [--policy FILE] [--mode online|audit] [--replay-db FILE] [flags]",
		Doc: `Verify checks a receipt bundle against the issuing server's keys document
and prints one line per check, then the keys it trusted: each key's role,
kid (RFC 9679 COSE Key Thumbprint) and the SHA-256 of its SubjectPublicKeyInfo
(what openssl computes from the key's PEM), with its validity window. --keys
may be given several times: documents saved at different times are read as
one key history. Online mode judges the receipt against the clock (skew,
maximum age, replay: with --replay-db FILE, a SQLite replay cache shared by
runs; without it the replay check is reported skipped, never passed); audit
mode, for later, has no clock and checks that the receipt, its approvals and
its EAR were made while their keys were valid. The server's appraiser key
(from the keys document) is a required approver of every receipt; without
--policy it is the only one, so a receipt approved by others (N of M)
verifies only with --policy, whose rule for the receipt's action names them
and their threshold. Input files are limited to 4 MiB.`,
		Required: []string{"bundle", "keys"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			bundleFile := fs.String("bundle", "", "receipt bundle (CBOR `FILE`)")
			var keysFiles []string
			cli.StringsVar(fs, &keysFiles, "keys", "the issuing server's keys document (`FILE`: GET /v1/keys; written as BUNDLE.keys by receipt request); repeat for documents saved at different times")
			replayDB := fs.String("replay-db", "", "online mode: a SQLite replay cache `FILE` shared by runs (created if absent)")
			policyFile := fs.String("policy", "", "your policy `FILE`: the bundle's policy preimage must be this policy, and its approvers, threshold, trust anchors and time windows are used (never the receipt's)")
			var mode string
			cli.EnumVar(fs, &mode, "mode", "audit", []string{"online", "audit"}, "online (now, skew, max age, replay) or audit (no now; key validity)")
			asJSON := fs.Bool("json", false, "print the report as JSON")
			allowSim := fs.Bool("allow-simulated", false, "accept receipts whose evidence chained to a simulated (test) PKI")
			simDir := fs.String("trust-simulated", "", "with --allow-simulated: the simulated PKI `DIR` whose roots are acceptable (pins them)")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if *simDir != "" && !*allowSim {
					return cli.Usagef("--trust-simulated needs --allow-simulated: simulated evidence is refused unless allowed explicitly")
				}
				if *replayDB != "" && mode != "online" {
					return cli.Usagef("--replay-db needs --mode online: audit mode cannot judge replay")
				}
				return receiptVerify(env, *bundleFile, keysFiles, *policyFile, mode, *replayDB, *asJSON, *allowSim, *simDir)
			}
		},
	}
}

func receiptVerify(env *cli.Env, bundleFile string, keysFiles []string, policyFile, mode, replayDB string, asJSON, allowSim bool, simDir string) error {
	stdout := env.Stdout
	m := receipt.ModeAudit
	if mode == "online" {
		m = receipt.ModeOnline
	}
	bundle, err := loadBundle(bundleFile)
	if err != nil {
		return err
	}
	keys, err := loadKeysDocs(keysFiles)
	if err != nil {
		return err
	}
	var pol *policy.Policy
	if policyFile != "" {
		if pol, err = checkPolicyPreimage(bundle, policyFile); err != nil {
			fmt.Fprintf(stdout, "FAIL policy: %v\n", err)
			return cli.ErrReported
		}
	}
	vopts := verify.Options{Mode: m, Now: time.Now(), AllowSimulated: allowSim, Policy: pol}
	if simDir != "" {
		if vopts.SimulatedPKI, err = sim.Load(simDir); err != nil {
			return fmt.Errorf("--trust-simulated: %w", err)
		}
	}
	var replay *replayDBCache
	if replayDB != "" {
		st, err := store.OpenSQLite(replayDB)
		if err != nil {
			return fmt.Errorf("--replay-db: %w", err)
		}
		defer st.Close()
		replay = &replayDBCache{s: st}
		vopts.Replay = replay
	} else {
		// A one-shot run keeps no history: it says so, never "pass".
		vopts.NoReplayCache = true
	}
	rep, err := verify.Bundle(bundle, keys, vopts)
	if replay != nil && replay.err != nil {
		fmt.Fprintf(env.Stderr, "--replay-db: %v (counted as a replay: fail closed)\n", replay.err)
	}
	if rep != nil {
		if asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			enc.Encode(rep)
		} else {
			for _, c := range rep.Checks {
				line := fmt.Sprintf("%-6s %-22s", c.Status, c.Name)
				if c.Code != "" {
					line += " [" + c.Code + "]"
				}
				if c.Detail != "" {
					line += " " + c.Detail
				}
				fmt.Fprintln(stdout, line)
			}
			printTrustedKeys(stdout, rep.Keys)
		}
	}
	if err != nil || rep == nil || !rep.OK {
		if err != nil {
			fmt.Fprintf(env.Stderr, "FAIL: %v\n", err)
		}
		if pol == nil && receipt.Code(err) == receipt.CodeUnknownApprover {
			fmt.Fprintln(env.Stderr, "hint: the receipt carries approvals by approvers the keys document does not name; they come from a policy: pass the issuing server's with --policy FILE")
		}
		return cli.ErrReported
	}
	fmt.Fprintf(stdout, "OK: receipt verified (%s mode)\n", mode)
	return nil
}

// loadBundle reads a receipt bundle and, if it is not one, says what the
// file is instead and what a bundle is.
func loadBundle(path string) ([]byte, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	if _, err := receipt.UnmarshalBundle(data); err != nil {
		if _, rerr := receipt.ParseReceipt(data); rerr == nil {
			return nil, fmt.Errorf("--bundle %s is a bare receipt (COSE_Sign1), not a bundle: verification also needs the action and policy the bundle carries; "+
				"use the file 'receipt request --out' wrote, or GET /v1/receipts/{id}", path)
		}
		if _, kerr := receipt.ParseKeys(data); kerr == nil {
			return nil, fmt.Errorf("--bundle %s is a keys document, not a receipt bundle: are --bundle and --keys swapped?", path)
		}
		return nil, fmt.Errorf("--bundle %s is not a receipt bundle (%s; a bundle is a CBOR map of receipt, action and policy, as 'receipt request --out' writes it): %w",
			path, describe(data), err)
	}
	return data, nil
}

// loadKeysDocs reads one or more keys documents of one issuer and joins
// their histories (receipt.MergeKeys).
func loadKeysDocs(paths []string) (*receipt.Keys, error) {
	var docs []*receipt.Keys
	for _, p := range paths {
		k, err := loadKeys(p)
		if err != nil {
			return nil, err
		}
		docs = append(docs, k)
	}
	if len(docs) == 1 {
		return docs[0], nil
	}
	k, err := receipt.MergeKeys(docs...)
	if err != nil {
		return nil, fmt.Errorf("--keys: the documents do not join into one history: %w", err)
	}
	return k, nil
}

// printTrustedKeys says which keys the verification relied on: kid (the
// RFC 9679 COSE Key Thumbprint) and the SHA-256 of the key's SPKI, which
// openssl computes from its PEM, with the key's window.
func printTrustedKeys(w io.Writer, keys []receipt.KeyUse) {
	if len(keys) == 0 {
		return
	}
	fmt.Fprintln(w, "trusted keys (kid: RFC 9679 COSE Key Thumbprint; spki-sha256: SHA-256 of the DER SubjectPublicKeyInfo):")
	for _, k := range keys {
		from, until := k.NotBefore, k.NotAfter
		if from == "" {
			from = "-"
		}
		if until == "" {
			until = "-"
		}
		fmt.Fprintf(w, "  %-12s %s, valid %s .. %s\n    kid         %s\n    spki-sha256 %s\n", k.Role, k.ID, from, until, k.Kid, k.SPKISHA256)
	}
}

// replayDBCache is a receipt.ReplayCache in a SQLite file (receipt/store),
// so that one-shot online verifications share their replay history. A
// store failure counts as a replay (fail closed) and is kept in err.
type replayDBCache struct {
	s   *store.Store
	err error
}

func (r *replayDBCache) Seen(id []byte, until time.Time) bool {
	seen, err := r.s.SeenReceipt(context.Background(), id, until, time.Now())
	if err != nil {
		r.err = err
		return true
	}
	return seen
}

// loadKeys reads and parses a keys document, saying what is wrong otherwise.
func loadKeys(path string) (*receipt.Keys, error) {
	data, err := readInput(path)
	if err != nil {
		return nil, fmt.Errorf("--keys: %w", err)
	}
	keys, err := receipt.ParseKeys(data)
	if err != nil {
		if _, berr := receipt.UnmarshalBundle(data); berr == nil {
			return nil, fmt.Errorf("--keys %s is a receipt bundle, not a keys document: are --bundle and --keys swapped?", path)
		}
		return nil, fmt.Errorf("--keys %s is not a seatrx keys document (%s; it is the CBOR of GET /v1/keys, written as BUNDLE.keys by 'receipt request'): %w",
			path, describe(data), err)
	}
	return keys, nil
}

// describe says in a few words what a file that failed to parse looks like.
func describe(data []byte) string {
	if len(data) == 0 {
		return "the file is empty"
	}
	text := 0
	for _, c := range data[:min(len(data), 64)] {
		if c == '\n' || c == '\r' || c == '\t' || (c >= 0x20 && c < 0x7f) {
			text++
		}
	}
	if text == min(len(data), 64) {
		return fmt.Sprintf("%d bytes of text starting %q, not CBOR", len(data), data[:min(len(data), 16)])
	}
	return fmt.Sprintf("%d bytes starting 0x%x", len(data), data[:min(len(data), 4)])
}

// checkPolicyPreimage loads the verifier's policy and checks that the
// bundle's policy preimage is its canonical form.
func checkPolicyPreimage(bundle []byte, path string) (*policy.Policy, error) {
	b, err := receipt.UnmarshalBundle(bundle)
	if err != nil {
		return nil, err
	}
	p, err := policy.Load(path)
	if err != nil {
		return nil, err
	}
	c, err := p.CanonicalCBOR()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(c, b.Policy) {
		return nil, fmt.Errorf("the bundle's policy is not the canonical form of %s", path)
	}
	return p, nil
}

func showCommand() *cli.Command {
	return &cli.Command{
		Name:    "show",
		Summary: "render a receipt as JSON, the action and policy it commits to, and CBOR diagnostic notation",
		Usage:   "FILE",
		Doc: `FILE is a receipt bundle or a bare COSE_Sign1 receipt. For a bundle, show
also prints the action and policy preimages themselves in CBOR diagnostic
notation (integers of any size as signed, floats as floats, byte strings as
h'..'), each marked as matching its hash in the receipt or not. Show does
not verify signatures or keys: use 'receipt verify'.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			return receiptShow
		},
	}
}

func receiptShow(env *cli.Env, args []string) error {
	if len(args) != 1 {
		return cli.Usagef("want one FILE (a bundle or a bare COSE_Sign1 receipt), got %d arguments", len(args))
	}
	data, err := readInput(args[0])
	if err != nil {
		return err
	}
	cose := data
	b, berr := receipt.UnmarshalBundle(data)
	if berr == nil {
		cose = b.Receipt
	}
	r, err := receipt.ParseReceipt(cose)
	if err != nil {
		return fmt.Errorf("%s is neither a receipt bundle nor a COSE_Sign1 receipt (%s): %w", args[0], describe(data), err)
	}
	js, err := r.JSON()
	if err != nil {
		return err
	}
	diag, err := receipt.Diagnose(cose)
	if err != nil {
		return err
	}
	stdout := env.Stdout
	fmt.Fprintf(stdout, "receipt %x\n%s\n", r.ReceiptID, js)
	if berr == nil {
		// The preimages themselves, so that what was authorized is read,
		// not only its hash.
		for _, p := range b.Preimages(r) {
			fmt.Fprintf(stdout, "\n%s (the %s preimage): %s\n", p.Name, p.Hash, p.Status)
			if p.Diagnostic != "" {
				fmt.Fprintln(stdout, p.Diagnostic)
			}
		}
	} else {
		fmt.Fprintln(stdout, "\naction, policy: not shown (a bare receipt carries only their hashes; show its bundle)")
	}
	fmt.Fprintf(stdout, "\nCBOR diagnostic notation:\n%s\n", diag)
	return nil
}
