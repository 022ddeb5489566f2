// Package snp verifies and appraises AMD SEV-SNP attestation reports for
// seatrx. Producing reports inside a guest is evidence/attest/snp's job; this
// package never links the guest device client.
//
// Verification is fully offline unless a Getter is supplied: the VCEK/VLEK
// comes from the extended report's GHCB certificate table (or the caller),
// the ARK/ASK come only from the caller's Roots (never from the evidence),
// and the time is always the caller's. It parses with go-sev-guest v0.15.0
// (abi, kds, verify/trust) but checks the chain itself (chain.go), and
// reports every failure as a *check.Error whose Check (signature,
// trust_anchor, ...) callers can branch on.
package snp

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify/trust"

	"github.com/seatrx/seatrx/evidence/check"
)

// ReportSize is the size of an SEV-SNP ATTESTATION_REPORT (abi.ReportSize).
const ReportSize = abi.ReportSize

// maxCertDER bounds a caller-supplied VCEK (a real one is about 1.4 KB).
const maxCertDER = 16 << 10

const platform = check.SNP

// Errors for misuse of the API (not failures of the evidence); they carry no check code.
var (
	// ErrNoTime is returned when VerifyOptions.Now is zero: the verifier never reads the clock itself.
	ErrNoTime = errors.New("snp: VerifyOptions.Now is required")
	// ErrNoRoots is returned when VerifyOptions.Roots is nil.
	ErrNoRoots = errors.New("snp: VerifyOptions.Roots is required")
	// ErrOffline is wrapped when a CRL would have to be fetched and no Getter
	// was given: nothing is ever fetched in that case.
	ErrOffline = errors.New("snp: network access disabled (no Getter configured)")
)

// Signer kinds as they appear in Result.SignerKind and Policy.AllowedSigners.
const (
	SignerVCEK = "vcek"
	SignerVLEK = "vlek"
)

// Result is what a verified report says; the relying party appraises it and records it.
type Result struct {
	Version      uint32
	Product      string // "Milan", "Genoa", "Turin"
	SignerKind   string // "vcek" or "vlek"
	Measurement  []byte // 48 bytes
	ReportData   [64]byte
	HostData     []byte // 32 bytes
	ChipID       []byte // 64 bytes (zero if masked)
	ReportedTCB  uint64
	CommittedTCB uint64
	CurrentTCB   uint64
	GuestPolicy  uint64
	VMPL         uint32
	Debug        bool   // guest policy DEBUG bit
	TrustAnchor  string // fingerprint of the ARK the chain ended at
	Simulated    bool
	VCEKDigest   []byte // sha256 of the VCEK/VLEK DER used
	// RevocationChecked is true when the ASK was checked against the ARK's
	// CRL (VerifyOptions.CheckRevocations); false means revocation was not
	// evaluated.
	RevocationChecked bool
	// ValidUntil is the earliest notAfter of the VCEK/VLEK, ASK/ASVK and
	// ARK: past it, the same report no longer verifies.
	ValidUntil time.Time
}

// VerifyOptions configures Verify.
type VerifyOptions struct {
	// Now is the verification time; required (zero is ErrNoTime, never time.Now()).
	Now time.Time
	// ReportData is the value REPORT_DATA must equal: the relying party's
	// binder for this connection.
	ReportData [64]byte
	// SkipReportData skips the REPORT_DATA comparison, for inspecting
	// evidence bound to nothing the caller knows (the offline CLI).
	SkipReportData bool
	// Roots are the trusted AMD roots; required.
	Roots *Roots
	// VCEK optionally overrides the certificate table's VCEK/VLEK (DER), e.g. the CLI's --vcek.
	VCEK []byte
	// Getter enables AMD KDS access (missing VCEK, CRL). nil = fully offline.
	Getter trust.HTTPSGetter
	// CheckRevocations checks the ARK-signed CRL for a revoked ASK. It needs a
	// Getter or a fresh CRL loaded with Roots.SetCRL; otherwise Verify fails
	// with snp.collateral rather than silently skipping the check.
	CheckRevocations bool
	// Cache optionally holds verified VCEK chains; a hit skips the chain walk.
	Cache *ChainCache
}

