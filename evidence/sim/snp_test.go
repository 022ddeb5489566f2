package sim

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	sevtest "github.com/google/go-sev-guest/testing"
	"github.com/google/go-sev-guest/validate"
	"github.com/google/go-sev-guest/verify"
	"github.com/google/go-sev-guest/verify/trust"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/snp"
)

var (
	snpCreated = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	snpNow     = snpCreated.Add(24 * time.Hour)

	snpAuthOnce sync.Once
	snpAuth     *SNPAuthority
	snpAuthErr  error
)

// testSNPAuthority is generated once per test binary (RSA key generation is
// the slow part) with a VLEK so both signer kinds can be exercised.
func testSNPAuthority(t testing.TB) *SNPAuthority {
	t.Helper()
	snpAuthOnce.Do(func() {
		snpAuth, snpAuthErr = GenerateSNP(SNPOptions{VLEK: true, Now: snpCreated})
	})
	if snpAuthErr != nil {
		t.Fatal(snpAuthErr)
	}
	return snpAuth
}

func snpWantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
}

func snpRD(s string) [64]byte {
	var rd [64]byte
	copy(rd[:], s)
	return rd
}

func snpQuote(t *testing.T, g *SNPGuest, rd [64]byte) (report, table []byte) {
	t.Helper()
	report, table, err := g.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	return report, table
}

func TestSNPSimulatedVerify(t *testing.T) {
	a := testSNPAuthority(t)
	rd := snpRD("binding || aik_pub_hash")
	measurement := [48]byte{1, 2, 3}
	report, table := snpQuote(t, a.Guest(SNPGuestConfig{Measurement: measurement}), rd)
	if len(report) != snp.ReportSize {
		t.Fatalf("report is %d bytes", len(report))
	}
	opts := snp.VerifyOptions{Now: snpNow, Roots: a.Roots()}
	res, err := snp.Verify(report, table, snpBound(opts, rd))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	chip := a.ChipID()
	switch {
	case !res.Simulated:
		t.Error("Result.Simulated = false for simulated roots")
	case res.Product != snp.ProductGenoa || res.SignerKind != snp.SignerVCEK || res.Version != 3:
		t.Errorf("product/signer/version = %s/%s/%d", res.Product, res.SignerKind, res.Version)
	case res.TrustAnchor != snp.ARKFingerprint(a.ARK()) || !slices.Equal(a.Roots().Fingerprints(), []string{res.TrustAnchor}):
		t.Errorf("TrustAnchor = %s, roots %v", res.TrustAnchor, a.Roots().Fingerprints())
	case !bytes.Equal(res.Measurement, measurement[:]) || !bytes.Equal(res.ChipID, chip[:]) || res.ReportData != rd:
		t.Error("measurement, chip id or report data not as quoted")
	case snp.DecomposeTCB(res.Product, res.ReportedTCB) != SNPDefaultTCB || res.Debug:
		t.Errorf("TCB %v debug %v", snp.DecomposeTCB(res.Product, res.ReportedTCB), res.Debug)
	}
	min := SNPDefaultTCB
	if err := snp.Appraise(res, &snp.Policy{Measurements: []string{"010203" + string(bytes.Repeat([]byte("0"), 90))}, MinTCB: &min}); err != nil {
		t.Fatalf("Appraise: %v", err)
	}

	// The same evidence means nothing to a production verifier.
	_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: snp.ProductionRoots()})
	snpWantCode(t, err, "snp.trust_anchor")
	// Replayed onto another connection (other REPORT_DATA).
	other := snpRD("another connection")
	_, err = snp.Verify(report, table, snpBound(opts, other))
	snpWantCode(t, err, "snp.report_data")
	// Before the simulated chain exists.
	_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpCreated.Add(-time.Hour), Roots: a.Roots()})
	snpWantCode(t, err, "snp.time")
	// A second, unrelated simulated PKI is a different trust anchor.
	b, err := GenerateSNP(SNPOptions{Now: snpCreated})
	if err != nil {
		t.Fatal(err)
	}
	_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: b.Roots()})
	snpWantCode(t, err, "snp.trust_anchor")
}

