package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/seatrx/seatrx/evidence/tdx"
)

// Simulated Intel PKI names. The CNs must be exactly Intel's (go-tdx-guest
// checks them); the organisation says loudly that this is not Intel.
const (
	tdxSimOrg      = "seatrx simulated TEE - NOT INTEL"
	tdxRootCN      = "Intel SGX Root CA"
	tdxPCKCACN     = "Intel SGX PCK Platform CA"
	tdxPCKCN       = "Intel SGX PCK Certificate"
	tdxTCBSignCN   = "Intel SGX TCB Signing"
	tdxRootCRLURL  = "https://sim.seatrx.invalid/IntelSGXRootCA.der"
	tdxPCKCRLURL   = "https://sim.seatrx.invalid/pckcrl?ca=platform"
	tdxQEISVProdID = 2
	tdxQEISVSVN    = 4
)

var (
	// TDXUpToDateTEETCBSVN is the TEE_TCB_SVN that the simulated TCB info rates UpToDate.
	TDXUpToDateTEETCBSVN = [16]byte{3, 0, 4}
	// TDXOutOfDateTEETCBSVN is rated OutOfDate; anything below it matches no level.
	TDXOutOfDateTEETCBSVN = [16]byte{2, 0, 2}

	tdxQEVendorID = []byte{0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07}
	tdxQEMrSigner = sha256.Sum256([]byte("seatrx simulated TDX quoting enclave signer"))
	tdxQEMrEncl   = sha256.Sum256([]byte("seatrx simulated TDX quoting enclave"))
	tdxQEAttrs    = []byte{0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

	tdxOIDSGXType = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 5}
)

// TDXOptions parameterises GenerateTDX. Zero values select defaults.
type TDXOptions struct {
	Now      time.Time     // start of certificate validity (minus one hour); zero = time.Now()
	Validity time.Duration // certificate lifetime; zero = 10 years
	FMSPC    [6]byte       // zero = 00806f050000
	PCESVN   uint16        // zero = 11
	// SGXTCBComponents are the PCK certificate's 16 SGX TCB component SVNs; zero = all 2.
	SGXTCBComponents [16]byte
}

// TDXAuthority is a simulated Intel PKI: root -> "Intel SGX PCK Platform CA"
// -> PCK certificate (with the SGX extension) -> QE report -> attestation
// key, plus an "Intel SGX TCB Signing" certificate for mock collateral.
type TDXAuthority struct {
	root, pckCA, pck, tcbSigner             *x509.Certificate
	rootKey, pckCAKey, pckKey, tcbSignerKey *ecdsa.PrivateKey
	attKey                                  *ecdsa.PrivateKey
	exts                                    *pcs.PckExtensions
}

// GenerateTDX creates a fresh simulated Intel PKI and attestation key.
func GenerateTDX(opts TDXOptions) (*TDXAuthority, error) {
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Validity == 0 {
		opts.Validity = 10 * 365 * 24 * time.Hour
	}
	if opts.FMSPC == ([6]byte{}) {
		opts.FMSPC = [6]byte{0x00, 0x80, 0x6f, 0x05, 0x00, 0x00}
	}
	if opts.PCESVN == 0 {
		opts.PCESVN = 11
	}
	if opts.SGXTCBComponents == ([16]byte{}) {
		for i := range opts.SGXTCBComponents {
			opts.SGXTCBComponents[i] = 2
		}
	}
	a := &TDXAuthority{}
	var err error
	nb, na := opts.Now.Add(-time.Hour), opts.Now.Add(opts.Validity)
	// Like Intel's, the root names its CRL (go-tdx-guest fetches the root CRL from it).
	if a.root, a.rootKey, err = tdxCert(tdxRootCN, nil, nil, true, nb, na, func(t *x509.Certificate) {
		t.CRLDistributionPoints = []string{tdxRootCRLURL}
	}); err != nil {
		return nil, err
	}
	if a.pckCA, a.pckCAKey, err = tdxCert(tdxPCKCACN, a.root, a.rootKey, true, nb, na, func(t *x509.Certificate) {
		t.CRLDistributionPoints = []string{tdxRootCRLURL}
	}); err != nil {
		return nil, err
	}
	ext, err := tdxSGXExtension(opts)
	if err != nil {
		return nil, err
	}
	if a.pck, a.pckKey, err = tdxCert(tdxPCKCN, a.pckCA, a.pckCAKey, false, nb, na, func(t *x509.Certificate) {
		t.CRLDistributionPoints = []string{tdxPCKCRLURL}
		t.ExtraExtensions = []pkix.Extension{ext} // pcs requires exactly AKI, CRLDP, SKI, KU, BC, SGX
	}); err != nil {
		return nil, err
	}
	if a.tcbSigner, a.tcbSignerKey, err = tdxCert(tdxTCBSignCN, a.root, a.rootKey, false, nb, na, nil); err != nil {
		return nil, err
	}
	if a.attKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, fmt.Errorf("sim: tdx attestation key: %w", err)
	}
	if err := a.init(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *TDXAuthority) init() error {
	exts, err := pcs.PckCertificateExtensions(a.pck)
	if err != nil {
		return fmt.Errorf("sim: tdx PCK extension: %w", err)
	}
	a.exts = exts
	return nil
}

