package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
)

// now is inside the validity of both the simulated PKIs (made at start-up)
// and the real samples (VCEK and PCK valid until 2029-09).
var now = time.Now()

var (
	simOnce sync.Once
	simSNP  *sim.SNPAuthority
	simTDX  *sim.TDXAuthority
	simErr  error
)

// authorities generates the simulated PKIs once per test binary (RSA key
// generation is the slow part).
func authorities(t testing.TB) (*sim.SNPAuthority, *sim.TDXAuthority) {
	t.Helper()
	simOnce.Do(func() {
		simSNP, simErr = sim.GenerateSNP(sim.SNPOptions{Now: now.Add(-time.Hour)})
		if simErr == nil {
			simTDX, simErr = sim.GenerateTDX(sim.TDXOptions{Now: now})
		}
	})
	if simErr != nil {
		t.Fatalf("generate simulated PKIs: %v", simErr)
	}
	return simSNP, simTDX
}

func rd(b byte) [64]byte {
	var r [64]byte
	for i := range r {
		r[i] = b + byte(i)
	}
	return r
}

// testPolicy is the appraisal part of seatrx's default policy (SEV-SNP and
// TDX accepted, debug forbidden, every configured root) under a test name
// and digest: the Verifier takes these values whatever document they came from.
func testPolicy() evidence.AppraisalPolicy {
	return evidence.AppraisalPolicy{ID: "evidence-test", Digest: sha256.Sum256([]byte("evidence-test")), SNP: &snp.Policy{}, TDX: &tdx.Policy{}}
}

type setup struct {
	pol   *evidence.AppraisalPolicy
	snp   []*snp.Roots
	tdx   []*tdx.Roots
	coll  *tdx.Collateral
	cache bool
}

