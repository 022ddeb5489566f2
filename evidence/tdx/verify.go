// Package tdx verifies and appraises Intel TDX quotes (version 4, and
// version 5 with a TD 1.0 or TD 1.5 report body) for seatrx.
//
// Verify checks a quote's binding to the connection (REPORTDATA), its
// signature chain (attestation key -> QE report -> PCK certificate -> Intel SGX
// Root CA) and, when collateral is supplied, the Intel PCS collateral (TCB
// info, QE identity, CRLs), and computes the TCB status itself: go-tdx-guest
// only accepts UpToDate. Appraise applies an operator Policy to the Result.
// The chain and signatures are checked here rather than by go-tdx-guest's
// verifier, whose failures are text only, and which (v0.3.1, the newest
// version available) rejects version 5 quotes. Every failure is a
// *check.Error in the tdx namespace.
package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/seatrx/seatrx/evidence/check"
)

// platform is the prefix of every check code this package reports.
const platform = check.TDX

// ErrOptions is returned (wrapped) when VerifyOptions are unusable; it is a
// caller bug, not a property of the evidence, so it carries no check code.
var ErrOptions = errors.New("tdx: invalid verify options")

// Result is what a verified quote says about the TD, with the trust anchor it
// was verified against. Byte slices are copies, never aliases of the quote.
type Result struct {
	QuoteVersion  uint16    // 4 or 5
	BodyType      uint16    // BodyTDX10, or BodyTDX15 (v5 quotes from TDX 1.5 hosts)
	MRTD          []byte    // 48 bytes: build-time measurement of the TD
	RTMRs         [4][]byte // 48 bytes each: runtime measurement registers
	MRSeam        []byte    // 48 bytes: measurement of the TDX module
	MRConfigID    []byte    // 48 bytes
	MROwner       []byte    // 48 bytes
	MROwnerConfig []byte    // 48 bytes
	TDAttributes  []byte    // 8 bytes
	XFAM          []byte    // 8 bytes
	Debug         bool      // TD_ATTRIBUTES.DEBUG (bit 0 of byte 0)
	TEETCBSVN     []byte    // 16 bytes: the TCB the TD was launched on
	// TEETCBSVN2 (16 bytes) is the TCB of the TDX module now running, after
	// TD-preserving updates; MRServiceTD (48 bytes) measures the service TDs
	// bound to this TD. Both only in TD 1.5 bodies, else nil.
	TEETCBSVN2  []byte
	MRServiceTD []byte
	ReportData  [64]byte
	// QESVN and PCESVN are the quote header's (offsets 0x08 and 0x0A); v5
	// headers reserve these bytes (zero).
	QESVN, PCESVN uint16
	FMSPC         string // hex, from the PCK certificate's SGX extension
	// TCBStatus is the Intel TCB status computed from collateral ("UpToDate",
	// "SWHardeningNeeded", "OutOfDate", ...); "" when verified without collateral.
	TCBStatus   string
	TrustAnchor string // "sha256:<hex>" of the root the PCK chain ends in
	Simulated   bool   // the trust anchor belongs to a simulated PKI
	PCKDigest   []byte // sha256 of the PCK leaf certificate DER
	// ValidUntil is the earliest notAfter of the PCK chain the quote
	// verified against: past it, the same quote no longer verifies.
	ValidUntil time.Time
}

// VerifyOptions configures Verify. Now and Roots are required.
type VerifyOptions struct {
	// Now is the time at which certificates and collateral must be valid.
	Now time.Time
	// ReportData is the value REPORTDATA must equal: the relying party's
	// binder for this connection.
	ReportData [64]byte
	// SkipReportData skips the REPORTDATA comparison, for inspecting evidence
	// bound to nothing the caller knows (the offline CLI).
	SkipReportData bool
	// Roots are the trusted Intel SGX root CAs.
	Roots *Roots
	// Collateral, if set, is checked (signatures, CRLs, freshness) and used to
	// compute Result.TCBStatus. nil verifies without collateral.
	Collateral *Collateral
	// FetchCollateral, if set and Collateral is nil, is called with the FMSPC
	// of the verified PCK certificate to obtain collateral (e.g. FetchCollateral
	// through a fetch.Getter). It runs only after the PCK chain and the quote
	// and QE report signatures verified, so a forged quote cannot make the
	// verifier fetch anything; its errors are reported as tdx.collateral.
	FetchCollateral func(fmspc string) (*Collateral, error)
	// Cache, if set, remembers PCK chains already verified against Roots so
	// that repeated quotes from one platform skip the x509 chain walk.
	Cache *ChainCache
}