// tdxCert issues an ECDSA P-256 / ECDSA-SHA256 certificate (what
// go-tdx-guest requires) signed by parent, or self-signed when parent is nil.
func tdxCert(cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool, nb, na time.Time, mod func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: tdx key for %q: %w", cn, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("sim: tdx serial: %w", err)
	}
	ski := sha256.Sum256(elliptic.MarshalCompressed(elliptic.P256(), k.X, k.Y))
	t := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{tdxSimOrg}},
		NotBefore:             nb,
		NotAfter:              na,
		SubjectKeyId:          ski[:20],
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		SignatureAlgorithm:    x509.ECDSAWithSHA256,
	}
	if isCA {
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		t.MaxPathLen = 1
	}
	if mod != nil {
		mod(t)
	}
	if parent == nil {
		parent, parentKey = t, k
	}
	der, err := x509.CreateCertificate(rand.Reader, t, parent, &k.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: tdx certificate %q: %w", cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: tdx certificate %q: %w", cn, err)
	}
	return c, k, nil
}

type tdxAttr struct {
	Type  asn1.ObjectIdentifier
	Value any
}

// tdxSGXExtension builds the Intel SGX PCK certificate extension
// (OID 1.2.840.113741.1.13.1) in the exact shape go-tdx-guest/pcs parses:
// PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type.
func tdxSGXExtension(o TDXOptions) (pkix.Extension, error) {
	tcb := make([]tdxAttr, 0, 18)
	for i, svn := range o.SGXTCBComponents {
		tcb = append(tcb, tdxAttr{append(append(asn1.ObjectIdentifier{}, pcs.OidTCB...), i+1), int64(svn)})
	}
	tcb = append(tcb, tdxAttr{pcs.OidPCESvn, int64(o.PCESVN)}, tdxAttr{pcs.OidCPUSvn, o.SGXTCBComponents[:]})
	ppid := sha256.Sum256(append([]byte("seatrx simulated PPID"), o.FMSPC[:]...))
	val, err := asn1.Marshal([]tdxAttr{
		{pcs.OidPPID, ppid[:16]},
		{pcs.OidTCB, tcb},
		{pcs.OidPCEID, []byte{0, 0}},
		{pcs.OidFMSPC, o.FMSPC[:]},
		{tdxOIDSGXType, asn1.Enumerated(0)},
	})
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("sim: tdx SGX extension: %w", err)
	}
	return pkix.Extension{Id: pcs.OidSgxExtension, Value: val}, nil
}

// Roots returns the simulated root, marked simulated.
func (a *TDXAuthority) Roots() *tdx.Roots {
	return tdx.NewRoots([]*x509.Certificate{a.root}, true)
}

// TDXGuestConfig describes the TD a simulated quote speaks for. A zero
// TEETCBSVN means TDXUpToDateTEETCBSVN.
type TDXGuestConfig struct {
	// QuoteVersion is 4 (the default when 0) or 5 (what TDX 1.5 hosts produce).
	QuoteVersion int
	// BodyType selects a v5 quote's body: tdx.BodyTDX15 (the default when 0)
	// or tdx.BodyTDX10. v4 quotes always carry a TD 1.0 body.
	BodyType uint16
	// TEETCBSVN2 and MRServiceTD fill the TD 1.5 body; a zero TEETCBSVN2
	// means TEETCBSVN (no TD-preserving module update since launch).
	TEETCBSVN2    [16]byte
	MRServiceTD   [48]byte
	MRTD          [48]byte
	RTMRs         [4][48]byte
	MRSeam        [48]byte
	MRConfigID    [48]byte
	MROwner       [48]byte
	MROwnerConfig [48]byte
	XFAM          [8]byte
	Debug         bool // sets TD_ATTRIBUTES.DEBUG
	TEETCBSVN     [16]byte
}

// TDXGuest produces quotes for one simulated TD.
type TDXGuest struct {
	a *TDXAuthority
	c TDXGuestConfig
}

