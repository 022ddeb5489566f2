// Package evidencecli implements the `evidence` command of the seatrx binaries:
// `evidence verify` checks a file of TEE evidence (raw SEV-SNP report, extended
// report, TDX quote, or cmw_attestation payload) offline against the
// production vendor roots and a policy, and prints the appraisal.
package evidencecli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/policy"
)

// Exit codes of Run.
const (
	ExitOK    = 0 // the evidence verified and passed the policy
	ExitFail  = 1 // a check failed ("FAIL <code>: <detail>" on stderr)
	ExitUsage = 2 // bad command line or unreadable input
)

// Input formats of `evidence verify --format`.
const (
	FormatSNPReport   = "snp-report"   // raw 1184-byte ATTESTATION_REPORT
	FormatSNPExtended = "snp-extended" // report followed by the GHCB certificate table
	FormatTDXQuote    = "tdx-quote"    // raw TDX quote v4
	FormatCMW         = "cmw"          // cmw_attestation payload (CBOR or JSON CMW)
)

// maxInput bounds the evidence file; every format is far smaller.
const maxInput = 1 << 20

// maxCertFile bounds --vcek.
const maxCertFile = 64 << 10

const usage = `usage: evidence verify --in FILE [--format snp-report|snp-extended|tdx-quote|cmw]
       [--vcek FILE] [--report-data HEX] [--policy FILE] [--now RFC3339]
       [--collateral DIR] [--trust-simulated DIR]`

// usageError is a problem with the command line or its files (exit 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Run executes `evidence <args...>` and returns the exit code. args start
// after "evidence" (e.g. ["verify", "--in", "report.bin"]).
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, usage)
			return ExitOK
		}
		fmt.Fprintln(stderr, usage)
		return ExitUsage
	}
	err := verify(args[1:], stdout, stderr)
	var ue *usageError
	var ce *check.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "evidence verify: %s\n%s\n", ue.msg, usage)
		return ExitUsage
	case errors.As(err, &ce):
		detail := ce.Detail
		if ce.Err != nil {
			detail += ": " + ce.Err.Error()
		}
		fmt.Fprintf(stderr, "FAIL %s: %s\n", ce.ProblemCode(), detail)
		return ExitFail
	default:
		fmt.Fprintf(stderr, "FAIL: %v\n", err)
		return ExitFail
	}
}

type options struct {
	in, format, vcek, reportData, policy, now, collateral, trustSim string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("evidence verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.in, "in", "", "evidence file (required)")
	fs.StringVar(&o.format, "format", "", "snp-report, snp-extended, tdx-quote or cmw (default: auto-detect)")
	fs.StringVar(&o.vcek, "vcek", "", "VCEK/VLEK certificate (DER) overriding the certificate table")
	fs.StringVar(&o.reportData, "report-data", "", "expected REPORTDATA, 128 hex chars (default: not checked)")
	fs.StringVar(&o.policy, "policy", "", "policy file, YAML or JSON (default: built-in, debug forbidden)")
	fs.StringVar(&o.now, "now", "", "verification time, RFC 3339 (default: the clock)")
	fs.StringVar(&o.collateral, "collateral", "", "TDX collateral directory (default: none, or what the CMW carries)")
	fs.StringVar(&o.trustSim, "trust-simulated", "", "also trust the simulated PKIs saved in DIR (tests only)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	if o.in == "" {
		return nil, usagef("--in is required")
	}
	return &o, nil
}

func verify(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	in, err := readLimited(o.in, maxInput)
	if err != nil {
		return usagef("--in: %v", err)
	}
	format := o.format
	if format == "" {
		var why string
		if format, why = detectFormat(in); format == "" {
			return usagef("cannot tell the format of %s (%s); pass --format", o.in, why)
		}
		fmt.Fprintf(stderr, "format: %s (auto-detected: %s)\n", format, why)
	}
	ev, err := split(format, in)
	if err != nil {
		return err
	}
	// Without --report-data the evidence is inspected unbound: it proves what
	// it says, but not to whom it was presented.
	vo := evidence.VerifyOptions{Now: time.Now(), SkipReportData: o.reportData == ""}
	if o.reportData != "" {
		b, err := hex.DecodeString(o.reportData)
		if err != nil || len(b) != 64 {
			return usagef("--report-data: want 128 hex chars (64 bytes)")
		}
		vo.ReportData = [64]byte(b)
	}
	if o.now != "" {
		if vo.Now, err = time.Parse(time.RFC3339, o.now); err != nil {
			return usagef("--now: %v", err)
		}
	}
	cfg, err := config(o, stderr)
	if err != nil {
		return err
	}
	v, err := evidence.NewVerifier(*cfg)
	if err != nil {
		return usagef("%v", err)
	}
	var ap *evidence.Appraisal
	if format == FormatCMW {
		ap, err = v.Verify(context.Background(), in, vo)
	} else {
		ap, err = v.VerifyRaw(context.Background(), ev, vo)
	}
	if err != nil {
		return err
	}
	return writeJSON(stdout, format, ap)
}

// config builds the verifier configuration: production roots, plus the
// simulated ones only with --trust-simulated.
func config(o *options, stderr io.Writer) (*evidence.Config, error) {
	cfg := &evidence.Config{
		SNPRoots: []*snp.Roots{snp.ProductionRoots()},
		TDXRoots: []*tdx.Roots{tdx.ProductionRoots()},
	}
	pol := policy.Default()
	if o.policy != "" {
		p, err := policy.Load(o.policy)
		if err != nil {
			return nil, usagef("--policy: %v", err)
		}
		pol = p
	}
	cfg.Policy = pol.AppraisalPolicy()
	if o.vcek != "" {
		b, err := readLimited(o.vcek, maxCertFile)
		if err != nil {
			return nil, usagef("--vcek: %v", err)
		}
		cfg.VCEK = b
	}
	if o.collateral != "" {
		c, err := tdx.LoadCollateral(o.collateral)
		if err != nil {
			return nil, usagef("--collateral: %v", err)
		}
		cfg.TDXCollateral = c
	}
	if o.trustSim != "" {
		if err := addSimulated(cfg, o.trustSim, stderr); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func addSimulated(cfg *evidence.Config, dir string, stderr io.Writer) error {
	var fps []string
	if exists(filepath.Join(dir, "snp")) {
		a, err := sim.LoadSNP(dir)
		if err != nil {
			return usagef("--trust-simulated: %v", err)
		}
		cfg.SNPRoots = append(cfg.SNPRoots, a.Roots())
		fps = append(fps, a.Roots().Fingerprints()...)
	}
	if exists(filepath.Join(dir, "tdx")) {
		a, err := sim.LoadTDX(dir)
		if err != nil {
			return usagef("--trust-simulated: %v", err)
		}
		cfg.TDXRoots = append(cfg.TDXRoots, a.Roots())
		fps = append(fps, a.Roots().Fingerprints()...)
	}
	if len(fps) == 0 {
		return usagef("--trust-simulated: no simulated authority (snp/ or tdx/) in %s", dir)
	}
	fmt.Fprintf(stderr, "WARNING: trusting simulated TEE roots from %s (%s): evidence they sign proves nothing about real hardware\n",
		dir, strings.Join(fps, ", "))
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s exceeds %d bytes", path, limit)
	}
	return b, nil
}