// chainEntry is a PCK chain that passed full verification against a root set.
type chainEntry struct {
	pck, intermediate, root *x509.Certificate
	rootFP                  string
	exts                    *pcs.PckExtensions
	notBefore, notAfter     time.Time // intersection of the three validity windows
	pckDigest               [32]byte
}

// Verify checks quote and returns what it attests. In order: structure
// (tdx.decode), REPORTDATA == opts.ReportData unless opts.SkipReportData (constant time,
// tdx.report_data), that the PCK chain ends in a root of opts.Roots
// (tdx.trust_anchor) and is valid at opts.Now (tdx.time), the chain itself
// (tdx.chain), the quote and QE report signatures and the attestation key
// binding (tdx.signature), and, with collateral (given, or obtained through
// opts.FetchCollateral), the collateral and TCB status (tdx.collateral,
// tdx.tcb). Debug TDs and measurements are left to Appraise.
func Verify(quote []byte, opts VerifyOptions) (*Result, error) {
	if opts.Now.IsZero() {
		return nil, fmt.Errorf("%w: Now is zero", ErrOptions)
	}
	if opts.Roots == nil || len(opts.Roots.certs) == 0 {
		return nil, fmt.Errorf("%w: no trusted roots", ErrOptions)
	}
	v, err := parseQuote(quote)
	if err != nil {
		return nil, err
	}
	if !opts.SkipReportData && subtle.ConstantTimeCompare(v.reportData(), opts.ReportData[:]) != 1 {
		return nil, check.Errorf(platform, check.ReportData,
			"REPORTDATA %x does not match the value computed for this connection %x", v.reportData(), opts.ReportData[:])
	}

	var (
		ent *chainEntry
		key [64]byte
	)
	if opts.Cache != nil {
		key = cacheKey(v.pckChain, opts.Roots)
		ent = opts.Cache.get(key, opts.Now)
	}
	if ent != nil {
		if err := verifySignatures(v, ent.pck); err != nil {
			return nil, err
		}
	} else {
		ent, err = verifyCold(v, opts)
		if err != nil {
			return nil, err
		}
		if opts.Cache != nil {
			opts.Cache.put(key, ent)
		}
	}

	res := newResult(v, ent, opts.Roots)
	coll := opts.Collateral
	if coll == nil && opts.FetchCollateral != nil {
		if coll, err = opts.FetchCollateral(res.FMSPC); err != nil {
			return nil, check.Wrap(platform, check.Collateral, err, "collateral for FMSPC %s", res.FMSPC)
		}
		if coll == nil {
			return nil, check.Errorf(platform, check.Collateral, "no collateral for FMSPC %s", res.FMSPC)
		}
	}
	if coll != nil {
		status, err := coll.evaluate(v, ent, opts)
		if err != nil {
			return nil, err
		}
		res.TCBStatus = status
	}
	return res, nil
}