// Guest returns a simulated TD with configuration c.
func (a *TDXAuthority) Guest(c TDXGuestConfig) *TDXGuest {
	if c.TEETCBSVN == ([16]byte{}) {
		c.TEETCBSVN = TDXUpToDateTEETCBSVN
	}
	if c.QuoteVersion == 0 {
		c.QuoteVersion = tdx.QuoteV4
	}
	if c.BodyType == 0 {
		c.BodyType = tdx.BodyTDX10
		if c.QuoteVersion == tdx.QuoteV5 {
			c.BodyType = tdx.BodyTDX15
		}
	}
	if c.TEETCBSVN2 == ([16]byte{}) {
		c.TEETCBSVN2 = c.TEETCBSVN
	}
	return &TDXGuest{a: a, c: c}
}

func tdxSign(k *ecdsa.PrivateKey, msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		return nil, fmt.Errorf("sim: tdx sign: %w", err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

func tdxPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// Quote returns a real-format, signed TDX quote (v4, or v5 as configured)
// whose REPORTDATA is reportData: header (|| v5 body descriptor) || TD quote
// body signed by the attestation key, a QE report binding that key and
// signed by the PCK key, and the PEM PCK chain.
func (g *TDXGuest) Quote(reportData [64]byte) ([]byte, error) {
	a, c := g.a, g.c
	if c.QuoteVersion != tdx.QuoteV4 && c.QuoteVersion != tdx.QuoteV5 {
		return nil, fmt.Errorf("sim: TDX quote version %d (want 4 or 5)", c.QuoteVersion)
	}
	if c.BodyType != tdx.BodyTDX10 && (c.QuoteVersion == tdx.QuoteV4 || c.BodyType != tdx.BodyTDX15) {
		return nil, fmt.Errorf("sim: TDX quote v%d with body type %d", c.QuoteVersion, c.BodyType)
	}
	hdr := make([]byte, 0x30)
	binary.LittleEndian.PutUint16(hdr[0:], uint16(c.QuoteVersion))
	binary.LittleEndian.PutUint16(hdr[2:], 2)    // ECDSA-256-with-P-256
	binary.LittleEndian.PutUint32(hdr[4:], 0x81) // TDX
	if c.QuoteVersion == tdx.QuoteV4 {           // v5 reserves these bytes
		binary.LittleEndian.PutUint16(hdr[8:], tdxQEISVSVN)
		binary.LittleEndian.PutUint16(hdr[10:], a.exts.TCB.PCESvn)
	}
	copy(hdr[12:28], tdxQEVendorID)

	body := make([]byte, 0, 0x248)
	body = append(body, c.TEETCBSVN[:]...)
	body = append(body, c.MRSeam[:]...)
	body = append(body, make([]byte, 48)...) // MRSIGNERSEAM: zero for Intel's module
	body = append(body, make([]byte, 8)...)  // SEAM attributes
	tdAttrs := make([]byte, 8)
	tdAttrs[3] = 0x40 // SEPT_VE_DISABLE, as on real hosts
	if c.Debug {
		tdAttrs[0] |= 1
	}
	body = append(body, tdAttrs...)
	body = append(body, c.XFAM[:]...)
	body = append(body, c.MRTD[:]...)
	body = append(body, c.MRConfigID[:]...)
	body = append(body, c.MROwner[:]...)
	body = append(body, c.MROwnerConfig[:]...)
	for _, r := range c.RTMRs {
		body = append(body, r[:]...)
	}
	body = append(body, reportData[:]...)
	if c.BodyType == tdx.BodyTDX15 {
		body = append(body, c.TEETCBSVN2[:]...)
		body = append(body, c.MRServiceTD[:]...)
	}
	if c.QuoteVersion == tdx.QuoteV5 {
		hdr = binary.LittleEndian.AppendUint16(hdr, c.BodyType)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(body)))
	}

	quoteSig, err := tdxSign(a.attKey, append(append([]byte(nil), hdr...), body...))
	if err != nil {
		return nil, err
	}
	ak := make([]byte, 64)
	a.attKey.X.FillBytes(ak[:32])
	a.attKey.Y.FillBytes(ak[32:])
	authData := make([]byte, 32)
	for i := range authData {
		authData[i] = byte(i)
	}
	qe := make([]byte, 0x180)
	copy(qe[0x00:], a.exts.TCB.CPUSvn)
	copy(qe[0x30:], tdxQEAttrs)
	copy(qe[0x40:], tdxQEMrEncl[:])
	copy(qe[0x80:], tdxQEMrSigner[:])
	binary.LittleEndian.PutUint16(qe[0x100:], tdxQEISVProdID)
	binary.LittleEndian.PutUint16(qe[0x102:], tdxQEISVSVN)
	bind := sha256.Sum256(append(append([]byte(nil), ak...), authData...))
	copy(qe[0x140:], bind[:])
	qeSig, err := tdxSign(a.pckKey, qe)
	if err != nil {
		return nil, err
	}
	chain := tdxPEM(a.pck, a.pckCA, a.root)

	cert := make([]byte, 0, len(qe)+64+2+len(authData)+6+len(chain))
	cert = append(cert, qe...)
	cert = append(cert, qeSig...)
	cert = binary.LittleEndian.AppendUint16(cert, uint16(len(authData)))
	cert = append(cert, authData...)
	cert = binary.LittleEndian.AppendUint16(cert, 5)
	cert = binary.LittleEndian.AppendUint32(cert, uint32(len(chain)))
	cert = append(cert, chain...)

	signed := make([]byte, 0, 128+6+len(cert))
	signed = append(signed, quoteSig...)
	signed = append(signed, ak...)
	signed = binary.LittleEndian.AppendUint16(signed, 6)
	signed = binary.LittleEndian.AppendUint32(signed, uint32(len(cert)))
	signed = append(signed, cert...)

	out := make([]byte, 0, len(hdr)+len(body)+4+len(signed))
	out = append(out, hdr...)
	out = append(out, body...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(signed)))
	out = append(out, signed...)
	return out, nil
}

