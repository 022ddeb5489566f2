package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seatrx/seatrx/evidence/snp"
)

// SNPDefaultTCB is the VCEK TCB a simulated authority certifies when
// SNPOptions.TCB is zero (a plausible Genoa firmware level).
var SNPDefaultTCB = snp.TCB{BootLoader: 9, TEE: 0, SNP: 23, Microcode: 72}

// snpSimCSPID is the CSP_ID of simulated VLEKs; it says what they are.
const snpSimCSPID = "seatrx-simulated-not-amd"

// Validity periods as AMD issues them (KDS spec): ARK/ASK/ASVK 25 years, VCEK 7.
const (
	snpRootYears = 25
	snpVCEKYears = 7
)

// SNPOptions configures GenerateSNP. The zero value gives a Genoa authority
// with SNPDefaultTCB, a random CHIP_ID, no VLEK, valid from now.
type SNPOptions struct {
	// Product is the product line: "Milan", "Genoa" (default) or "Turin".
	Product string
	// TCB is what the VCEK certifies; zero means SNPDefaultTCB. FMC (Turin) is
	// carried in reports but, like go-sev-guest v0.15.0, not in the certificate.
	TCB snp.TCB
	// ChipID is the VCEK HWID and reports' CHIP_ID; zero means random.
	ChipID [64]byte
	// VLEK also creates an ASVK and a VLEK so guests can sign with either key.
	VLEK bool
	// Now is the start of every certificate's validity; zero means time.Now().
	Now time.Time
	// RSABits is the ARK/ASK/ASVK key size; 0 means 2048 (go-sev-guest's
	// verifier accepts it and it keeps generation fast; AMD's are 4096).
	RSABits int
}

// SNPAuthority is a locally generated fake AMD PKI: ARK and ASK (RSA keys,
// RSASSA-PSS/SHA-384 signatures, as AMD's), a VCEK (ECDSA P-384) carrying the
// KDS TCB/HWID/productName extensions, and optionally ASVK + VLEK. Its
// certificates use AMD's names (the verifier insists on them), so it must
// only ever be trusted through Roots(), which is marked Simulated.
// It is immutable after creation and safe for concurrent use.
type SNPAuthority struct {
	product                 string
	tcb                     snp.TCB
	chipID                  [64]byte
	ark, ask, asvk          *x509.Certificate
	vcek, vlek              *x509.Certificate
	arkKey, askKey, asvkKey *rsa.PrivateKey
	vcekKey, vlekKey        *ecdsa.PrivateKey
	roots                   *snp.Roots
}

// GenerateSNP creates a new simulated AMD PKI with fresh keys from crypto/rand.
func GenerateSNP(opts SNPOptions) (*SNPAuthority, error) {
	if opts.Product == "" {
		opts.Product = snp.ProductGenoa
	}
	if opts.Product != snp.ProductMilan && opts.Product != snp.ProductGenoa && opts.Product != snp.ProductTurin {
		return nil, fmt.Errorf("sim: SNP product %q: %w", opts.Product, snp.ErrUnknownProduct)
	}
	if opts.TCB == (snp.TCB{}) {
		opts.TCB = SNPDefaultTCB
	}
	if opts.ChipID == ([64]byte{}) {
		if _, err := rand.Read(opts.ChipID[:]); err != nil {
			return nil, fmt.Errorf("sim: SNP chip id: %w", err)
		}
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.RSABits == 0 {
		opts.RSABits = 2048
	}
	a := &SNPAuthority{product: opts.Product, tcb: opts.TCB, chipID: opts.ChipID}
	var err error
	if a.arkKey, err = rsa.GenerateKey(rand.Reader, opts.RSABits); err != nil {
		return nil, fmt.Errorf("sim: SNP ARK key: %w", err)
	}
	if a.askKey, err = rsa.GenerateKey(rand.Reader, opts.RSABits); err != nil {
		return nil, fmt.Errorf("sim: SNP ASK key: %w", err)
	}
	if a.vcekKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return nil, fmt.Errorf("sim: SNP VCEK key: %w", err)
	}
	nb := opts.Now
	rootNA := nb.AddDate(snpRootYears, 0, 0)
	if a.ark, err = snpCACert(snpName("ARK-"+a.product), a.product, abi.VcekReportSigner, nil, a.arkKey, &a.arkKey.PublicKey, nb, rootNA); err != nil {
		return nil, fmt.Errorf("sim: SNP ARK: %w", err)
	}
	if a.ask, err = snpCACert(snpName("SEV-"+a.product), a.product, abi.VcekReportSigner, a.ark, a.arkKey, &a.askKey.PublicKey, nb, rootNA); err != nil {
		return nil, fmt.Errorf("sim: SNP ASK: %w", err)
	}
	exts, err := snpKDSExtensions(a.product, a.tcb, a.chipID[:], "")
	if err != nil {
		return nil, err
	}
	if a.vcek, err = snpEKCert("SEV-VCEK", exts, a.ask, a.askKey, &a.vcekKey.PublicKey, nb, nb.AddDate(snpVCEKYears, 0, 0)); err != nil {
		return nil, fmt.Errorf("sim: SNP VCEK: %w", err)
	}
	if opts.VLEK {
		if a.asvkKey, err = rsa.GenerateKey(rand.Reader, opts.RSABits); err != nil {
			return nil, fmt.Errorf("sim: SNP ASVK key: %w", err)
		}
		if a.vlekKey, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			return nil, fmt.Errorf("sim: SNP VLEK key: %w", err)
		}
		if a.asvk, err = snpCACert(snpName("SEV-VLEK-"+a.product), a.product, abi.VlekReportSigner, a.ark, a.arkKey, &a.asvkKey.PublicKey, nb, rootNA); err != nil {
			return nil, fmt.Errorf("sim: SNP ASVK: %w", err)
		}
		vexts, err := snpKDSExtensions(a.product, a.tcb, nil, snpSimCSPID)
		if err != nil {
			return nil, err
		}
		if a.vlek, err = snpEKCert("SEV-VLEK", vexts, a.asvk, a.asvkKey, &a.vlekKey.PublicKey, nb, nb.AddDate(snpVCEKYears, 0, 0)); err != nil {
			return nil, fmt.Errorf("sim: SNP VLEK: %w", err)
		}
	}
	if err := a.init(); err != nil {
		return nil, err
	}
	return a, nil
}