func newVerifier(t testing.TB, s setup) *evidence.Verifier {
	t.Helper()
	a, b := authorities(t)
	if s.pol == nil {
		p := testPolicy()
		s.pol = &p
	}
	if s.snp == nil {
		s.snp = []*snp.Roots{a.Roots(), snp.ProductionRoots()} // deliberately simulated first
	}
	if s.tdx == nil {
		s.tdx = []*tdx.Roots{tdx.ProductionRoots(), b.Roots()}
	}
	cfg := evidence.Config{Policy: *s.pol, SNPRoots: s.snp, TDXRoots: s.tdx, TDXCollateral: s.coll}
	if s.cache {
		cfg.SNPCache, cfg.TDXCache = snp.NewChainCache(16), tdx.NewChainCache(16)
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func attest(t testing.TB, at evidence.Attester, r [64]byte) []byte {
	t.Helper()
	b, err := at.Attest(context.Background(), r)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	return b
}

func snpDetail(t *testing.T, ap *evidence.Appraisal) *snp.Result {
	t.Helper()
	r, ok := ap.Detail.(*snp.Result)
	if !ok {
		t.Fatalf("Detail is %T, want *snp.Result", ap.Detail)
	}
	return r
}

func tdxDetail(t *testing.T, ap *evidence.Appraisal) *tdx.Result {
	t.Helper()
	r, ok := ap.Detail.(*tdx.Result)
	if !ok {
		t.Fatalf("Detail is %T, want *tdx.Result", ap.Detail)
	}
	return r
}

// value returns the named value of vs, or nil.
func value(vs []evidence.Value, name string) []byte {
	for _, v := range vs {
		if v.Name == name {
			return v.Value
		}
	}
	return nil
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
}

func TestVerifySimulatedSNP(t *testing.T) {
	a, _ := authorities(t)
	v := newVerifier(t, setup{})
	r := rd(1)
	at := evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{}))
	if at.Platform() != evidence.PlatformSNP {
		t.Fatalf("platform %s", at.Platform())
	}
	cmwBytes := attest(t, at, r)
	ap, err := v.Verify(context.Background(), cmwBytes, evidence.VerifyOptions{Now: now, ReportData: r})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	res := snpDetail(t, ap)
	if ap.Platform != evidence.PlatformSNP || res.ReportData != r || ap.ReportData != r {
		t.Fatalf("appraisal %+v", ap)
	}
	// The platform-neutral claims carry what the SNP result says.
	if !bytes.Equal(value(ap.Measurements, "measurement"), res.Measurement) || !bytes.Equal(value(ap.Measurements, "host_data"), res.HostData) ||
		!bytes.Equal(value(ap.Identifiers, "chip_id"), res.ChipID) || len(ap.Collateral) != 1 ||
		ap.Collateral[0].Name != "vcek" || !bytes.Equal(ap.Collateral[0].Value, res.VCEKDigest) || ap.Debug || ap.TCBStatus != "" {
		t.Fatalf("claims %+v", ap.Claims)
	}
	if !ap.Simulated || ap.TrustAnchor != a.Roots().Fingerprints()[0] {
		t.Fatalf("anchor %s simulated %v, want %s", ap.TrustAnchor, ap.Simulated, a.Roots().Fingerprints()[0])
	}
	// Simulated hardware gives no protection: the status says so.
	if ap.Status != evidence.StatusWarning || ap.TrustVector[evidence.ClaimHardware] != 32 ||
		ap.TrustVector[evidence.ClaimInstanceIdentity] != 2 || ap.TrustVector[evidence.ClaimConfiguration] != 2 {
		t.Fatalf("status %s vector %v", ap.Status, ap.TrustVector)
	}
	d, err := evidence.Decode(cmwBytes)
	if err != nil {
		t.Fatal(err)
	}
	table, err := snp.CanonicalCertTable(d.Endorsements)
	if err != nil || !bytes.Equal(table, d.Endorsements) {
		t.Fatalf("the attester did not send the canonical certificate table: %v", err)
	}
	sum := sha256.Sum256(append(bytes.Clone(d.Evidence), table...))
	pol := testPolicy()
	if !bytes.Equal(ap.EvidenceDigest, sum[:]) || !bytes.Equal(ap.PolicyDigest, pol.Digest[:]) || ap.PolicyID != pol.ID {
		t.Fatalf("digests/policy id wrong: %+v", ap)
	}
}

