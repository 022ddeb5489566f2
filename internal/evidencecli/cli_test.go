package evidencecli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/cli"
)

// Recorded real evidence, copied into the platform packages' testdata.
var (
	snpReport = filepath.Join("..", "..", "evidence", "snp", "testdata", "attestation.bin")
	snpVCEK   = filepath.Join("..", "..", "evidence", "snp", "testdata", "vcek.testcer")
	tdxQuote  = filepath.Join("..", "..", "evidence", "tdx", "testdata", "tdx_prod_quote_SPR_E4_trimmed.dat")
)

// Offsets of fields in the samples (SEV-SNP ABI spec table 21; Intel TDX
// DCAP quote v4 layout: 48-byte header, then the TD quote body).
const (
	snpReportDataOff  = 0x50
	snpMeasurementOff = 0x90
	snpSignatureOff   = 0x2A0
	tdxMRTDOff        = 0x30 + 0x88
	tdxReportDataOff  = 0x30 + 0x208
	tdxSignatureOff   = 0x27C
)

const pinnedNow = "2026-11-01T00:00:00Z"

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// flipped returns a copy of b with one bit of byte off flipped.
func flipped(b []byte, off int) []byte {
	c := bytes.Clone(b)
	c[off] ^= 0x01
	return c
}

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = cli.Run(Command(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestVerifyRealSamples(t *testing.T) {
	dir := t.TempDir()
	report, quote := read(t, snpReport), read(t, tdxQuote)
	debugPolicy := write(t, dir, "debug.yaml", []byte("id: allow-debug\nsnp: {allow_debug: true, allow_smt: true}\ntdx: {}\n"))
	snpRD := hex.EncodeToString(report[snpReportDataOff : snpReportDataOff+64])
	tdxRD := hex.EncodeToString(quote[tdxReportDataOff : tdxReportDataOff+64])
	var extended []byte // the report and an empty GHCB table (terminator only): VCEK from --vcek
	extended = append(append(extended, report...), make([]byte, 24)...)

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of stderr
		status string // status in the JSON printed on success
	}{
		{"snp-debug-allowed", []string{"--in", snpReport, "--vcek", snpVCEK, "--policy", debugPolicy, "--now", pinnedNow},
			0, "format: snp-report (auto-detected: 1184 bytes, SEV-SNP report version 2)", evidence.StatusWarning},
		{"snp-report-data-matches", []string{"--in", snpReport, "--vcek", snpVCEK, "--policy", debugPolicy, "--now", pinnedNow,
			"--report-data", snpRD, "--format", "snp-report"}, 0, "", evidence.StatusWarning},
		{"snp-extended", []string{"--in", write(t, dir, "ext.bin", extended), "--vcek", snpVCEK, "--policy", debugPolicy, "--now", pinnedNow},
			0, "format: snp-extended", evidence.StatusWarning},
		{"snp-default-policy", []string{"--in", snpReport, "--vcek", snpVCEK, "--now", pinnedNow},
			1, "FAIL snp.debug: ", ""},
		{"snp-signature-byte", []string{"--in", write(t, dir, "sig.bin", flipped(report, snpSignatureOff)), "--vcek", snpVCEK,
			"--policy", debugPolicy, "--now", pinnedNow}, 1, "FAIL snp.signature: ", ""},
		{"snp-measurement-byte", []string{"--in", write(t, dir, "meas.bin", flipped(report, snpMeasurementOff)), "--vcek", snpVCEK,
			"--policy", debugPolicy, "--now", pinnedNow}, 1, "FAIL snp.signature: ", ""},
		{"snp-report-data-byte", []string{"--in", write(t, dir, "rd.bin", flipped(report, snpReportDataOff)), "--vcek", snpVCEK,
			"--policy", debugPolicy, "--now", pinnedNow, "--report-data", snpRD}, 1, "FAIL snp.report_data: ", ""},
		{"snp-after-vcek-expiry", []string{"--in", snpReport, "--vcek", snpVCEK, "--policy", debugPolicy, "--now", "2029-10-01T00:00:00Z"},
			1, "FAIL snp.time: ", ""},
		// Without collateral the TCB status and revocation are not evaluated: a warning at best.
		{"tdx", []string{"--in", tdxQuote, "--now", pinnedNow}, 0, "format: tdx-quote (auto-detected", evidence.StatusWarning},
		{"tdx-report-data-matches", []string{"--in", tdxQuote, "--now", pinnedNow, "--report-data", tdxRD}, 0, "", evidence.StatusWarning},
		{"tdx-policy-accepts-unevaluated-tcb", []string{"--in", tdxQuote, "--now", pinnedNow, "--policy",
			write(t, dir, "accept.yaml", []byte("id: accept-unevaluated\ntdx: {accept_unevaluated_tcb: true}\n"))}, 0, "", evidence.StatusAffirming},
		{"tdx-signature-byte", []string{"--in", write(t, dir, "tsig.dat", flipped(quote, tdxSignatureOff)), "--now", pinnedNow},
			1, "FAIL tdx.signature: ", ""},
		{"tdx-mrtd-byte", []string{"--in", write(t, dir, "tmrtd.dat", flipped(quote, tdxMRTDOff)), "--now", pinnedNow},
			1, "FAIL tdx.signature: ", ""},
		{"tdx-report-data-byte", []string{"--in", write(t, dir, "trd.dat", flipped(quote, tdxReportDataOff)), "--now", pinnedNow,
			"--report-data", tdxRD}, 1, "FAIL tdx.report_data: ", ""},
		{"tdx-pinned-mrtd-mismatch", []string{"--in", tdxQuote, "--now", pinnedNow, "--policy",
			write(t, dir, "mrtd.yaml", []byte("id: pin\ntdx: {mrtds: ["+strings.Repeat("ab", 48)+"]}\n"))}, 1, "FAIL tdx.measurement: ", ""},
		{"tdx-policy-file-explicit-format", []string{"--in", tdxQuote, "--now", pinnedNow, "--policy", debugPolicy,
			"--format", "tdx-quote"}, 0, "", evidence.StatusWarning},
		{"tdx-policy-requires-collateral", []string{"--in", tdxQuote, "--now", pinnedNow, "--policy",
			write(t, dir, "require.yaml", []byte("id: require\ntdx: {require_collateral: true}\n"))}, 1, "FAIL tdx.policy: ", ""},
		{"tdx-refused-by-policy", []string{"--in", tdxQuote, "--now", pinnedNow, "--policy",
			write(t, dir, "snponly.yaml", []byte("id: snp-only\nsnp: {}\n"))}, 1, "FAIL tdx.policy: ", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d, stderr containing %q", code, errOut, tc.code, tc.stderr)
			}
			if tc.code != 0 {
				if out != "" {
					t.Fatalf("stdout on failure: %q", out)
				}
				return
			}
			var got appraisalJSON
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout is not the appraisal JSON: %v\n%s", err, out)
			}
			if got.Status != tc.status || got.Simulated || got.TrustAnchor == "" || len(got.EvidenceDigest) != 64 {
				t.Fatalf("appraisal %+v", got)
			}
			// Offline, nothing was checked against revocation lists (nor, for
			// TDX without collateral, the TCB status): the output says so.
			wantNE := []string{"revocation"}
			if got.Platform == string(evidence.PlatformTDX) {
				wantNE = []string{"tcb_status", "revocation"}
			}
			if strings.Join(got.NotEvaluated, ",") != strings.Join(wantNE, ",") {
				t.Fatalf("not_evaluated %v, want %v", got.NotEvaluated, wantNE)
			}
			if got.Platform == string(evidence.PlatformSNP) && (got.SNP == nil || got.SNP.Product != "Milan" || !got.SNP.Debug) {
				t.Fatalf("SNP fields %+v", got.SNP)
			}
			if got.Platform == string(evidence.PlatformTDX) && (got.TDX == nil || got.TDX.MRTD != hex.EncodeToString(quote[tdxMRTDOff:tdxMRTDOff+48])) {
				t.Fatalf("TDX fields %+v", got.TDX)
			}
		})
	}
}