// init builds the trust store once so that its identity (and ChainCache hits) is stable.
func (a *SNPAuthority) init() error {
	r, err := snp.NewSimulatedRoots(a.product, a.ark, a.ask, a.asvk)
	if err != nil {
		return fmt.Errorf("sim: SNP roots: %w", err)
	}
	a.roots = r
	return nil
}

// snpName is an AMD-style distinguished name; go-sev-guest checks these fields.
func snpName(cn string) pkix.Name {
	return pkix.Name{
		Country: []string{"US"}, Locality: []string{"Santa Clara"}, Province: []string{"CA"},
		Organization: []string{"Advanced Micro Devices"}, OrganizationalUnit: []string{"Engineering"},
		CommonName: cn,
	}
}

func snpSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// snpCACert issues an ARK (parent == nil: self-signed), ASK or ASVK.
func snpCACert(subject pkix.Name, product string, kind abi.ReportSigner, parent *x509.Certificate, signer *rsa.PrivateKey, pub *rsa.PublicKey, nb, na time.Time) (*x509.Certificate, error) {
	sn, err := snpSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: subject, NotBefore: nb, NotAfter: na,
		SignatureAlgorithm:    x509.SHA384WithRSAPSS,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		IsCA:                  true,
		BasicConstraintsValid: true,
		CRLDistributionPoints: []string{kds.CrlLinkByKey(product, kind)},
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// snpEKCert issues a VCEK or VLEK. It carries only KDS extensions (plus the
// authority key id), as kds.CertificateExtensions rejects any other.
func snpEKCert(cn string, exts []pkix.Extension, parent *x509.Certificate, signer *rsa.PrivateKey, pub *ecdsa.PublicKey, nb, na time.Time) (*x509.Certificate, error) {
	sn, err := snpSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: snpName(cn), NotBefore: nb, NotAfter: na,
		SignatureAlgorithm: x509.SHA384WithRSAPSS,
		ExtraExtensions:    exts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// snpKDSExtensions builds the AMD KDS extensions of a VCEK (hwid != nil) or VLEK (cspID).
func snpKDSExtensions(product string, t snp.TCB, hwid []byte, cspID string) ([]pkix.Extension, error) {
	name := product // VLEK productName has no stepping
	if hwid != nil {
		name = kds.ProductName(&spb.SevProduct{Name: snpProductEnum(product), MachineStepping: wrapperspb.UInt32(1)})
	}
	var exts []pkix.Extension
	add := func(id asn1.ObjectIdentifier, v any, params string) error {
		b, err := asn1.MarshalWithParams(v, params)
		if err != nil {
			return fmt.Errorf("sim: SNP KDS extension %v: %w", id, err)
		}
		exts = append(exts, pkix.Extension{Id: id, Value: b})
		return nil
	}
	ints := []struct {
		id asn1.ObjectIdentifier
		v  uint8
	}{
		{kds.OidStructVersion, 0}, {kds.OidBlSpl, t.BootLoader}, {kds.OidTeeSpl, t.TEE}, {kds.OidSnpSpl, t.SNP},
		{kds.OidSpl4, 0}, {kds.OidSpl5, 0}, {kds.OidSpl6, 0}, {kds.OidSpl7, 0}, {kds.OidUcodeSpl, t.Microcode},
	}
	if err := add(kds.OidProductName1, name, "ia5"); err != nil {
		return nil, err
	}
	for _, x := range ints {
		if err := add(x.id, int(x.v), ""); err != nil {
			return nil, err
		}
	}
	if hwid != nil {
		if err := add(kds.OidHwid, hwid, ""); err != nil {
			return nil, err
		}
	} else if err := add(kds.OidCspID, cspID, "ia5"); err != nil {
		return nil, err
	}
	return exts, nil
}

func snpProductEnum(product string) spb.SevProduct_SevProductName {
	switch product {
	case snp.ProductMilan:
		return spb.SevProduct_SEV_PRODUCT_MILAN
	case snp.ProductTurin:
		return spb.SevProduct_SEV_PRODUCT_TURIN
	default:
		return spb.SevProduct_SEV_PRODUCT_GENOA
	}
}

// Roots returns the trust store holding this authority's ARK/ASK (and ASVK);
// Simulated() is true. The same value is returned on every call.
func (a *SNPAuthority) Roots() *snp.Roots { return a.roots }

// Product returns the authority's product line.
func (a *SNPAuthority) Product() string { return a.product }

// TCB returns the TCB its VCEK certifies.
func (a *SNPAuthority) TCB() snp.TCB { return a.tcb }

// ChipID returns the VCEK HWID (the CHIP_ID of unmasked reports).
func (a *SNPAuthority) ChipID() [64]byte { return a.chipID }

// ARK returns the simulated AMD root key certificate.
func (a *SNPAuthority) ARK() *x509.Certificate { return a.ark }

// ASK returns the simulated AMD SEV signing key certificate.
func (a *SNPAuthority) ASK() *x509.Certificate { return a.ask }

// VCEK returns the simulated chip endorsement key certificate.
func (a *SNPAuthority) VCEK() *x509.Certificate { return a.vcek }

// CRL returns a DER CRL signed by the ARK, valid [thisUpdate, nextUpdate),
// optionally revoking the ASK, for exercising snp.Roots.SetCRL and revocation.
func (a *SNPAuthority) CRL(thisUpdate, nextUpdate time.Time, revokeASK bool) ([]byte, error) {
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
		SignatureAlgorithm: x509.SHA384WithRSAPSS}
	if revokeASK {
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: a.ask.SerialNumber, RevocationTime: thisUpdate}}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, a.ark, a.arkKey)
	if err != nil {
		return nil, fmt.Errorf("sim: SNP CRL: %w", err)
	}
	return der, nil
}