// tdxFiles maps the authority's certificates and keys to file names under dir/tdx.
func (a *TDXAuthority) tdxFiles() []struct {
	name string
	cert **x509.Certificate
	key  **ecdsa.PrivateKey
} {
	return []struct {
		name string
		cert **x509.Certificate
		key  **ecdsa.PrivateKey
	}{
		{"root", &a.root, &a.rootKey},
		{"pck_ca", &a.pckCA, &a.pckCAKey},
		{"pck", &a.pck, &a.pckKey},
		{"tcb_signing", &a.tcbSigner, &a.tcbSignerKey},
		{"attestation", nil, &a.attKey},
	}
}

// Save writes the authority (certificates and private keys, PEM) to dir/tdx/.
// The keys are test keys; the directory is created 0700.
func (a *TDXAuthority) Save(dir string) error {
	d := filepath.Join(dir, "tdx")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("sim: save tdx: %w", err)
	}
	for _, f := range a.tdxFiles() {
		if f.cert != nil {
			if err := os.WriteFile(filepath.Join(d, f.name+".pem"), tdxPEM(*f.cert), 0o644); err != nil {
				return fmt.Errorf("sim: save tdx: %w", err)
			}
		}
		der, err := x509.MarshalPKCS8PrivateKey(*f.key)
		if err != nil {
			return fmt.Errorf("sim: save tdx %s key: %w", f.name, err)
		}
		kp := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(d, f.name+".key"), kp, 0o600); err != nil {
			return fmt.Errorf("sim: save tdx: %w", err)
		}
	}
	return nil
}

// maxTDXFile bounds every file LoadTDX reads.
const maxTDXFile = 64 << 10

// LoadTDX reads an authority written by Save from dir/tdx/.
func LoadTDX(dir string) (*TDXAuthority, error) {
	d := filepath.Join(dir, "tdx")
	a := &TDXAuthority{}
	for _, f := range a.tdxFiles() {
		if f.cert != nil {
			b, err := tdxReadFile(filepath.Join(d, f.name+".pem"))
			if err != nil {
				return nil, err
			}
			blk, _ := pem.Decode(b)
			if blk == nil || blk.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("sim: load tdx %s.pem: not a PEM certificate", f.name)
			}
			if *f.cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
				return nil, fmt.Errorf("sim: load tdx %s.pem: %w", f.name, err)
			}
		}
		b, err := tdxReadFile(filepath.Join(d, f.name+".key"))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("sim: load tdx %s.key: not a PEM PKCS#8 key", f.name)
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("sim: load tdx %s.key: %w", f.name, err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			return nil, fmt.Errorf("sim: load tdx %s.key: want an ECDSA P-256 key, got %T", f.name, k)
		}
		*f.key = ek
		if f.cert != nil && !ek.PublicKey.Equal((*f.cert).PublicKey) {
			return nil, fmt.Errorf("sim: load tdx %s: key does not match certificate", f.name)
		}
	}
	if err := a.init(); err != nil {
		return nil, err
	}
	return a, nil
}

func tdxReadFile(p string) ([]byte, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("sim: load tdx: %w", err)
	}
	if st.Size() > maxTDXFile {
		return nil, fmt.Errorf("sim: load tdx: %s is %d bytes: %w", p, st.Size(), errTDXFileTooLarge)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("sim: load tdx: %w", err)
	}
	return b, nil
}

var errTDXFileTooLarge = errors.New("file too large")
