package snp

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	"github.com/google/go-sev-guest/verify/trust"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence/check"
)

// sampleNow is inside the real VCEK's validity (2022-09-24 .. 2029-09-24).
var sampleNow = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// sampleReportData is the REPORT_DATA of testdata/attestation.bin.
var sampleReportData = [64]byte{1, 2, 3, 4, 5}

func loadSample(t testing.TB) (report, vcek []byte) {
	t.Helper()
	report, err := os.ReadFile("testdata/attestation.bin")
	if err != nil {
		t.Fatal(err)
	}
	vcek, err = os.ReadFile("testdata/vcek.testcer")
	if err != nil {
		t.Fatal(err)
	}
	return report, vcek
}

// tableWith builds a GHCB table holding the given (GUID, blob) pairs in order.
func tableWith(entries ...abi.CertTableEntry) []byte {
	return (&abi.CertTable{Entries: entries}).Marshal()
}

func vcekTable(vcek []byte) []byte {
	return tableWith(abi.CertTableEntry{GUID: uuid.MustParse(abi.VcekGUID), RawCert: vcek})
}

func wantCode(t *testing.T, err error, code, detail string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := check.Code(err); got != code {
		t.Fatalf("code = %q, want %q (err: %v)", got, code, err)
	}
	if detail != "" && !strings.Contains(err.Error(), detail) {
		t.Fatalf("error %q does not mention %q", err, detail)
	}
}

func milanARK(t testing.TB) *x509.Certificate {
	t.Helper()
	for _, b := range ProductionRoots().forProduct(ProductMilan) {
		return b.ProductCerts.Ark
	}
	t.Fatal("no Milan roots")
	return nil
}

func TestVerifyRealSample(t *testing.T) {
	report, vcek := loadSample(t)
	opts := VerifyOptions{Now: sampleNow, Roots: ProductionRoots()}
	res, err := Verify(report, vcekTable(vcek), bound(opts, sampleReportData))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	digest := sha256.Sum256(vcek)
	switch {
	case res.Version != 2:
		t.Errorf("Version = %d, want 2", res.Version)
	case res.Product != ProductMilan:
		t.Errorf("Product = %q, want Milan", res.Product)
	case res.SignerKind != SignerVCEK:
		t.Errorf("SignerKind = %q", res.SignerKind)
	case !res.Debug || res.GuestPolicy != 0xb0000:
		t.Errorf("Debug = %v, GuestPolicy = %#x, want debug and 0xb0000", res.Debug, res.GuestPolicy)
	case res.Simulated:
		t.Error("Simulated = true for production roots")
	case res.TrustAnchor != ARKFingerprint(milanARK(t)):
		t.Errorf("TrustAnchor = %s, want the Milan ARK", res.TrustAnchor)
	case !bytes.Equal(res.VCEKDigest, digest[:]):
		t.Errorf("VCEKDigest = %x, want %x", res.VCEKDigest, digest)
	case res.ReportData != sampleReportData:
		t.Errorf("ReportData = %x", res.ReportData)
	case !bytes.Equal(res.Measurement, report[0x90:0xC0]) || len(res.ChipID) != 64 || len(res.HostData) != 32:
		t.Errorf("Measurement/ChipID/HostData not copied from the report")
	case res.VMPL != 0:
		t.Errorf("VMPL = %d", res.VMPL)
	}
	if got := DecomposeTCB(res.Product, res.ReportedTCB); got != (TCB{BootLoader: 2, SNP: 5, Microcode: 68}) {
		t.Errorf("reported TCB = %v, want bl=2 snp=5 ucode=68", got)
	}

	// The VCEK may come from the caller instead of the table; REPORT_DATA may go unchecked.
	opts.VCEK = vcek
	if _, err := Verify(report, nil, unbound(opts)); err != nil {
		t.Fatalf("Verify with VerifyOptions.VCEK: %v", err)
	}

	if err := Appraise(res, &Policy{AllowDebug: true, AllowSMT: true}); err != nil {
		t.Fatalf("Appraise(allow debug): %v", err)
	}
	wantCode(t, Appraise(res, &Policy{AllowSMT: true}), "snp.debug", "DEBUG")
}