// Verify checks an SEV-SNP report and returns what it says.
//
// Order (each failure is a *check.Error): sizes and structure (snp.decode);
// then, unless opts.SkipReportData, REPORT_DATA == opts.ReportData in constant time
// (snp.report_data) — checked first so that a relayed or replayed report is
// reported as such, although nothing in the report is trusted until all the
// later steps pass too; then the VCEK/VLEK: unless a ChainCache entry holds
// it already, its AMD KDS profile (snp.chain), the trusted bundle whose
// intermediate issued it (snp.trust_anchor for an unknown root or product
// line; chosen before the report signature is checked), every certificate's
// validity at opts.Now (snp.time) and the X.509 path (snp.chain); then the
// report signature (snp.signature); then consistency of the report with the
// certificate (REPORTED_TCB, CURRENT_TCB, CHIP_ID: snp.chain) and optional
// revocation (snp.collateral when no fresh CRL can be had).
// certTable is the GHCB GUID table; it may be empty if opts.VCEK is set or
// opts.Getter may fetch the VCEK from AMD KDS. The ASK/ARK in the table are
// ignored: trust comes only from opts.Roots.
func Verify(report, certTable []byte, opts VerifyOptions) (*Result, error) {
	if opts.Now.IsZero() {
		return nil, ErrNoTime
	}
	if opts.Roots == nil {
		return nil, ErrNoRoots
	}
	if len(report) != ReportSize {
		return nil, check.Errorf(platform, check.Decode, "report: %d bytes, want %d", len(report), ReportSize)
	}
	if len(certTable) > MaxCertTableSize {
		return nil, check.Errorf(platform, check.Decode, "cert_table: %d bytes exceeds the %d-byte limit", len(certTable), MaxCertTableSize)
	}
	if len(opts.VCEK) > maxCertDER {
		return nil, check.Errorf(platform, check.Decode, "vcek option: %d bytes exceeds the %d-byte limit", len(opts.VCEK), maxCertDER)
	}
	if err := abi.ValidateReportFormat(report); err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "report: version/policy")
	}
	rep, err := abi.ReportToProto(report)
	if err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "report: reserved fields")
	}
	if !opts.SkipReportData && subtle.ConstantTimeCompare(rep.GetReportData(), opts.ReportData[:]) != 1 {
		return nil, check.Errorf(platform, check.ReportData,
			"REPORT_DATA %x does not match the value computed for this connection %x", rep.GetReportData(), opts.ReportData[:])
	}
	table, err := ParseCertTable(certTable)
	if err != nil {
		return nil, err
	}
	info, err := abi.ParseSignerInfo(rep.GetSignerInfo())
	if err != nil {
		return nil, check.Wrap(platform, check.Decode, err, "report: signer_info")
	}
	if rep.GetSignatureAlgo() != abi.SignEcdsaP384Sha384 {
		return nil, check.Errorf(platform, check.Decode, "report: signature_algo %d is not ECDSA P-384/SHA-384", rep.GetSignatureAlgo())
	}
	// The product line: from CPUID FMS in v3+ reports, else from the VCEK (below).
	var line string
	if fms := rep.GetCpuid1EaxFms(); fms != 0 {
		line = kds.ProductLineFromFms(fms)
		if !knownProduct(line) {
			return nil, check.Errorf(platform, check.TrustAnchor, "report: CPUID family/model 0x%08x is not a known SEV-SNP product", fms)
		}
	}

	if info.SigningKey != abi.VcekReportSigner && info.SigningKey != abi.VlekReportSigner {
		return nil, check.Errorf(platform, check.Signature, "report: SIGNING_KEY is %v; the report is not signed by a VCEK or VLEK", info.SigningKey)
	}
	ekDER := endorsementKey(info.SigningKey, table, opts.VCEK)
	if len(ekDER) == 0 {
		if opts.Getter == nil {
			return nil, check.Errorf(platform, check.Chain,
				"no %v certificate: none in the cert table, none supplied, and fetching is disabled", info.SigningKey)
		}
		if ekDER, err = fetchEK(rep, info.SigningKey, line, &opts); err != nil {
			return nil, err
		}
	}
	v := &verifier{rep: rep, raw: report, signer: info.SigningKey, line: line, opts: &opts, digest: sha256.Sum256(ekDER)}
	key := cacheKey{digest: v.digest, roots: opts.Roots.id}
	if e := opts.Cache.get(key, opts.Now); e != nil && e.signer == v.signer && (line == "" || line == e.product) {
		return v.warm(e)
	}
	return v.cold(ekDER)
}