func TestVerifySimulatedTDX(t *testing.T) {
	_, b := authorities(t)
	coll, err := b.Collateral(now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	collJSON, err := coll.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	r := rd(2)
	guest := b.Guest(sim.TDXGuestConfig{})
	quote, err := guest.Quote(r)
	if err != nil {
		t.Fatal(err)
	}
	withColl, err := evidence.EncodeTDX(quote, collJSON)
	if err != nil {
		t.Fatal(err)
	}
	noColl := attest(t, evidence.NewTDXAttester(guest), r)

	tests := []struct {
		name       string
		s          setup
		in         []byte
		wantStatus string // TCBStatus
	}{
		{"no-collateral", setup{}, noColl, ""},
		{"configured-collateral", setup{coll: coll}, noColl, "UpToDate"},
		{"collateral-in-cmw", setup{}, withColl, "UpToDate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap, err := newVerifier(t, tc.s).Verify(context.Background(), tc.in, evidence.VerifyOptions{Now: now, ReportData: r})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			res := tdxDetail(t, ap)
			if ap.Platform != evidence.PlatformTDX || res.ReportData != r || ap.ReportData != r || !ap.Simulated {
				t.Fatalf("appraisal %+v", ap)
			}
			if res.TCBStatus != tc.wantStatus || ap.TCBStatus != tc.wantStatus {
				t.Fatalf("TCB status %q (claims %q), want %q", res.TCBStatus, ap.TCBStatus, tc.wantStatus)
			}
			names := make([]string, len(ap.Measurements))
			for i, m := range ap.Measurements {
				names[i] = m.Name
			}
			if got := strings.Join(names, ","); got != "mrtd,rtmr0,rtmr1,rtmr2,rtmr3,mrseam,mrconfigid,mrowner,mrownerconfig" ||
				!bytes.Equal(value(ap.Measurements, "rtmr2"), res.RTMRs[2]) || !bytes.Equal(value(ap.Measurements, "mrconfigid"), res.MRConfigID) {
				t.Fatalf("measurements %v", names)
			}
			if len(ap.Identifiers) != 0 || len(ap.Collateral) != 1 || ap.Collateral[0].Name != "pck" || !bytes.Equal(ap.Collateral[0].Value, res.PCKDigest) {
				t.Fatalf("identifiers %v collateral %v", ap.Identifiers, ap.Collateral)
			}
			if ap.TrustAnchor != b.Roots().Fingerprints()[0] {
				t.Fatalf("anchor %s", ap.TrustAnchor)
			}
		})
	}

	// Collateral that does not parse is reported as such.
	bad, err := evidence.EncodeTDX(quote, []byte(`{"tcb_info":""}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = newVerifier(t, setup{}).Verify(context.Background(), bad, evidence.VerifyOptions{Now: now, ReportData: r})
	wantCode(t, err, "tdx.collateral")
}

func TestVerifyFailures(t *testing.T) {
	a, b := authorities(t)
	r := rd(3)
	good := attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), r)
	debug := attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{Debug: true})), r)
	tdxGood := attest(t, evidence.NewTDXAttester(b.Guest(sim.TDXGuestConfig{})), r)
	tdxDebug := attest(t, evidence.NewTDXAttester(b.Guest(sim.TDXGuestConfig{Debug: true})), r)
	ear, err := evidence.EncodeEAR([]byte("eyJ.eyJ.sig"))
	if err != nil {
		t.Fatal(err)
	}
	other := rd(4)

	onlySNP := testPolicy()
	onlySNP.TDX = nil
	pinned := testPolicy()
	pinned.TrustAnchors = snp.ProductionRoots().Fingerprints() // the simulated ARK is not allowed
	measured := testPolicy()
	measured.SNP.Measurements = []string{"01" + string(bytes.Repeat([]byte("00"), 47))}

	tests := []struct {
		name     string
		s        setup
		in       []byte
		expected [64]byte
		code     string
		claim    string // the trust-vector claim a contraindicated appraisal must flag ("" = no appraisal)
		value    int
	}{
		{"report-data", setup{}, good, other, "snp.report_data", "", 0},
		{"production-only", setup{snp: []*snp.Roots{snp.ProductionRoots()}}, good, r, "snp.trust_anchor", "", 0},
		{"no-snp-roots", setup{snp: []*snp.Roots{}}, good, r, "snp.trust_anchor", "", 0},
		{"debug", setup{}, debug, r, "snp.debug", evidence.ClaimRuntimeOpaque, 96},
		{"measurement", setup{pol: &measured}, good, r, "snp.measurement", evidence.ClaimExecutables, 96},
		{"anchor-not-in-policy", setup{pol: &pinned}, good, r, "snp.trust_anchor", evidence.ClaimHardware, 97},
		{"tdx-refused-by-policy", setup{pol: &onlySNP}, tdxGood, r, "tdx.policy", "", 0},
		{"tdx-debug", setup{}, tdxDebug, r, "tdx.debug", evidence.ClaimConfiguration, 96},
		{"tdx-report-data", setup{}, tdxGood, other, "tdx.report_data", "", 0},
		{"tdx-production-only", setup{tdx: []*tdx.Roots{tdx.ProductionRoots()}}, tdxGood, r, "tdx.trust_anchor", "", 0},
		{"passport-cmw", setup{}, ear, r, "cmw.format", "", 0},
		{"garbage", setup{}, []byte{0xff}, r, "cmw.decode", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ap, err := newVerifier(t, tc.s).Verify(context.Background(), tc.in, evidence.VerifyOptions{Now: now, ReportData: tc.expected})
			wantCode(t, err, tc.code)
			if ap != nil {
				t.Fatalf("appraisal returned with an error: %+v", ap)
			}
			var ae *evidence.AppraisalError
			if tc.claim == "" {
				if errors.As(err, &ae) {
					t.Fatalf("AppraisalError for a verification failure: %+v", ae.Appraisal)
				}
				return
			}
			if !errors.As(err, &ae) || ae.Appraisal == nil {
				t.Fatalf("err %v is not an *AppraisalError", err)
			}
			if a := ae.Appraisal; a.Status != evidence.StatusContraindicated || a.TrustVector[tc.claim] != tc.value || a.TrustAnchor == "" {
				t.Fatalf("appraisal %+v, want contraindicated with %s=%d", a, tc.claim, tc.value)
			}
		})
	}
}

func TestVerifyMisuse(t *testing.T) {
	a, _ := authorities(t)
	v := newVerifier(t, setup{})
	r := rd(5)
	in := attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), r)
	if _, err := v.Verify(context.Background(), in, evidence.VerifyOptions{Now: time.Time{}, ReportData: r}); !errors.Is(err, evidence.ErrNoTime) {
		t.Fatalf("zero time: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, in, evidence.VerifyOptions{Now: now, ReportData: r}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := evidence.NewVerifier(evidence.Config{}); !errors.Is(err, evidence.ErrConfig) {
		t.Fatalf("no policy: %v", err)
	}
	unnamed := testPolicy()
	unnamed.ID = ""
	if _, err := evidence.NewVerifier(evidence.Config{Policy: unnamed}); !errors.Is(err, evidence.ErrConfig) {
		t.Fatalf("no policy id: %v", err)
	}
	undigested := testPolicy()
	undigested.Digest = [32]byte{}
	if _, err := evidence.NewVerifier(evidence.Config{Policy: undigested}); !errors.Is(err, evidence.ErrConfig) {
		t.Fatalf("no policy digest: %v", err)
	}
	bad := testPolicy()
	bad.SNP.Measurements = []string{"xyz"}
	var spe *snp.PolicyError
	if _, err := evidence.NewVerifier(evidence.Config{Policy: bad}); !errors.Is(err, evidence.ErrConfig) || !errors.As(err, &spe) || spe.Key != "snp.measurements[0]" {
		t.Fatalf("invalid policy: %v", err)
	}
	badAnchor := testPolicy()
	badAnchor.TrustAnchors = []string{"sha1:00"}
	var pe *evidence.PolicyError
	if _, err := evidence.NewVerifier(evidence.Config{Policy: badAnchor}); !errors.Is(err, evidence.ErrConfig) || !errors.As(err, &pe) || pe.Key != "trust_anchors[0]" {
		t.Fatalf("invalid trust anchor: %v", err)
	}
	if _, err := evidence.NewVerifier(evidence.Config{Policy: testPolicy(), SNPRoots: []*snp.Roots{nil}}); !errors.Is(err, evidence.ErrConfig) {
		t.Fatalf("nil roots: %v", err)
	}
	if _, err := v.VerifyRaw(context.Background(), &evidence.Decoded{Kind: evidence.KindAttestationResult}, evidence.VerifyOptions{Now: now, SkipReportData: true}); check.Code(err) != "cmw.format" {
		t.Fatalf("raw attestation result: %v", err)
	}
}

// The REPORTDATA check is skipped only on request: options that name no
// expected value are refused rather than read as "expect zero" or "skip".
func TestVerifyReportDataOption(t *testing.T) {
	a, _ := authorities(t)
	v := newVerifier(t, setup{})
	zero := attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), [64]byte{})
	for _, in := range [][]byte{zero, attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), rd(6))} {
		if ap, err := v.Verify(context.Background(), in, evidence.VerifyOptions{Now: now}); !errors.Is(err, evidence.ErrNoReportData) || ap != nil {
			t.Fatalf("no ReportData, no SkipReportData: %+v, %v", ap, err)
		}
		ev, err := evidence.Decode(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyRaw(context.Background(), ev, evidence.VerifyOptions{Now: now}); !errors.Is(err, evidence.ErrNoReportData) {
			t.Fatalf("VerifyRaw without ReportData: %v", err)
		}
		// Explicitly unbound: verified whatever REPORTDATA it carries.
		ap, err := v.Verify(context.Background(), in, evidence.VerifyOptions{Now: now, SkipReportData: true})
		if err != nil || ap.ReportData != [64]byte(ev.Evidence[snp.ReportDataOffset:]) {
			t.Fatalf("SkipReportData: %+v, %v", ap, err)
		}
	}
}

func readTestdata(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real recorded samples verify through the dispatcher against production roots.
func TestVerifyRawRealSamples(t *testing.T) {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	report := readTestdata(t, "evidence/snp/testdata/attestation.bin")
	vcek := readTestdata(t, "evidence/snp/testdata/vcek.testcer")
	quote := readTestdata(t, "evidence/tdx/testdata/tdx_prod_quote_SPR_E4_trimmed.dat")

	debugOK := testPolicy()
	debugOK.SNP.AllowDebug = true
	debugOK.SNP.AllowSMT = true // the sample's guest policy allows SMT
	v, err := evidence.NewVerifier(evidence.Config{
		Policy: debugOK, VCEK: vcek,
		SNPRoots: []*snp.Roots{snp.ProductionRoots()}, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()},
	})
	if err != nil {
		t.Fatal(err)
	}
	unbound := evidence.VerifyOptions{Now: at, SkipReportData: true}
	ap, err := v.VerifyRaw(context.Background(), &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP, Evidence: report}, unbound)
	if err != nil {
		t.Fatalf("SNP sample: %v", err)
	}
	// Debug allowed by policy: accepted, but only as a warning.
	if ap.Simulated || snpDetail(t, ap).Product != "Milan" || ap.Status != evidence.StatusWarning || ap.TrustVector[evidence.ClaimRuntimeOpaque] != 32 {
		t.Fatalf("SNP appraisal %+v", ap)
	}
	ap, err = v.VerifyRaw(context.Background(), &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote}, unbound)
	if err != nil {
		t.Fatalf("TDX sample: %v", err)
	}
	sum := sha256.Sum256(quote)
	if ap.Simulated || !bytes.Equal(ap.EvidenceDigest, sum[:]) || ap.TrustAnchor != tdx.ProductionRoots().Fingerprints()[0] {
		t.Fatalf("TDX appraisal %+v", ap)
	}
	// Verified without collateral: neither the TCB status nor revocation was
	// evaluated, so the appraisal says so and is a warning, not affirming
	// (stale collateral would fail: leaving it out must not do better).
	if ap.Status != evidence.StatusWarning || ap.TCBStatus != "" ||
		strings.Join(ap.NotEvaluated, ",") != "tcb_status,revocation" ||
		ap.TrustVector[evidence.ClaimConfiguration] != int(ear.ConfigurationUnavailable) ||
		ap.TrustVector[evidence.ClaimHardware] != int(ear.HardwareRevocationNotEvaluated) {
		t.Fatalf("TDX without collateral: status %s not evaluated %v vector %v", ap.Status, ap.NotEvaluated, ap.TrustVector)
	}
	// A policy that explicitly accepts that affirms, and still records it.
	accept := testPolicy()
	accept.TDX.AcceptUnevaluatedTCB = true
	v2, err := evidence.NewVerifier(evidence.Config{Policy: accept, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()}})
	if err != nil {
		t.Fatal(err)
	}
	ap, err = v2.VerifyRaw(context.Background(), &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote}, unbound)
	if err != nil || ap.Status != evidence.StatusAffirming || strings.Join(ap.NotEvaluated, ",") != "tcb_status,revocation" ||
		ap.TrustVector[evidence.ClaimConfiguration] != 2 || ap.TrustVector[evidence.ClaimHardware] != 2 {
		t.Fatalf("accepted unevaluated TCB: %+v, %v", ap, err)
	}
	// A policy that requires collateral refuses it.
	require := testPolicy()
	require.TDX.RequireCollateral = true
	v3, err := evidence.NewVerifier(evidence.Config{Policy: require, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v3.VerifyRaw(context.Background(), &evidence.Decoded{Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote}, unbound)
	wantCode(t, err, "tdx.policy")
}

func TestVerifyConcurrent(t *testing.T) {
	a, b := authorities(t)
	v := newVerifier(t, setup{cache: true})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rd(byte(10 + i))
			var at evidence.Attester = evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{}))
			if i%2 == 1 {
				at = evidence.NewTDXAttester(b.Guest(sim.TDXGuestConfig{}))
			}
			in, err := at.Attest(context.Background(), r)
			if err == nil {
				_, err = v.Verify(context.Background(), in, evidence.VerifyOptions{Now: now, ReportData: r})
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

type failingQuoter struct{ err error }

func (f failingQuoter) Quote([64]byte) ([]byte, []byte, error) { return nil, nil, f.err }

type tdxFunc func([64]byte) ([]byte, error)

func (f tdxFunc) Quote(r [64]byte) ([]byte, error) { return f(r) }

func TestAttesterErrors(t *testing.T) {
	boom := errors.New("device gone")
	if _, err := evidence.NewSNPAttester(failingQuoter{boom}).Attest(context.Background(), rd(0)); !errors.Is(err, boom) {
		t.Fatalf("quoter error: %v", err)
	}
	if _, err := evidence.NewSNPAttester(nil).Attest(context.Background(), rd(0)); !errors.Is(err, evidence.ErrNoQuoter) {
		t.Fatalf("nil quoter: %v", err)
	}
	if _, err := evidence.NewTDXAttester(nil).Attest(context.Background(), rd(0)); !errors.Is(err, evidence.ErrNoQuoter) {
		t.Fatalf("nil TDX quoter: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	called := false
	q := tdxFunc(func([64]byte) ([]byte, error) { called = true; cancel(); return []byte{1}, nil })
	if _, err := evidence.NewTDXAttester(q).Attest(ctx, rd(0)); !errors.Is(err, context.Canceled) || !called {
		t.Fatalf("cancel during quote: %v (called %v)", err, called)
	}
	empty := tdxFunc(func([64]byte) ([]byte, error) { return nil, nil })
	_, err := evidence.NewTDXAttester(empty).Attest(context.Background(), rd(0))
	if check.Code(err) != "tdx.decode" {
		t.Fatalf("empty quote: %v", err)
	}
}

// A VLEK-signed report names its endorsement key "vlek" in the claims.
func TestVerifyVLEKCollateralName(t *testing.T) {
	a, err := sim.GenerateSNP(sim.SNPOptions{VLEK: true, Now: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, setup{snp: []*snp.Roots{a.Roots()}})
	r := rd(7)
	ap, err := v.Verify(context.Background(), attest(t, evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{Signer: snp.SignerVLEK})), r),
		evidence.VerifyOptions{Now: now, ReportData: r})
	if err != nil {
		t.Fatal(err)
	}
	if res := snpDetail(t, ap); len(ap.Collateral) != 1 || ap.Collateral[0].Name != "vlek" || !bytes.Equal(ap.Collateral[0].Value, res.VCEKDigest) {
		t.Fatalf("collateral %+v", ap.Collateral)
	}
}

// Every measurement IdentityMeasurements names is one the platform's
// appraisal carries, at its stated size; and an appraisal's validity ends
// after the verification time (the simulated chains are long-lived).
func TestIdentityMeasurementsAndValidity(t *testing.T) {
	a, ta := authorities(t)
	v := newVerifier(t, setup{})
	r := rd(9)
	for _, at := range []evidence.Attester{evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), evidence.NewTDXAttester(ta.Guest(sim.TDXGuestConfig{}))} {
		ap, err := v.Verify(context.Background(), attest(t, at, r), evidence.VerifyOptions{Now: now, ReportData: r})
		if err != nil {
			t.Fatalf("%s: %v", at.Platform(), err)
		}
		names, ok := evidence.IdentityMeasurements(ap.Platform)
		if !ok || len(names) < 2 {
			t.Fatalf("%s: identity measurements %v %v", ap.Platform, names, ok)
		}
		for _, n := range names {
			if got := value(ap.Measurements, n.Name); len(got) != n.Size {
				t.Errorf("%s: measurement %q is %d bytes, want %d", ap.Platform, n.Name, len(got), n.Size)
			}
		}
		if !ap.ValidUntil.After(now) {
			t.Errorf("%s: ValidUntil %v not after the verification time %v", ap.Platform, ap.ValidUntil, now)
		}
	}
	if _, ok := evidence.IdentityMeasurements("sgx"); ok {
		t.Error("an unknown platform has identity measurements")
	}
	if len(evidence.Platforms()) != 2 {
		t.Errorf("platforms %v", evidence.Platforms())
	}
}

// With the production roots first (as the server configures them) and
// chain caches, repeat simulated evidence is anchored from the cache: the
// caches answer Anchored for the simulated set only, and verification
// still succeeds and still refuses evidence for another connection.
func TestVerifyAnchoredFromCache(t *testing.T) {
	a, b := authorities(t)
	sc, tc := snp.NewChainCache(4), tdx.NewChainCache(4)
	v, err := evidence.NewVerifier(evidence.Config{Policy: testPolicy(), SNPCache: sc, TDXCache: tc,
		SNPRoots: []*snp.Roots{snp.ProductionRoots(), a.Roots()}, TDXRoots: []*tdx.Roots{tdx.ProductionRoots(), b.Roots()}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	report, table, err := a.Guest(sim.SNPGuestConfig{}).Quote(rd(1))
	if err != nil {
		t.Fatal(err)
	}
	quote, err := b.Guest(sim.TDXGuestConfig{}).Quote(rd(1))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Anchored(report, table, nil, a.Roots(), now) || tc.Anchored(quote, b.Roots(), now) {
		t.Fatal("anchored before any verification")
	}
	for code, at := range map[string]evidence.Attester{"snp.report_data": evidence.NewSNPAttester(a.Guest(sim.SNPGuestConfig{})), "tdx.report_data": evidence.NewTDXAttester(b.Guest(sim.TDXGuestConfig{}))} {
		for range 2 {
			if _, err := v.Verify(ctx, attest(t, at, rd(1)), evidence.VerifyOptions{Now: now, ReportData: rd(1)}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := v.Verify(ctx, attest(t, at, rd(1)), evidence.VerifyOptions{Now: now, ReportData: rd(2)})
		wantCode(t, err, code)
	}
	if !sc.Anchored(report, table, nil, a.Roots(), now) || sc.Anchored(report, table, nil, snp.ProductionRoots(), now) {
		t.Error("SNP: the cache does not tell the simulated set from the production one")
	}
	if !tc.Anchored(quote, b.Roots(), now) || tc.Anchored(quote, tdx.ProductionRoots(), now) {
		t.Error("TDX: the cache does not tell the simulated set from the production one")
	}
	if sc.Anchored(report[:100], table, nil, a.Roots(), now) || tc.Anchored(quote[:100], b.Roots(), now) || sc.Anchored(report, table, nil, a.Roots(), now.AddDate(50, 0, 0)) {
		t.Error("anchored for a truncated report, a truncated quote or a time outside the chain")
	}
	var nilCache *snp.ChainCache
	if nilCache.Anchored(report, table, nil, a.Roots(), now) {
		t.Error("a nil cache anchors")
	}
}