// SNPGuestConfig describes the simulated guest whose reports SNPGuest signs.
// Every field's zero value is the "good" choice except the policy knobs,
// which tests flip to produce evidence a policy must reject.
type SNPGuestConfig struct {
	Measurement    [48]byte
	HostData       [32]byte
	Debug          bool // guest policy DEBUG
	SMT            bool // guest policy SMT allowed
	MigrationAgent bool // guest policy MIGRATE_MA
	VMPL           uint32
	GuestSVN       uint32
	// ReportedTCB overrides REPORTED/CURRENT/COMMITTED/LAUNCH_TCB; nil means the
	// authority's TCB. A value the VCEK does not certify makes inconsistent evidence.
	ReportedTCB *snp.TCB
	// Signer is "vcek" (default) or "vlek" (needs SNPOptions.VLEK).
	Signer string
	// MaskChipID zeroes CHIP_ID, as a host with SNP_CONFIG.MASK_CHIP_ID does.
	MaskChipID bool
	// Version is the report version, 2..5; 0 means 3 (carries CPUID FMS).
	Version uint32
}

// SNPGuest makes real-format attestation reports over any REPORT_DATA,
// signed by its authority's VCEK or VLEK with crypto/rand. Safe for
// concurrent use as long as the configuration is not modified meanwhile.
type SNPGuest struct {
	SNPGuestConfig
	a *SNPAuthority
}

// Guest returns a simulated guest of this authority.
func (a *SNPAuthority) Guest(c SNPGuestConfig) *SNPGuest { return &SNPGuest{SNPGuestConfig: c, a: a} }

// ErrSNPNoVLEK is returned when a guest asks for VLEK signing from an authority without a VLEK.
var ErrSNPNoVLEK = errors.New("sim: SNP authority has no VLEK (set SNPOptions.VLEK)")