func TestVerifySimulatedCMW(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, err := sim.GenerateSNP(sim.SNPOptions{Now: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	var rd [64]byte
	rd[0] = 7
	cmwBytes, err := evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})).Attest(context.Background(), rd)
	if err != nil {
		t.Fatal(err)
	}
	in := write(t, dir, "evidence.cbor", cmwBytes)
	rdHex := hex.EncodeToString(rd[:])

	code, out, errOut := run("verify", "--in", in, "--trust-simulated", dir, "--report-data", rdHex)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "WARNING: trusting simulated TEE roots") || !strings.Contains(errOut, a.Roots().Fingerprints()[0]) {
		t.Fatalf("no simulated-trust warning naming the root: %q", errOut)
	}
	if !strings.Contains(errOut, "format: cmw (auto-detected: starts with 0xa") {
		t.Fatalf("format not reported: %q", errOut)
	}
	var got appraisalJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Simulated || got.Format != FormatCMW || got.SNP.ReportData != rdHex || got.Status != evidence.StatusWarning {
		t.Fatalf("appraisal %+v", got)
	}

	// Without --trust-simulated the same evidence is refused.
	code, _, errOut = run("verify", "--in", in)
	if code != 1 || !strings.HasPrefix(errOut, "format: cmw") || !strings.Contains(errOut, "FAIL snp.trust_anchor: ") {
		t.Fatalf("exit %d stderr %q, want snp.trust_anchor", code, errOut)
	}
	// A passport CMW is not evidence.
	ear, err := evidence.EncodeEAR([]byte("a.b.c"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run("verify", "--in", write(t, dir, "ear.cbor", ear))
	if code != 1 || !strings.Contains(errOut, "FAIL cmw.format: ") {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	junk := write(t, dir, "junk", []byte("hello world"))
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no-args", nil, 2, "evidence: missing command (want verify or help)"},
		{"unknown-command", []string{"check"}, 2, `evidence: unknown command "check"`},
		{"no-in", []string{"verify"}, 2, "evidence verify: missing required flag --in (evidence FILE)\nusage: evidence verify --in FILE"},
		{"bad-flag", []string{"verify", "--nope"}, 2, "flag provided but not defined"},
		{"extra-arg", []string{"verify", "--in", snpReport, "extra"}, 2, `unexpected argument "extra"`},
		{"missing-file", []string{"verify", "--in", filepath.Join(dir, "none")}, 2, "--in: open"},
		{"bad-format", []string{"verify", "--in", snpReport, "--format", "pdf"}, 2, `--format "pdf"`},
		{"undetectable", []string{"verify", "--in", junk}, 2, "cannot tell the format"},
		{"bad-report-data", []string{"verify", "--in", snpReport, "--report-data", "0102"}, 2, "want 128 hex chars"},
		{"bad-now", []string{"verify", "--in", snpReport, "--now", "yesterday"}, 2, "--now:"},
		{"bad-policy", []string{"verify", "--in", snpReport, "--policy", write(t, dir, "p.yaml", []byte("id: x\nsnpp: {}\n"))},
			2, "p.yaml:2: snpp: unknown key"},
		{"empty-sim-dir", []string{"verify", "--in", snpReport, "--trust-simulated", dir}, 2, "no simulated authority"},
		{"short-extended", []string{"verify", "--in", snpReport, "--format", "snp-extended"}, 1, "FAIL snp.decode: extended report"},
		{"garbage-cmw", []string{"verify", "--in", write(t, dir, "g.cbor", []byte{0xa1, 0x00}), "--format", "cmw"}, 1, "FAIL cmw.decode: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := run(tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || out != "" {
				t.Fatalf("exit %d stdout %q stderr %q; want exit %d, stderr containing %q", code, out, errOut, tc.code, tc.stderr)
			}
		})
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"verify", "--help"}, {"help", "verify"}} {
		if code, out, _ := run(args...); code != 0 || !strings.Contains(out, "usage: evidence ") {
			t.Fatalf("%q: exit %d %q", args, code, out)
		}
	}
}