func TestVerifyRealSampleFailures(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	flip := func(off int) []byte {
		r := bytes.Clone(report)
		r[off] ^= 0x01
		return r
	}
	genoa := ProductionRoots().forProduct(ProductGenoa)[0].ProductCerts
	wrongRoots, err := NewSimulatedRoots(ProductMilan, genoa.Ark, genoa.Ask, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		report   []byte
		table    []byte
		expected [64]byte
		now      time.Time
		roots    *Roots
		code     string
		detail   string
	}{
		{"signature byte flipped", flip(0x2A0), table, sampleReportData, sampleNow, nil, "snp.signature", "signature"},
		{"measurement byte flipped", flip(0x90), table, sampleReportData, sampleNow, nil, "snp.signature", "signature"},
		{"chip id byte flipped", flip(0x1A0), table, sampleReportData, sampleNow, nil, "snp.signature", ""},
		{"report data flipped", flip(0x50), table, sampleReportData, sampleNow, nil, "snp.report_data", "REPORT_DATA"},
		{"wrong expected report data", report, table, [64]byte{9}, sampleNow, nil, "snp.report_data", ""},
		{"after VCEK expiry", report, table, sampleReportData, time.Date(2029, 9, 25, 0, 0, 0, 0, time.UTC), nil, "snp.time", "not valid at 2029-09-25"},
		{"before VCEK issuance", report, table, sampleReportData, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), nil, "snp.time", ""},
		{"untrusted root for product", report, table, sampleReportData, sampleNow, wrongRoots, "snp.trust_anchor", "does not chain"},
		{"no VCEK offline", report, nil, sampleReportData, sampleNow, nil, "snp.chain", "no VCEK certificate"},
		{"ASK posing as VCEK", report, vcekTable(genoa.Ask.Raw), sampleReportData, sampleNow, nil, "snp.chain", ""},
		{"VCEK not DER", report, vcekTable([]byte("not a certificate")), sampleReportData, sampleNow, nil, "snp.chain", "DER"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roots := tc.roots
			if roots == nil {
				roots = ProductionRoots()
			}
			res, err := Verify(tc.report, tc.table, VerifyOptions{ReportData: tc.expected, Now: tc.now, Roots: roots})
			if res != nil {
				t.Errorf("result %+v returned with error", res)
			}
			wantCode(t, err, tc.code, tc.detail)
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	withU32 := func(off int, v uint32) []byte {
		r := bytes.Clone(report)
		r[off], r[off+1], r[off+2], r[off+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		return r
	}
	reserved := bytes.Clone(report)
	reserved[0x1F] ^= 0 // family id is free; use a reserved byte instead:
	reserved[0x4C] = 1
	tests := []struct {
		name   string
		report []byte
		table  []byte
		detail string
	}{
		{"empty", nil, table, "report: 0 bytes"},
		{"short", report[:100], table, "report: 100 bytes"},
		{"1183 bytes", report[:ReportSize-1], table, "report: 1183 bytes"},
		{"1185 bytes", append(bytes.Clone(report), 0), table, "report: 1185 bytes"},
		{"oversized table", report, make([]byte, MaxCertTableSize+1), "cert_table: 65537 bytes exceeds"},
		{"version 1", withU32(0, 1), table, "report: version"},
		{"version 99", withU32(0, 99), table, "report: version"},
		{"reserved bytes set", reserved, table, "report: reserved"},
		{"signature algo", withU32(0x34, 2), table, "signature_algo"},
		{"garbage cert table", report, []byte("garbage that is not a GUID table"), "cert_table:"},
		{"table range outside", report, badTable(0x1000, 10), "cert_table: entry 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.report, tc.table, VerifyOptions{ReportData: sampleReportData, Now: sampleNow, Roots: ProductionRoots()})
			wantCode(t, err, "snp.decode", tc.detail)
		})
	}
	t.Run("oversized VCEK option", func(t *testing.T) {
		_, err := Verify(report, nil, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(), VCEK: make([]byte, maxCertDER+1)})
		wantCode(t, err, "snp.decode", "vcek option")
	})
	t.Run("options", func(t *testing.T) {
		if _, err := Verify(report, table, VerifyOptions{SkipReportData: true, Roots: ProductionRoots()}); !errors.Is(err, ErrNoTime) {
			t.Errorf("zero Now: err = %v, want ErrNoTime", err)
		}
		if _, err := Verify(report, table, VerifyOptions{SkipReportData: true, Now: sampleNow}); !errors.Is(err, ErrNoRoots) {
			t.Errorf("nil Roots: err = %v, want ErrNoRoots", err)
		}
	})
}