// Quote returns a signed report carrying reportData and the GHCB certificate
// table (ARK, ASK, VCEK, and ASVK/VLEK if present): the same shape as
// snp.Attester.Quote.
func (g *SNPGuest) Quote(reportData [64]byte) (report, certTable []byte, err error) {
	a := g.a
	signer, key := abi.VcekReportSigner, a.vcekKey
	switch g.Signer {
	case "", snp.SignerVCEK:
	case snp.SignerVLEK:
		if a.vlekKey == nil {
			return nil, nil, ErrSNPNoVLEK
		}
		signer, key = abi.VlekReportSigner, a.vlekKey
	default:
		return nil, nil, fmt.Errorf("sim: SNP signer %q is not vcek or vlek", g.Signer)
	}
	version := g.Version
	if version == 0 {
		version = abi.ReportVersion3
	}
	if version < abi.MinSupportedReportVersion || version > abi.MaxSupportedReportVersion {
		return nil, nil, fmt.Errorf("sim: SNP report version %d is not %d..%d", version, abi.MinSupportedReportVersion, abi.MaxSupportedReportVersion)
	}
	t := a.tcb
	if g.ReportedTCB != nil {
		t = *g.ReportedTCB
	}
	tcb := snp.ComposeTCB(a.product, t)
	chipID := a.chipID
	if g.MaskChipID {
		chipID = [64]byte{}
	}
	reportID := make([]byte, 32)
	if _, err := rand.Read(reportID); err != nil {
		return nil, nil, fmt.Errorf("sim: SNP report id: %w", err)
	}
	noMA := make([]byte, 32)
	for i := range noMA {
		noMA[i] = 0xff
	}
	rep := &spb.Report{
		Version:  version,
		GuestSvn: g.GuestSVN,
		Policy: abi.SnpPolicyToBytes(abi.SnpPolicy{ABIMajor: 1, ABIMinor: 55,
			Debug: g.Debug, SMT: g.SMT, MigrateMA: g.MigrationAgent}),
		FamilyId: make([]byte, 16), ImageId: make([]byte, 16),
		Vmpl:          g.VMPL,
		SignatureAlgo: abi.SignEcdsaP384Sha384,
		CurrentTcb:    tcb,
		SignerInfo:    abi.ComposeSignerInfo(abi.SignerInfo{SigningKey: signer}),
		ReportData:    reportData[:],
		Measurement:   g.Measurement[:],
		HostData:      g.HostData[:],
		IdKeyDigest:   make([]byte, 48), AuthorKeyDigest: make([]byte, 48),
		ReportId: reportID, ReportIdMa: noMA,
		ReportedTcb:  tcb,
		ChipId:       chipID[:],
		CommittedTcb: tcb, LaunchTcb: tcb,
		CurrentBuild: 21, CurrentMinor: 55, CurrentMajor: 1,
		CommittedBuild: 21, CommittedMinor: 55, CommittedMajor: 1,
		Signature: make([]byte, abi.SignatureSize),
	}
	if version >= abi.ReportVersion3 {
		rep.Cpuid1EaxFms = abi.MaskedCpuid1EaxFromSevProduct(&spb.SevProduct{Name: snpProductEnum(a.product), MachineStepping: wrapperspb.UInt32(1)})
	}
	raw, err := abi.ReportToAbiBytes(rep)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: SNP report: %w", err)
	}
	digest := sha512.Sum384(abi.SignedComponent(raw))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return nil, nil, fmt.Errorf("sim: SNP sign: %w", err)
	}
	if err := abi.SetSignature(r, s, raw); err != nil {
		return nil, nil, fmt.Errorf("sim: SNP signature: %w", err)
	}
	return raw, a.certTable(), nil
}

// certTable marshals the GHCB GUID table of the authority's certificates.
func (a *SNPAuthority) certTable() []byte {
	t := &abi.CertTable{Entries: []abi.CertTableEntry{
		{GUID: uuid.MustParse(abi.ArkGUID), RawCert: a.ark.Raw},
		{GUID: uuid.MustParse(abi.AskGUID), RawCert: a.ask.Raw},
		{GUID: uuid.MustParse(abi.VcekGUID), RawCert: a.vcek.Raw},
	}}
	if a.vlek != nil {
		t.Entries = append(t.Entries,
			abi.CertTableEntry{GUID: uuid.MustParse(abi.AsvkGUID), RawCert: a.asvk.Raw},
			abi.CertTableEntry{GUID: uuid.MustParse(abi.VlekGUID), RawCert: a.vlek.Raw})
	}
	return t.Marshal()
}