func TestSNPSimulatedVariants(t *testing.T) {
	a := testSNPAuthority(t)
	rd := snpRD("variants")
	tests := []struct {
		name  string
		cfg   SNPGuestConfig
		check func(*testing.T, *snp.Result)
	}{
		{"vlek signer", SNPGuestConfig{Signer: snp.SignerVLEK}, func(t *testing.T, r *snp.Result) {
			if r.SignerKind != snp.SignerVLEK {
				t.Errorf("SignerKind = %s", r.SignerKind)
			}
		}},
		{"v2 report (product from VCEK)", SNPGuestConfig{Version: 2}, func(t *testing.T, r *snp.Result) {
			if r.Version != 2 || r.Product != snp.ProductGenoa {
				t.Errorf("version %d product %s", r.Version, r.Product)
			}
		}},
		{"v5 report", SNPGuestConfig{Version: 5}, func(t *testing.T, r *snp.Result) {
			if r.Version != 5 {
				t.Errorf("version %d", r.Version)
			}
		}},
		{"masked chip id", SNPGuestConfig{MaskChipID: true}, func(t *testing.T, r *snp.Result) {
			if !bytes.Equal(r.ChipID, make([]byte, 64)) {
				t.Errorf("chip id %x not masked", r.ChipID)
			}
		}},
		{"vmpl 2, debug, smt", SNPGuestConfig{VMPL: 2, Debug: true, SMT: true}, func(t *testing.T, r *snp.Result) {
			if r.VMPL != 2 || !r.Debug {
				t.Errorf("vmpl %d debug %v", r.VMPL, r.Debug)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			report, table := snpQuote(t, a.Guest(tc.cfg), rd)
			res, err := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			tc.check(t, res)
		})
	}
	if _, _, err := a.Guest(SNPGuestConfig{Signer: "ark"}).Quote(rd); err == nil {
		t.Error("Quote with signer ark succeeded")
	}
	if _, _, err := a.Guest(SNPGuestConfig{Version: 6}).Quote(rd); err == nil {
		t.Error("Quote with version 6 succeeded")
	}
}

func TestSNPSimulatedProducts(t *testing.T) {
	for _, product := range []string{snp.ProductMilan, snp.ProductTurin} {
		t.Run(product, func(t *testing.T) {
			tcb := snp.TCB{BootLoader: 3, TEE: 1, SNP: 20, Microcode: 100}
			if product == snp.ProductTurin {
				tcb.FMC = 2
			}
			a, err := GenerateSNP(SNPOptions{Product: product, TCB: tcb, Now: snpCreated})
			if err != nil {
				t.Fatal(err)
			}
			rd := snpRD(product)
			report, table := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
			res, err := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if res.Product != product || snp.DecomposeTCB(product, res.ReportedTCB) != tcb {
				t.Fatalf("product %s TCB %v, want %s %v", res.Product, snp.DecomposeTCB(product, res.ReportedTCB), product, tcb)
			}
			higher := tcb
			higher.SNP++
			snpWantCode(t, snp.Appraise(res, &snp.Policy{MinTCB: &higher}), "snp.tcb")
		})
	}
	if _, err := GenerateSNP(SNPOptions{Product: "Naples"}); err == nil {
		t.Error("GenerateSNP(Naples) succeeded")
	}
}

func TestSNPSimulatedRejections(t *testing.T) {
	a := testSNPAuthority(t)
	rd := snpRD("rejections")
	verifyOK := func(t *testing.T, cfg SNPGuestConfig) *snp.Result {
		t.Helper()
		report, table := snpQuote(t, a.Guest(cfg), rd)
		res, err := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return res
	}
	t.Run("debug guest", func(t *testing.T) {
		snpWantCode(t, snp.Appraise(verifyOK(t, SNPGuestConfig{Debug: true}), &snp.Policy{}), "snp.debug")
	})
	t.Run("measurement not allowed", func(t *testing.T) {
		res := verifyOK(t, SNPGuestConfig{Measurement: [48]byte{0xee}})
		snpWantCode(t, snp.Appraise(res, &snp.Policy{Measurements: []string{string(bytes.Repeat([]byte("0"), 96))}}), "snp.measurement")
	})
	t.Run("tcb below minimum", func(t *testing.T) {
		min := SNPDefaultTCB
		min.Microcode++
		snpWantCode(t, snp.Appraise(verifyOK(t, SNPGuestConfig{}), &snp.Policy{MinTCB: &min}), "snp.tcb")
	})
	t.Run("vmpl", func(t *testing.T) {
		snpWantCode(t, snp.Appraise(verifyOK(t, SNPGuestConfig{VMPL: 1}), &snp.Policy{}), "snp.policy")
	})
	t.Run("vlek forbidden", func(t *testing.T) {
		res := verifyOK(t, SNPGuestConfig{Signer: snp.SignerVLEK})
		snpWantCode(t, snp.Appraise(res, &snp.Policy{AllowedSigners: []string{snp.SignerVCEK}}), "snp.policy")
	})
	t.Run("reported TCB not what the VCEK certifies", func(t *testing.T) {
		stale := SNPDefaultTCB
		stale.SNP--
		report, table := snpQuote(t, a.Guest(SNPGuestConfig{ReportedTCB: &stale}), rd)
		_, err := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
		snpWantCode(t, err, "snp.chain")
	})
	t.Run("VCEK of another chip", func(t *testing.T) {
		report, _ := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
		b, err := GenerateSNP(SNPOptions{Now: snpCreated})
		if err != nil {
			t.Fatal(err)
		}
		_, table := snpQuote(t, b.Guest(SNPGuestConfig{}), rd)
		// b's VCEK is trusted (b's roots) but did not sign a's report.
		_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: b.Roots()})
		snpWantCode(t, err, "snp.signature")
		// Against a's roots, b's VCEK is refused before the report signature
		// is looked at: the trust anchor is chosen from the chain first.
		_, err = snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()})
		snpWantCode(t, err, "snp.trust_anchor")
	})
}