// verifyCold verifies the PCK chain and the quote's signatures. It does not
// call go-tdx-guest's verifier: that one reports failures as text only, so
// each step here is ours and names its check, and each signature is verified
// once: the trust anchor (tdx.trust_anchor, chosen by the quote's own root
// before any signature is checked), validity windows (tdx.time), the Intel
// PCK certificate profile and X.509 path (tdx.chain), then the signatures
// (tdx.signature, shared with the warm path).
func verifyCold(v *quoteView, opts VerifyOptions) (*chainEntry, error) {
	certs, err := parseChain(v.pckChain)
	if err != nil {
		return nil, err
	}
	pck, inter, root := certs[0], certs[1], certs[2]
	_, rootFP, ok := opts.Roots.find(root.Raw)
	if !ok {
		kind := "production"
		if opts.Roots.Simulated() {
			kind = "simulated"
		}
		return nil, check.Errorf(platform, check.TrustAnchor,
			"PCK chain ends in root %s (%q), which is not among the trusted %s roots %v",
			fingerprint(root.Raw), root.Subject.CommonName, kind, opts.Roots.Fingerprints())
	}
	ent := &chainEntry{pck: pck, intermediate: inter, root: root, rootFP: rootFP, pckDigest: sha256.Sum256(pck.Raw)}
	for i, c := range certs {
		if opts.Now.Before(c.NotBefore) || opts.Now.After(c.NotAfter) {
			return nil, check.Errorf(platform, check.Time, "%s certificate %q is valid %s to %s, not at %s",
				chainNames[i], c.Subject.CommonName, c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339),
				opts.Now.UTC().Format(time.RFC3339))
		}
		if i == 0 || c.NotBefore.After(ent.notBefore) {
			ent.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(ent.notAfter) {
			ent.notAfter = c.NotAfter
		}
	}
	for i, c := range certs {
		parent := root
		if i < 2 {
			parent = certs[i+1]
		}
		if err := checkPCKProfile(c, parent, chainCNs[i]); err != nil {
			return nil, check.Wrap(platform, check.Chain, err, "%s certificate does not follow the Intel SGX PCK profile", chainNames[i])
		}
	}
	inters := x509.NewCertPool()
	inters.AddCert(inter)
	vo := x509.VerifyOptions{Roots: opts.Roots.pool, Intermediates: inters, CurrentTime: opts.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := pck.Verify(vo); err != nil {
		return nil, check.Wrap(platform, check.Chain, err, "PCK certificate chain")
	}
	if ent.exts, err = pcs.PckCertificateExtensions(pck); err != nil {
		return nil, check.Wrap(platform, check.Chain, err, "PCK certificate SGX extension")
	}
	if err := verifySignatures(v, pck); err != nil {
		return nil, err
	}
	return ent, nil
}

var chainNames = [3]string{"PCK leaf", "PCK intermediate CA", "root CA"}

// chainCNs are the subject common names Intel's PCK chains carry (the Intel
// SGX PCK certificate profile, as go-tdx-guest checks them).
var chainCNs = [3]string{"Intel SGX PCK Certificate", "Intel SGX PCK Platform CA", "Intel SGX Root CA"}

// checkPCKProfile checks one certificate of a PCK chain against the Intel
// profile: X.509 v3, ECDSA-SHA256 signature, an ECDSA P-256 key, subject
// common name cn, issued under parent's name. Signatures are left to X.509
// path validation.
func checkPCKProfile(c, parent *x509.Certificate, cn string) error {
	switch {
	case c.Version != 3:
		return fmt.Errorf("X.509 version %d, want 3", c.Version)
	case c.SignatureAlgorithm != x509.ECDSAWithSHA256:
		return fmt.Errorf("signature algorithm %v, want %v", c.SignatureAlgorithm, x509.ECDSAWithSHA256)
	case c.Subject.CommonName != cn:
		return fmt.Errorf("subject common name %q, want %q", c.Subject.CommonName, cn)
	case !bytes.Equal(c.RawIssuer, parent.RawSubject):
		return fmt.Errorf("issuer %q is not the subject %q of the next certificate", c.Issuer, parent.Subject)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		return fmt.Errorf("public key is %v, want ECDSA P-256", c.PublicKeyAlgorithm)
	}
	return nil
}

// maxChainPEM bounds the PEM chain parsed from a quote (already bounded by
// MaxQuoteSize; this documents the intent).
const maxChainPEM = MaxQuoteSize

// parseChain splits the quote's PEM chain into exactly leaf, intermediate and
// root. A single trailing NUL (seen in real quotes) is allowed.
func parseChain(b []byte) ([3]*x509.Certificate, error) {
	var out [3]*x509.Certificate
	if len(b) > maxChainPEM {
		return out, decodeErr("pck_cert_chain: %d bytes exceeds %d", len(b), maxChainPEM)
	}
	rest := b
	for i := range out {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return out, decodeErr("pck_cert_chain: want 3 PEM certificates, found %d", i)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return out, check.Wrap(platform, check.Decode, err, "pck_cert_chain[%d] (%s)", i, chainNames[i])
		}
		out[i] = c
	}
	if t := strings.TrimRight(string(rest), "\x00\r\n\t "); t != "" {
		return out, decodeErr("pck_cert_chain: %d unexpected bytes after the root certificate", len(rest))
	}
	return out, nil
}