// endorsementKey is the certificate of the key that signs a report: the
// override (the caller's --vcek) if given, else the table's VCEK or VLEK as
// the report's SIGNING_KEY says; nil if there is none.
func endorsementKey(signer abi.ReportSigner, table *CertTable, override []byte) []byte {
	switch {
	case len(override) > 0:
		return override
	case signer == abi.VcekReportSigner:
		return table.VCEK
	case signer == abi.VlekReportSigner:
		return table.VLEK
	}
	return nil
}

// verifier carries one Verify call's state between the cold and warm paths.
type verifier struct {
	rep    *spb.Report
	raw    []byte
	signer abi.ReportSigner
	line   string
	opts   *VerifyOptions
	digest [32]byte
}

// warm verifies with a cached chain: only the report signature is checked.
func (v *verifier) warm(e *cacheEntry) (*Result, error) {
	if err := reportSignature(v.raw, e.cert, v.signer); err != nil {
		return nil, err
	}
	return v.finish(e)
}

// cold verifies the endorsement key: its KDS profile, the bundle that issued
// it (chosen before any report signature is checked), its chain, and then
// the report signature. Each signature is verified once.
func (v *verifier) cold(ekDER []byte) (*Result, error) {
	cert, err := x509.ParseCertificate(ekDER)
	if err != nil {
		return nil, check.Wrap(platform, check.Chain, err, "%v certificate is not valid DER", v.signer)
	}
	exts, err := checkEKProfile(cert, v.signer)
	if err != nil {
		return nil, err
	}
	if v.line == "" { // v2 report: the product comes from the certificate.
		p, err := kds.ParseProductName(exts.ProductName, v.signer)
		if err != nil {
			return nil, check.Wrap(platform, check.Chain, err, "%v certificate productName", v.signer)
		}
		v.line = kds.ProductLine(p)
	}
	if err := checkAMDName("issuer", &cert.Issuer, icaName(v.line, v.signer)); err != nil {
		return nil, check.Wrap(platform, check.Chain, err, "%v certificate does not follow the AMD KDS profile", v.signer)
	}
	bundles := v.opts.Roots.forProduct(v.line)
	if len(bundles) == 0 {
		return nil, check.Errorf(platform, check.TrustAnchor, "no trusted AMD roots for product line %s (trusted: %v)", v.line, v.opts.Roots.Fingerprints())
	}
	root, err := selectBundle(cert, bundles, v.signer, v.opts.Roots)
	if err != nil {
		return nil, err
	}
	if err := verifyChain(cert, root, v.signer, v.opts.Now); err != nil {
		return nil, err
	}
	if err := reportSignature(v.raw, cert, v.signer); err != nil {
		return nil, err
	}
	nb, na := chainWindow(cert, intermediate(root, v.signer), root.ProductCerts.Ark)
	e := &cacheEntry{
		key:  cacheKey{digest: v.digest, roots: v.opts.Roots.id},
		cert: cert, exts: exts, signer: v.signer, product: root.GetProductLine(), root: root,
		anchor: ARKFingerprint(root.ProductCerts.Ark), notBefore: nb, notAfter: na,
	}
	res, err := v.finish(e)
	if err != nil {
		return nil, err
	}
	v.opts.Cache.put(e)
	return res, nil
}

