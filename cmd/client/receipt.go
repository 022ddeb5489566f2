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
	"os"
	"path/filepath"
	"time"

	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// maxInputFile bounds files the CLI reads (bundles, keys, actions).
const maxInputFile = 4 << 20

func runReceipt(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: client receipt request|verify|show ...")
		return 2
	}
	switch args[0] {
	case "request":
		return receiptRequest(args[1:], stdout, stderr)
	case "verify":
		return receiptVerify(args[1:], stdout, stderr)
	case "show":
		return receiptShow(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "client: unknown receipt command %q\n", args[0])
	return 2
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

func receiptRequest(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("receipt request", flag.ContinueOnError)
	fs.SetOutput(stderr)
	srvURL := fs.String("server", "", "server base URL, e.g. https://localhost:8443")
	dev := fs.String("dev", "", "a dev server's client files (DIR/dev): its CA and the simulated TEE PKI")
	caFile := fs.String("ca", "", "CA certificates (PEM) to verify the server; default system roots")
	tee := fs.String("tee", "", "evidence source: sim-snp, sim-tdx, snp, tdx")
	actionFile := fs.String("action", "", "JSON file describing the operation to authorize")
	mutual := fs.Bool("mutual", false, "also demand and verify the server's own evidence on the same connection")
	passport := fs.String("passport", "", "passport model: PEM key of an external verifier the server trusts; the client has it sign an EAR over its evidence")
	out := fs.String("out", "", "where to write the receipt bundle (CBOR); the server's keys go to OUT.keys")
	redeem := fs.Bool("redeem", false, "redeem the execution token on the same connection (it is bound to this session's key)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *srvURL == "" || *tee == "" || *actionFile == "" || *out == "" {
		fmt.Fprintln(stderr, "usage: client receipt request --server URL [--dev DIR/dev] --tee sim-snp|sim-tdx|snp|tdx --action FILE [--mutual] [--passport KEYFILE] [--redeem] --out BUNDLE")
		return 2
	}
	var roots *x509.CertPool
	var pki *sim.PKI
	var err error
	if *dev != "" {
		if roots, pki, err = devFiles(*dev); err != nil {
			fmt.Fprintf(stderr, "client: %v\n", err)
			return 1
		}
	}
	if *caFile != "" {
		cas, err := keyfile.LoadCertificates(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "client: %v\n", err)
			return 1
		}
		if roots == nil {
			roots = x509.NewCertPool()
		}
		for _, c := range cas {
			roots.AddCert(c)
		}
	}
	actionJSON, err := readInput(*actionFile)
	if err != nil {
		fmt.Fprintf(stderr, "client: --action: %v\n", err)
		return 1
	}
	var requested any
	if err := json.Unmarshal(actionJSON, &requested); err != nil {
		fmt.Fprintf(stderr, "client: --action %s: %v\n", *actionFile, err)
		return 1
	}
	attester, err := server.NewAttester(*tee, pki)
	if err != nil {
		fmt.Fprintf(stderr, "client: --tee: %v\n", err)
		return 1
	}
	prover := &tlsbind.Prover{Attester: attester}
	checker, err := client.NewChecker(pki, nil)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	if *passport != "" {
		k, err := keyfile.LoadKey(*passport)
		if err != nil {
			fmt.Fprintf(stderr, "client: --passport: %v\n", err)
			return 1
		}
		iss, err := ear.NewIssuer(k, "seatrx", "seatrx-passport-verifier")
		if err != nil {
			fmt.Fprintf(stderr, "client: --passport: %v\n", err)
			return 1
		}
		prover.Passport = &tlsbind.LocalPassport{Verifier: checker.Verifier, Issuer: iss}
	}
	res, err := session(context.Background(), sessionConfig{
		Server: *srvURL, Roots: roots, Prover: prover, Checker: checker, Mutual: *mutual, Requested: requested,
		Redeem: *redeem, AllowSimulated: pki != nil, SimulatedPKI: pki,
	})
	if res != nil {
		printSession(stdout, res)
	}
	if err != nil {
		printRefusal(stderr, err)
		return 1
	}
	if err := os.WriteFile(*out, res.Receipt.Bundle, 0o644); err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	if err := os.WriteFile(*out+".keys", res.KeysDoc, 0o644); err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "bundle: %s\nkeys:   %s.keys\n", *out, *out)
	return 0
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

func receiptVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("receipt verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bundleFile := fs.String("bundle", "", "receipt bundle (CBOR)")
	keysFile := fs.String("keys", "", "the issuing server's keys document (GET /v1/keys; written as BUNDLE.keys by receipt request)")
	policyFile := fs.String("policy", "", "your policy file: the bundle's policy preimage must be this policy, and its approvers, threshold, trust anchors and time windows are used (never the receipt's)")
	mode := fs.String("mode", "audit", "online (now, skew, max age, replay) or audit (no now; key validity)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	allowSim := fs.Bool("allow-simulated", false, "accept receipts whose evidence chained to a simulated (test) PKI")
	simDir := fs.String("trust-simulated", "", "with --allow-simulated: the simulated PKI directory whose roots are acceptable (pins them)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *bundleFile == "" || *keysFile == "" {
		fmt.Fprintln(stderr, "usage: client receipt verify --bundle FILE --keys FILE [--policy FILE] [--mode online|audit] [--json] [--allow-simulated]")
		return 2
	}
	m := receipt.ModeAudit
	switch *mode {
	case "audit":
	case "online":
		m = receipt.ModeOnline
	default:
		fmt.Fprintf(stderr, "client: --mode %q: want online or audit\n", *mode)
		return 2
	}
	bundle, err := readInput(*bundleFile)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	kb, err := readInput(*keysFile)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	keys, err := receipt.ParseKeys(kb)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	var pol *policy.Policy
	if *policyFile != "" {
		if pol, err = checkPolicyPreimage(bundle, *policyFile); err != nil {
			fmt.Fprintf(stdout, "FAIL policy: %v\n", err)
			return 1
		}
	}
	vopts := verify.Options{Mode: m, Now: time.Now(), AllowSimulated: *allowSim, Policy: pol}
	if *simDir != "" {
		if vopts.SimulatedPKI, err = sim.Load(*simDir); err != nil {
			fmt.Fprintf(stderr, "client: --trust-simulated: %v\n", err)
			return 1
		}
	}
	rep, err := verify.Bundle(bundle, keys, vopts)
	if rep != nil {
		if *asJSON {
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
		}
	}
	if err != nil || rep == nil || !rep.OK {
		if err != nil {
			fmt.Fprintf(stderr, "FAIL: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "OK: receipt verified (%s mode)\n", *mode)
	return 0
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

func receiptShow(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: client receipt show FILE   (a bundle or a bare COSE_Sign1 receipt)")
		return 2
	}
	data, err := readInput(args[0])
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	cose := data
	if b, err := receipt.UnmarshalBundle(data); err == nil {
		cose = b.Receipt
	}
	r, err := receipt.ParseReceipt(cose)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	js, err := r.JSON()
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	diag, err := receipt.Diagnose(cose)
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s\n\nCBOR diagnostic notation:\n%s\n", js, diag)
	return 0
}