// badTable is a one-entry VCEK table whose entry points at [off, off+n).
func badTable(off, n uint32) []byte {
	b := make([]byte, 3*abi.CertTableEntrySize)
	g := uuid.MustParse(abi.VcekGUID)
	copy(b, g[:])
	b[16], b[17], b[18], b[19] = byte(off), byte(off>>8), byte(off>>16), byte(off>>24)
	b[20], b[21], b[22], b[23] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
	return b
}

func TestVerifyCache(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	cache := NewChainCache(4)
	opts := VerifyOptions{Now: sampleNow, Roots: ProductionRoots(), Cache: cache}
	cold, err := Verify(report, table, bound(opts, sampleReportData))
	if err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 1 {
		t.Fatalf("cache.Len() = %d after a successful verify, want 1", cache.Len())
	}
	warm, err := Verify(report, table, bound(opts, sampleReportData))
	if err != nil {
		t.Fatalf("warm Verify: %v", err)
	}
	if warm.TrustAnchor != cold.TrustAnchor || !bytes.Equal(warm.VCEKDigest, cold.VCEKDigest) || warm.Product != cold.Product {
		t.Fatalf("warm result %+v differs from cold %+v", warm, cold)
	}
	// The warm path still checks the report signature.
	bad := bytes.Clone(report)
	bad[0x90] ^= 1
	_, err = Verify(bad, table, unbound(opts))
	wantCode(t, err, "snp.signature", "")
	// A cached chain is not used outside its validity window.
	late := opts
	late.Now = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err = Verify(report, table, unbound(late))
	wantCode(t, err, "snp.time", "")
	// Another trust store does not see the entry: the sample fails against it.
	genoa := ProductionRoots().forProduct(ProductGenoa)[0].ProductCerts
	other, err := NewSimulatedRoots(ProductMilan, genoa.Ark, genoa.Ask, nil)
	if err != nil {
		t.Fatal(err)
	}
	other2 := opts
	other2.Roots = other
	_, err = Verify(report, table, unbound(other2))
	wantCode(t, err, "snp.trust_anchor", "")
}

func TestVerifyConcurrent(t *testing.T) {
	report, vcek := loadSample(t)
	table := vcekTable(vcek)
	opts := VerifyOptions{Now: sampleNow, Roots: ProductionRoots(), Cache: NewChainCache(2)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Verify(report, table, bound(opts, sampleReportData))
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

func TestCheckRevocationsOffline(t *testing.T) {
	report, vcek := loadSample(t)
	// No Getter and no CRL loaded: the check cannot be done, so it fails closed.
	_, err := Verify(report, vcekTable(vcek), VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(), CheckRevocations: true})
	wantCode(t, err, "snp.collateral", "no fresh Milan CRL")
	// Nothing was fetched: the refusal says the verifier is offline.
	if !errors.Is(err, ErrOffline) {
		t.Errorf("err = %v, want it to wrap ErrOffline", err)
	}
}

func TestChainCacheLRU(t *testing.T) {
	c := NewChainCache(2)
	now := sampleNow
	mk := func(b byte) *cacheEntry {
		return &cacheEntry{key: cacheKey{digest: [32]byte{b}, roots: 1}, notBefore: now.Add(-time.Hour), notAfter: now.Add(time.Hour)}
	}
	c.put(mk(1))
	c.put(mk(2))
	if c.get(mk(1).key, now) == nil { // 1 becomes most recent
		t.Fatal("entry 1 missing")
	}
	c.put(mk(3)) // evicts 2
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	if c.get(mk(2).key, now) != nil {
		t.Error("entry 2 survived eviction; want least recently used evicted")
	}
	if c.get(mk(1).key, now) == nil || c.get(mk(3).key, now) == nil {
		t.Error("entries 1 and 3 should be cached")
	}
	if c.get(mk(1).key, now.Add(2*time.Hour)) != nil {
		t.Error("entry used after its chain's notAfter")
	}
	if c.get(cacheKey{digest: [32]byte{1}, roots: 2}, now) != nil {
		t.Error("entry shared across trust stores")
	}
	var nilCache *ChainCache
	if nilCache.get(mk(1).key, now) != nil {
		t.Error("nil cache returned an entry")
	}
	nilCache.put(mk(1)) // must not panic
}

func TestRoots(t *testing.T) {
	r := ProductionRoots()
	if r.Simulated() {
		t.Error("production roots claim to be simulated")
	}
	fps := r.Fingerprints()
	if len(fps) != 3 {
		t.Fatalf("Fingerprints = %v, want 3 ARKs (Milan, Genoa, Turin)", fps)
	}
	for i, fp := range fps {
		if !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
			t.Errorf("fingerprint %q malformed", fp)
		}
		if i > 0 && fps[i-1] >= fp {
			t.Errorf("fingerprints not sorted/unique: %v", fps)
		}
	}
	fps[0] = "mutated"
	if r.Fingerprints()[0] == "mutated" {
		t.Error("Fingerprints exposes internal state")
	}
	for _, line := range []string{ProductMilan, ProductGenoa, ProductTurin} {
		bs := r.forProduct(line)
		if len(bs) != 1 {
			t.Fatalf("%s: %d bundles, want 1 merged VCEK+VLEK bundle", line, len(bs))
		}
		pc := bs[0].ProductCerts
		if pc.Ask == nil || pc.Asvk == nil || pc.Ark == nil {
			t.Fatalf("%s: bundle lacks ASK, ASVK or ARK", line)
		}
		if pc.Ask.Subject.CommonName != "SEV-"+line || pc.Asvk.Subject.CommonName != "SEV-VLEK-"+line {
			t.Errorf("%s: ASK %q / ASVK %q", line, pc.Ask.Subject.CommonName, pc.Asvk.Subject.CommonName)
		}
		if err := pc.Asvk.CheckSignatureFrom(pc.Ark); err != nil {
			t.Errorf("%s: ASVK not signed by the merged ARK: %v", line, err)
		}
		// The VCEK bundle must be the one go-sev-guest itself trusts by default.
		if !pc.Ark.Equal(trust.DefaultRootCerts[line].ProductCerts.Ark) {
			t.Errorf("%s: ARK differs from go-sev-guest's default", line)
		}
	}
	if _, err := NewSimulatedRoots("Naples", milanARK(t), milanARK(t), nil); !errors.Is(err, ErrUnknownProduct) {
		t.Errorf("NewSimulatedRoots(Naples) err = %v, want ErrUnknownProduct", err)
	}
	if _, err := NewSimulatedRoots(ProductMilan, nil, nil, nil); err == nil {
		t.Error("NewSimulatedRoots without certificates succeeded")
	}
	if err := r.SetCRL(ProductMilan, []byte("junk")); err == nil {
		t.Error("SetCRL accepted junk")
	}
}