// verifySignatures checks, for both paths (the warm one has the PCK chain
// from the cache), the quote signature by the attestation key, the QE report signature by the
// PCK key, and QE REPORTDATA == SHA-256(attestation key || QE auth data) || 0^32.
func verifySignatures(v *quoteView, pck *x509.Certificate) error {
	ak, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append([]byte{4}, v.attKey...))
	if err != nil {
		return check.Wrap(platform, check.Signature, err, "attestation key is not a P-256 point")
	}
	if !verifyRaw(ak, v.signedMsg, v.signature) {
		return check.Errorf(platform, check.Signature, "quote signature by the attestation key is invalid")
	}
	pk, ok := pck.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return check.Errorf(platform, check.Chain, "PCK key is %T, want ECDSA", pck.PublicKey)
	}
	if !verifyRaw(pk, v.qeReport, v.qeReportSig) {
		return check.Errorf(platform, check.Signature, "QE report signature by the PCK key is invalid")
	}
	h := sha256.New()
	h.Write(v.attKey)
	h.Write(v.qeAuthData)
	want := make([]byte, 64)
	copy(want, h.Sum(nil))
	if subtle.ConstantTimeCompare(want, v.qeReport[qReportData:qReportData+64]) != 1 {
		return check.Errorf(platform, check.Signature, "QE report data does not bind the attestation key")
	}
	return nil
}

// verifyRaw checks an ECDSA-SHA256 signature given as raw 64-byte r||s.
func verifyRaw(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	d := sha256.Sum256(msg)
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, d[:], r, s)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func newResult(v *quoteView, ent *chainEntry, roots *Roots) *Result {
	r := &Result{
		QuoteVersion:  v.version,
		BodyType:      v.bodyType,
		MRTD:          clone(v.field(bMrTd, measSize)),
		MRSeam:        clone(v.field(bMrSeam, measSize)),
		MRConfigID:    clone(v.field(bMrConfigID, measSize)),
		MROwner:       clone(v.field(bMrOwner, measSize)),
		MROwnerConfig: clone(v.field(bMrOwnerConfig, measSize)),
		TDAttributes:  clone(v.field(bTdAttrs, 8)),
		XFAM:          clone(v.field(bXfam, 8)),
		TEETCBSVN:     clone(v.field(bTeeTcbSvn, 16)),
		QESVN:         binary.LittleEndian.Uint16(v.raw[8:10]),
		PCESVN:        binary.LittleEndian.Uint16(v.raw[10:12]),
		FMSPC:         strings.ToLower(ent.exts.FMSPC),
		TrustAnchor:   ent.rootFP,
		Simulated:     roots.Simulated(),
		PCKDigest:     clone(ent.pckDigest[:]),
		ValidUntil:    ent.notAfter,
	}
	for i := range r.RTMRs {
		r.RTMRs[i] = clone(v.field(bRtmr0+i*measSize, measSize))
	}
	if v.bodyType == BodyTDX15 {
		r.TEETCBSVN2 = clone(v.field(bTeeTcbSvn2, 16))
		r.MRServiceTD = clone(v.field(bMrServiceTD, measSize))
	}
	r.Debug = r.TDAttributes[0]&1 == 1
	copy(r.ReportData[:], v.reportData())
	return r
}