// finish runs the checks common to both paths and builds the Result.
func (v *verifier) finish(e *cacheEntry) (*Result, error) {
	rep := v.rep
	if err := consistent(rep, e); err != nil {
		return nil, err
	}
	if v.opts.CheckRevocations {
		if err := checkRevocation(e.root, v.opts); err != nil {
			return nil, err
		}
	}
	pol, err := abi.ParseSnpPolicy(rep.GetPolicy())
	if err != nil { // already validated by ReportToProto
		return nil, check.Wrap(platform, check.Decode, err, "report: policy")
	}
	res := &Result{
		Version:      rep.GetVersion(),
		Product:      e.product,
		SignerKind:   SignerVCEK,
		Measurement:  bytes.Clone(rep.GetMeasurement()),
		HostData:     bytes.Clone(rep.GetHostData()),
		ChipID:       bytes.Clone(rep.GetChipId()),
		ReportedTCB:  rep.GetReportedTcb(),
		CommittedTCB: rep.GetCommittedTcb(),
		CurrentTCB:   rep.GetCurrentTcb(),
		GuestPolicy:  rep.GetPolicy(),
		VMPL:         rep.GetVmpl(),
		Debug:        pol.Debug,
		TrustAnchor:  e.anchor,
		Simulated:    v.opts.Roots.Simulated(),
		VCEKDigest:   bytes.Clone(v.digest[:]),
		// checkRevocation above either passed or ended the verification.
		RevocationChecked: v.opts.CheckRevocations,
		ValidUntil:        e.notAfter,
	}
	if v.signer == abi.VlekReportSigner {
		res.SignerKind = SignerVLEK
	}
	copy(res.ReportData[:], rep.GetReportData())
	return res, nil
}

// consistent checks that the VCEK/VLEK endorses this report's state, as
// go-sev-guest's validate package does, but component-wise so that Turin's
// TCB layout (unknown to kds v0.15.0) is handled: REPORTED_TCB must equal the
// certificate's TCB, CURRENT_TCB must be at least it, and a non-zero CHIP_ID
// must equal the VCEK's HWID.
func consistent(rep *spb.Report, e *cacheEntry) error {
	cp := kds.DecomposeTCBVersion(e.exts.TCBVersion) // per-OID values, layout-independent
	certTCB := TCB{BootLoader: cp.BlSpl, TEE: cp.TeeSpl, SNP: cp.SnpSpl, Microcode: cp.UcodeSpl}
	reported := DecomposeTCB(e.product, rep.GetReportedTcb())
	current := DecomposeTCB(e.product, rep.GetCurrentTcb())
	reported.FMC, current.FMC = 0, 0 // no FMC OID in kds v0.15.0
	if (e.product != ProductTurin && rep.GetReportedTcb() != uint64(e.exts.TCBVersion)) || reported != certTCB {
		return check.Errorf(platform, check.Chain, "REPORTED_TCB %v (0x%x) is not the TCB %v the %v certifies",
			reported, rep.GetReportedTcb(), certTCB, e.signer)
	}
	if !current.AtLeast(certTCB) {
		return check.Errorf(platform, check.Chain, "CURRENT_TCB %v is below the %v's TCB %v", current, e.signer, certTCB)
	}
	if e.signer == abi.VcekReportSigner && !allZero(rep.GetChipId()) && !bytes.Equal(rep.GetChipId(), e.exts.HWID) {
		return check.Errorf(platform, check.Chain, "CHIP_ID %x is not the VCEK's HWID %x", rep.GetChipId(), e.exts.HWID)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// ReportDataOffset is the offset of REPORT_DATA in an ATTESTATION_REPORT
// (AMD SEV-SNP ABI, table "ATTESTATION_REPORT Structure").
const ReportDataOffset = 0x50

// UnverifiedReportData returns the REPORT_DATA of a report of the right size
// WITHOUT verifying anything: for a guest checking its own driver's output,
// or to explain a failed binding check. Never base a trust decision on it.
func UnverifiedReportData(report []byte) (rd [64]byte, ok bool) {
	if len(report) != ReportSize {
		return rd, false
	}
	copy(rd[:], report[ReportDataOffset:])
	return rd, true
}