func TestDetectFormat(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte(`{"a":1}`), FormatCMW},
		{[]byte(`["a/b","AQ"]`), FormatCMW},
		{[]byte{0xa2, 0x00}, FormatCMW},
		{[]byte{0x83, 0x00}, FormatCMW},
		{append([]byte{4, 0, 2, 0, 0x81, 0, 0, 0}, make([]byte, 100)...), FormatTDXQuote},
		{append([]byte{5, 0, 2, 0, 0x81, 0, 0, 0}, make([]byte, 100)...), FormatTDXQuote},
		{append([]byte{6, 0, 2, 0, 0x81, 0, 0, 0}, make([]byte, 100)...), ""},
		{append([]byte{3, 0, 0, 0}, make([]byte, 1180)...), FormatSNPReport},
		{append([]byte{5, 0, 0, 0}, make([]byte, 2000)...), FormatSNPExtended},
		{append([]byte{9, 0, 0, 0}, make([]byte, 1180)...), ""},
		{append([]byte{3, 0, 0, 0}, make([]byte, 100)...), ""},
	}
	for _, tc := range tests {
		if got, why := detectFormat(tc.in); got != tc.want || why == "" {
			t.Fatalf("detectFormat(% x...) = %q (%s), want %q", tc.in[:min(len(tc.in), 8)], got, why, tc.want)
		}
	}
}