// mapGetter serves fixed URLs, like an operator's KDS cache; anything else fails.
type mapGetter map[string][]byte

func (m mapGetter) Get(url string) ([]byte, error) {
	if b, ok := m[url]; ok {
		return b, nil
	}
	return nil, errors.New("404 " + url)
}

func TestVerifyFetchesVCEKWithGetter(t *testing.T) {
	report, vcek := loadSample(t)
	rep, err := abi.ReportToProto(report)
	if err != nil {
		t.Fatal(err)
	}
	vcekURL := kds.VCEKCertURL(ProductMilan, rep.GetChipId(), kds.TCBVersion(rep.GetReportedTcb()))
	getter := mapGetter{
		vcekURL: vcek,
		kds.ProductCertChainURL(abi.VcekReportSigner, ProductMilan): trust.AskArkMilanVcekBytes,
	}
	cache := NewChainCache(2)
	res, err := Verify(report, nil, VerifyOptions{ReportData: sampleReportData, Now: sampleNow, Roots: ProductionRoots(), Getter: getter, Cache: cache})
	if err != nil {
		t.Fatalf("Verify with a KDS getter: %v", err)
	}
	digest := sha256.Sum256(vcek)
	if res.Product != ProductMilan || !bytes.Equal(res.VCEKDigest, digest[:]) || cache.Len() != 1 {
		t.Fatalf("product %s digest %x cache %d", res.Product, res.VCEKDigest, cache.Len())
	}
	// A getter that cannot deliver the VCEK yields snp.collateral.
	_, err = Verify(report, nil, VerifyOptions{SkipReportData: true, Now: sampleNow, Roots: ProductionRoots(), Getter: mapGetter{}})
	wantCode(t, err, "snp.collateral", "could not obtain the VCEK")
}

// bound returns opts expecting REPORTDATA rd.
func bound(opts VerifyOptions, rd [64]byte) VerifyOptions {
	opts.ReportData = rd
	return opts
}

// unbound returns opts that skip the REPORTDATA check.
func unbound(opts VerifyOptions) VerifyOptions {
	opts.SkipReportData = true
	return opts
}
