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
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/policy"
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

// usagef is a bad command line or unreadable input (exit 2).
var usagef = cli.Usagef

// Command is the `evidence` command group. Exit statuses: 0 the evidence
// verified and passed the policy, 1 a check failed ("FAIL <code>: <detail>"
// on stderr), 2 a bad command line or unreadable input.
func Command() *cli.Command {
	return &cli.Command{Name: "evidence", Summary: "verify TEE evidence offline", Subs: []*cli.Command{{
		Name:    "verify",
		Summary: "verify SEV-SNP / TDX evidence offline and print the appraisal",
		Usage:   "--in FILE [--format snp-report|snp-extended|tdx-quote|cmw] [flags]",
		Doc: `Verify checks a file of TEE evidence (raw SEV-SNP report, extended report,
TDX quote, or cmw_attestation payload) against the embedded production vendor
roots and a policy, without network, and prints the appraisal as JSON.
Without --report-data the evidence is inspected unbound: it proves what it
says, but not to whom it was presented. Evidence files are limited to 1 MiB.`,
		Required: []string{"in"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			var o options
			fs.StringVar(&o.in, "in", "", "evidence `FILE`")
			fs.StringVar(&o.format, "format", "", "snp-report, snp-extended, tdx-quote or cmw (default: auto-detect)")
			fs.StringVar(&o.vcek, "vcek", "", "VCEK/VLEK certificate `FILE` (DER) overriding the certificate table")
			fs.StringVar(&o.reportData, "report-data", "", "expected REPORTDATA, 128 hex chars (default: not checked)")
			fs.StringVar(&o.policy, "policy", "", "policy `FILE`, YAML or JSON (default: built-in, debug forbidden)")
			fs.StringVar(&o.now, "now", "", "verification time, RFC 3339 (default: the clock)")
			fs.StringVar(&o.collateral, "collateral", "", "TDX collateral `DIR` (default: none, or what the CMW carries)")
			fs.StringVar(&o.trustSim, "trust-simulated", "", "also trust the simulated PKIs saved in `DIR` (tests only)")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return usagef("unexpected argument %q", args[0])
				}
				return report(verify(&o, env.Stdout, env.Stderr), env.Stderr)
			}
		},
	}}}
}

// report prints a failed check as "FAIL <code>: <detail>" and says it did.
func report(err error, stderr io.Writer) error {
	var ue *cli.UsageError
	var ce *check.Error
	switch {
	case err == nil, errors.As(err, &ue):
		return err
	case errors.As(err, &ce):
		detail := ce.Detail
		if ce.Err != nil {
			detail += ": " + ce.Err.Error()
		}
		fmt.Fprintf(stderr, "FAIL %s: %s\n", ce.ProblemCode(), detail)
	default:
		fmt.Fprintf(stderr, "FAIL: %v\n", err)
	}
	return cli.ErrReported
}

type options struct {
	in, format, vcek, reportData, policy, now, collateral, trustSim string
}

func verify(o *options, stdout, stderr io.Writer) error {
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