func TestSNPRevocation(t *testing.T) {
	a, err := GenerateSNP(SNPOptions{Now: snpCreated}) // own Roots: SetCRL mutates them
	if err != nil {
		t.Fatal(err)
	}
	rd := snpRD("crl")
	report, table := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
	cache := snp.NewChainCache(4)
	opts := snp.VerifyOptions{Now: snpNow, Roots: a.Roots(), CheckRevocations: true, Cache: cache}
	_, err = snp.Verify(report, table, snpBound(opts, rd))
	snpWantCode(t, err, "snp.collateral")

	fresh, err := a.CRL(snpCreated, snpNow.Add(24*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Roots().SetCRL(snp.ProductGenoa, fresh); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // cold, then warm: both check the CRL
		if _, err := snp.Verify(report, table, snpBound(opts, rd)); err != nil {
			t.Fatalf("Verify %d with fresh CRL: %v", i, err)
		}
	}
	late := opts
	late.Now = snpNow.Add(48 * time.Hour) // CRL is past NextUpdate and cannot be refreshed offline
	_, err = snp.Verify(report, table, snpBound(late, rd))
	snpWantCode(t, err, "snp.collateral")

	revoked, err := a.CRL(snpCreated, snpNow.Add(24*time.Hour), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Roots().SetCRL(snp.ProductGenoa, revoked); err != nil {
		t.Fatal(err)
	}
	_, err = snp.Verify(report, table, snpBound(opts, rd))
	snpWantCode(t, err, "snp.chain")

	b := testSNPAuthority(t)
	if err := b.Roots().SetCRL(snp.ProductGenoa, fresh); err == nil {
		t.Error("SetCRL accepted a CRL signed by another ARK")
	}
}

func TestSNPConcurrentQuotes(t *testing.T) {
	a := testSNPAuthority(t)
	g := a.Guest(SNPGuestConfig{})
	opts := snp.VerifyOptions{Now: snpNow, Roots: a.Roots(), Cache: snp.NewChainCache(8)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			rd := [64]byte{byte(i)}
			report, table, err := g.Quote(rd)
			if err == nil {
				_, err = snp.Verify(report, table, snpBound(opts, rd))
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestSNPSaveLoad(t *testing.T) {
	a := testSNPAuthority(t)
	dir := filepath.Join(t.TempDir(), "simdir")
	if err := a.Save(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"snp": 0o700, "snp/ark.key": 0o600, "snp/ask.key": 0o600, "snp/vcek.key": 0o600, "snp/vlek.key": 0o600, "snp/ark.pem": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	b, err := LoadSNP(dir)
	if err != nil {
		t.Fatalf("LoadSNP: %v", err)
	}
	if b.Product() != a.Product() || b.TCB() != a.TCB() || b.ChipID() != a.ChipID() || !b.VCEK().Equal(a.VCEK()) {
		t.Fatal("loaded authority differs")
	}
	if !slices.Equal(b.Roots().Fingerprints(), a.Roots().Fingerprints()) {
		t.Fatal("loaded roots have other fingerprints")
	}
	rd := snpRD("after load")
	for _, signer := range []string{snp.SignerVCEK, snp.SignerVLEK} {
		report, table := snpQuote(t, b.Guest(SNPGuestConfig{Signer: signer}), rd)
		if _, err := snp.Verify(report, table, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots()}); err != nil {
			t.Fatalf("%s evidence of the loaded authority rejected by the original roots: %v", signer, err)
		}
	}

	// Damaged directories are refused with a reason.
	other, err := GenerateSNP(SNPOptions{Now: snpCreated})
	if err != nil {
		t.Fatal(err)
	}
	odir := t.TempDir()
	if err := other.Save(odir); err != nil {
		t.Fatal(err)
	}
	swap := func(t *testing.T, file string) string {
		t.Helper()
		d := t.TempDir()
		if err := a.Save(d); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(odir, "snp", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "snp", file), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct{ name, dir, want string }{
		{"missing", t.TempDir(), "no such file"},
		{"key of another authority", swap(t, "ask.key"), "key does not match certificate"},
		{"ASK of another authority", func() string { d := swap(t, "ask.pem"); copyFile(t, odir, d, "ask.key"); return d }(), "ASK is not signed by the ARK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSNP(tc.dir)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("LoadSNP err = %v, want %q", err, tc.want)
			}
		})
	}
}

func copyFile(t *testing.T, from, to, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(from, "snp", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "snp", name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSNPLibraryCrossCheck runs go-sev-guest's own verify and validate on
// simulated evidence, and compares our chain's shape with the one its
// testing package builds (the reference for what the verifier expects).
func TestSNPLibraryCrossCheck(t *testing.T) {
	a := testSNPAuthority(t)
	rd := snpRD("cross-check")
	report, table := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
	att, err := abi.ReportCertsToProto(append(bytes.Clone(report), table...))
	if err != nil {
		t.Fatal(err)
	}
	root := trust.AMDRootCertsProduct(a.Product())
	root.ProductCerts = &trust.ProductCerts{Ark: a.ARK(), Ask: a.ASK()}
	vo := &verify.Options{DisableCertFetching: true, Now: snpNow, TrustedRoots: map[string][]*trust.AMDRootCerts{a.Product(): {root}}}
	if err := verify.SnpAttestation(att, vo); err != nil {
		t.Fatalf("go-sev-guest verify rejects our chain: %v", err)
	}
	if err := verify.SnpAttestation(att, &verify.Options{DisableCertFetching: true, Now: snpNow}); err == nil {
		t.Fatal("go-sev-guest verify accepts simulated evidence against AMD's roots")
	}
	chip := a.ChipID()
	zero := 0
	tcb := a.TCB()
	if err := validate.SnpAttestation(att, &validate.Options{ReportData: rd[:], ChipID: chip[:], VMPL: &zero,
		MinimumTCB: kds.TCBParts{BlSpl: tcb.BootLoader, SnpSpl: tcb.SNP, UcodeSpl: tcb.Microcode}}); err != nil {
		t.Fatalf("go-sev-guest validate rejects our report: %v", err)
	}

	ref, err := sevtest.DefaultTestOnlyCertChain(kds.ProductName(&spb.SevProduct{Name: spb.SevProduct_SEV_PRODUCT_GENOA, MachineStepping: wrapperspb.UInt32(1)}), snpCreated)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		name      string
		ours, ref *x509.Certificate
	}{{"ARK", a.ARK(), ref.Ark}, {"ASK", a.ASK(), ref.Ask}, {"VCEK", a.VCEK(), ref.Vcek}} {
		o, r := p.ours, p.ref
		if o.Subject.CommonName != r.Subject.CommonName || o.Issuer.CommonName != r.Issuer.CommonName {
			t.Errorf("%s: subject/issuer CN %q/%q, reference %q/%q", p.name, o.Subject.CommonName, o.Issuer.CommonName, r.Subject.CommonName, r.Issuer.CommonName)
		}
		if o.SignatureAlgorithm != r.SignatureAlgorithm || o.PublicKeyAlgorithm != r.PublicKeyAlgorithm || o.IsCA != r.IsCA {
			t.Errorf("%s: algorithms/CA %v %v %v, reference %v %v %v", p.name, o.SignatureAlgorithm, o.PublicKeyAlgorithm, o.IsCA, r.SignatureAlgorithm, r.PublicKeyAlgorithm, r.IsCA)
		}
		if !slices.Equal(o.CRLDistributionPoints, r.CRLDistributionPoints) {
			t.Errorf("%s: CRL DPs %v, reference %v", p.name, o.CRLDistributionPoints, r.CRLDistributionPoints)
		}
	}
	oids := func(c *x509.Certificate) []string {
		var s []string
		for _, e := range c.Extensions {
			if len(e.Id) > 6 && e.Id[6] == 3704 { // AMD's arc 1.3.6.1.4.1.3704
				s = append(s, e.Id.String())
			}
		}
		slices.Sort(s)
		return s
	}
	if !slices.Equal(oids(a.VCEK()), oids(ref.Vcek)) {
		t.Errorf("VCEK KDS extensions %v, reference %v", oids(a.VCEK()), oids(ref.Vcek))
	}
}

// TestSNPMisissuedVCEK: a VCEK that chains to the trusted ASK and verifies the
// report, but breaks AMD's KDS profile (wrong subject CN), is snp.chain.
func TestSNPMisissuedVCEK(t *testing.T) {
	a := testSNPAuthority(t)
	exts, err := snpKDSExtensions(a.product, a.tcb, a.chipID[:], "")
	if err != nil {
		t.Fatal(err)
	}
	bad, err := snpEKCert("SEV-NOT-A-VCEK", exts, a.ask, a.askKey, &a.vcekKey.PublicKey, snpCreated, snpCreated.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	rd := snpRD("misissued")
	report, _ := snpQuote(t, a.Guest(SNPGuestConfig{}), rd)
	_, err = snp.Verify(report, nil, snp.VerifyOptions{ReportData: rd, Now: snpNow, Roots: a.Roots(), VCEK: bad.Raw})
	snpWantCode(t, err, "snp.chain")
	if !bytes.Contains([]byte(err.Error()), []byte("SEV-NOT-A-VCEK")) {
		t.Errorf("error %v does not name the bad subject", err)
	}
}

// snpBound returns opts expecting REPORT_DATA rd.
func snpBound(opts snp.VerifyOptions, rd [64]byte) snp.VerifyOptions {
	opts.ReportData = rd
	return opts
}
