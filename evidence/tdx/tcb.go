package tdx

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-tdx-guest/pcs"

	"github.com/seatrx/seatrx/evidence/check"
)

const (
	tcbSigningCN  = "Intel SGX TCB Signing"
	tcbInfoID     = "TDX"
	tcbInfoVer    = 3
	qeIdentityID  = "TD_QE"
	qeIdentityVer = 2
)

// statusRank lists the TCB statuses an evaluation can yield, ordered from
// best to worst (for documentation and policy validation; how statuses
// combine is converge's and relaunch's business).
var statusRank = map[pcs.TcbComponentStatus]int{
	pcs.TcbComponentStatusUpToDate:                          0,
	pcs.TcbComponentStatusSwHardeningNeeded:                 1,
	pcs.TcbComponentStatusConfigurationNeeded:               2,
	pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded: 3,
	StatusTDRelaunchAdvised:                                 4,
	StatusTDRelaunchAdvisedConfigurationNeeded:              5,
	pcs.TcbComponentStatusOutOfDate:                         6,
	pcs.TcbComponentStatusOutOfDateConfigurationNeeded:      7,
	pcs.TcbComponentStatusRevoked:                           8,
}

func collErr(format string, args ...any) error {
	return check.Errorf(platform, check.Collateral, format, args...)
}

func tcbErr(format string, args ...any) error {
	return check.Errorf(platform, check.TCB, format, args...)
}

// evaluate checks c against the verified chain and quote and returns the TCB
// status: issuer chains to opts.Roots, PCS signatures, freshness against
// opts.Now, both CRLs (revoked PCK / PCK CA / TCB signer), FMSPC and PCEID,
// TDX module identity, QE identity, then the TCB level evaluation.
func (c *Collateral) evaluate(v *quoteView, ent *chainEntry, opts VerifyOptions) (string, error) {
	for _, f := range collateralFiles {
		b := *f.get(c)
		if len(b) > MaxCollateralItem {
			return "", collErr("%s: %d bytes exceeds the %d-byte limit", f.name, len(b), MaxCollateralItem)
		}
		if len(b) == 0 && !f.optional {
			return "", collErr("%s is missing", f.name)
		}
	}
	var tcb pcs.TdxTcbInfo
	tcbSigner, err := verifySignedJSON("tcb_info", "tcbInfo", c.TCBInfo, c.TCBInfoIssuerChain, &tcb, &tcb.Signature, opts)
	if err != nil {
		return "", err
	}
	var qe pcs.QeIdentity
	qeSigner, err := verifySignedJSON("qe_identity", "enclaveIdentity", c.QEIdentity, c.QEIdentityIssuerChain, &qe, &qe.Signature, opts)
	if err != nil {
		return "", err
	}
	ti, qi := tcb.TcbInfo, qe.EnclaveIdentity
	if ti.ID != tcbInfoID || ti.Version != tcbInfoVer {
		return "", collErr("tcb_info: id %q version %d, want %q version %d", ti.ID, ti.Version, tcbInfoID, tcbInfoVer)
	}
	if qi.ID != qeIdentityID || qi.Version != qeIdentityVer {
		return "", collErr("qe_identity: id %q version %d, want %q version %d", qi.ID, qi.Version, qeIdentityID, qeIdentityVer)
	}
	if err := fresh("tcb_info", ti.IssueDate, ti.NextUpdate, opts.Now); err != nil {
		return "", err
	}
	if err := fresh("qe_identity", qi.IssueDate, qi.NextUpdate, opts.Now); err != nil {
		return "", err
	}
	if err := c.checkCRLs(ent, opts.Now, tcbSigner, qeSigner); err != nil {
		return "", err
	}
	if !strings.EqualFold(ti.Fmspc, ent.exts.FMSPC) {
		return "", collErr("tcb_info is for FMSPC %s, the PCK certificate says %s", ti.Fmspc, ent.exts.FMSPC)
	}
	if !strings.EqualFold(ti.PceID, ent.exts.PCEID) {
		return "", collErr("tcb_info is for PCEID %s, the PCK certificate says %s", ti.PceID, ent.exts.PCEID)
	}
	if err := checkModule(v, &ti); err != nil {
		return "", err
	}
	qeStatus, err := checkQE(v, &qi)
	if err != nil {
		return "", err
	}
	status, err := tcbStatus(&ti, v, ent.exts, qeStatus)
	if err != nil {
		return "", err
	}
	return string(status), nil
}

// verifySignedJSON checks a PCS JSON response: its issuer chain (exactly the
// TCB signing cert and a root) chains to opts.Roots at opts.Now, and the
// signature (hex raw r||s) covers the exact bytes of the inner object named
// field. It decodes body into out and returns the signing certificate.
func verifySignedJSON(name, field string, body, chainPEM []byte, out any, sig *string, opts VerifyOptions) (*x509.Certificate, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "%s: not a JSON object", name)
	}
	inner, ok := raw[field]
	if !ok {
		return nil, collErr("%s: no %q member", name, field)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "%s: decode", name)
	}
	certs, err := parsePEMCerts(chainPEM, 2)
	if err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "%s issuer chain", name)
	}
	signer := certs[0]
	if signer.Subject.CommonName != tcbSigningCN {
		return nil, collErr("%s: signer is %q, want %q", name, signer.Subject.CommonName, tcbSigningCN)
	}
	if _, _, ok := opts.Roots.find(certs[1].Raw); !ok {
		return nil, collErr("%s: issuer chain root %s is not trusted", name, fingerprint(certs[1].Raw))
	}
	vo := x509.VerifyOptions{Roots: opts.Roots.pool, CurrentTime: opts.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := signer.Verify(vo); err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "%s: signing certificate", name)
	}
	pub, ok := signer.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, collErr("%s: signer key is %T, want ECDSA", name, signer.PublicKey)
	}
	s, err := hex.DecodeString(*sig)
	if err != nil || len(s) != 64 {
		return nil, collErr("%s: signature is not 64 hex-encoded bytes", name)
	}
	if !verifyRaw(pub, inner, s) {
		return nil, collErr("%s: signature does not verify", name)
	}
	return signer, nil
}

// parsePEMCerts parses exactly n PEM certificates.
func parsePEMCerts(b []byte, n int) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" || len(out) == n {
			return nil, fmt.Errorf("want %d PEM certificates", n)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) != n || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("want exactly %d PEM certificates, found %d", n, len(out))
	}
	return out, nil
}

func fresh(name string, issued, next, now time.Time) error {
	if now.Before(issued) {
		return collErr("%s: issued %s, after now %s", name, issued.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.After(next) {
		return collErr("%s: stale, nextUpdate %s is before now %s", name, next.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func parseCRL(name string, b []byte) (*x509.RevocationList, error) {
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	crl, err := x509.ParseRevocationList(b)
	if err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "%s", name)
	}
	return crl, nil
}

func checkCRLFresh(name string, crl *x509.RevocationList, now time.Time) error {
	if now.Before(crl.ThisUpdate) {
		return collErr("%s: thisUpdate %s is after now", name, crl.ThisUpdate.Format(time.RFC3339))
	}
	if crl.NextUpdate.IsZero() || now.After(crl.NextUpdate) {
		return collErr("%s: stale, nextUpdate %s is before now %s", name, crl.NextUpdate.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}

func revoked(crl *x509.RevocationList, cert *x509.Certificate) bool {
	for _, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(cert.SerialNumber) == 0 {
			return true
		}
	}
	return false
}

// checkCRLs verifies the PCK CRL (signed by the quote's PCK CA) and the root
// CRL (signed by the quote's root) and that neither revokes a certificate
// this verification relies on. Revocation is reported as tdx.collateral.
func (c *Collateral) checkCRLs(ent *chainEntry, now time.Time, signers ...*x509.Certificate) error {
	pckCRL, err := parseCRL("pck_crl", c.PCKCRL)
	if err != nil {
		return err
	}
	if !bytes.Equal(pckCRL.RawIssuer, ent.pck.RawIssuer) {
		return collErr("pck_crl: issued by %q, the PCK certificate by %q", pckCRL.Issuer.CommonName, ent.pck.Issuer.CommonName)
	}
	if err := pckCRL.CheckSignatureFrom(ent.intermediate); err != nil {
		return check.Wrap(platform, check.Collateral, err, "pck_crl: signature by the PCK CA")
	}
	if err := checkCRLFresh("pck_crl", pckCRL, now); err != nil {
		return err
	}
	if len(c.PCKCRLIssuerChain) > 0 {
		certs, err := parsePEMCerts(c.PCKCRLIssuerChain, 2)
		if err != nil {
			return check.Wrap(platform, check.Collateral, err, "pck_crl issuer chain")
		}
		if !bytes.Equal(certs[0].Raw, ent.intermediate.Raw) || !bytes.Equal(certs[1].Raw, ent.root.Raw) {
			return collErr("pck_crl issuer chain differs from the quote's PCK CA chain")
		}
	}
	if revoked(pckCRL, ent.pck) {
		return collErr("PCK certificate (serial %x) is revoked by the PCK CRL", ent.pck.SerialNumber)
	}
	rootCRL, err := parseCRL("root_crl", c.RootCRL)
	if err != nil {
		return err
	}
	if err := rootCRL.CheckSignatureFrom(ent.root); err != nil {
		return check.Wrap(platform, check.Collateral, err, "root_crl: signature by the root CA")
	}
	if err := checkCRLFresh("root_crl", rootCRL, now); err != nil {
		return err
	}
	if revoked(rootCRL, ent.intermediate) {
		return collErr("PCK CA certificate (serial %x) is revoked by the root CRL", ent.intermediate.SerialNumber)
	}
	for _, s := range signers {
		if bytes.Equal(s.RawIssuer, ent.root.RawSubject) && revoked(rootCRL, s) {
			return collErr("TCB signing certificate (serial %x) is revoked by the root CRL", s.SerialNumber)
		}
	}
	return nil
}

// checkModule compares the quote's MRSIGNERSEAM and SEAM attributes with
// the TDX module identity the TCB info gives for the module that built the
// TD: the identity "TDX_<major>" (TEE_TCB_SVN[1], two hex digits) when the
// major version is above 0, else the tdxModule entry (Intel QVL, "TDX module
// identity check").
func checkModule(v *quoteView, ti *pcs.TcbInfo) error {
	m := ti.TdxModule
	tee := v.field(bTeeTcbSvn, 16)
	if tee[1] > 0 {
		id, ok := findModuleIdentity(ti.TdxModuleIdentities, tee[1])
		if !ok {
			return tcbErr("tcb_info has no TDX module identity %s (TEE_TCB_SVN %x)", moduleID(tee[1]), tee)
		}
		m = pcs.TdxModule{Mrsigner: id.Mrsigner, Attributes: id.Attributes, AttributesMask: id.AttributesMask}
	}
	signer := v.field(bMrSignerSeam, measSize)
	if !bytes.Equal(m.Mrsigner.Bytes, signer) {
		return collErr("MRSIGNERSEAM %x is not the TDX module signer %x in tcb_info", signer, m.Mrsigner.Bytes)
	}
	attrs := v.field(bSeamAttrs, 8)
	if len(m.AttributesMask.Bytes) != 8 || len(m.Attributes.Bytes) != 8 {
		return collErr("tcb_info: TDX module attributes/attributesMask must be 8 bytes")
	}
	for i := range attrs {
		if attrs[i]&m.AttributesMask.Bytes[i] != m.Attributes.Bytes[i] {
			return collErr("SEAM attributes %x do not match tcb_info (attributes %x, mask %x)", attrs, m.Attributes.Bytes, m.AttributesMask.Bytes)
		}
	}
	return nil
}

// checkQE matches the QE report against the QE identity (MRSIGNER,
// ISVPRODID, masked MISCSELECT and ATTRIBUTES) and returns the QE's TCB
// status: the first level whose isvsvn <= the report's ISVSVN.
func checkQE(v *quoteView, qi *pcs.EnclaveIdentity) (pcs.TcbComponentStatus, error) {
	r := v.qeReport
	if !bytes.Equal(qi.Mrsigner.Bytes, r[qMrSigner:qMrSigner+32]) {
		return "", collErr("QE MRSIGNER %x is not %x from qe_identity", r[qMrSigner:qMrSigner+32], qi.Mrsigner.Bytes)
	}
	if prod := binary.LittleEndian.Uint16(r[qIsvProdID:]); prod != qi.IsvProdID {
		return "", collErr("QE ISVPRODID %d is not %d from qe_identity", prod, qi.IsvProdID)
	}
	if len(qi.Miscselect.Bytes) != 4 || len(qi.MiscselectMask.Bytes) != 4 {
		return "", collErr("qe_identity: miscselect/miscselectMask must be 4 bytes")
	}
	misc := binary.LittleEndian.Uint32(r[qMiscSelect:])
	if misc&binary.LittleEndian.Uint32(qi.MiscselectMask.Bytes) != binary.LittleEndian.Uint32(qi.Miscselect.Bytes) {
		return "", collErr("QE MISCSELECT %08x does not match qe_identity", misc)
	}
	attrs := r[qAttributes : qAttributes+16]
	if len(qi.Attributes.Bytes) != 16 || len(qi.AttributesMask.Bytes) != 16 {
		return "", collErr("qe_identity: attributes/attributesMask must be 16 bytes")
	}
	for i := range attrs {
		if attrs[i]&qi.AttributesMask.Bytes[i] != qi.Attributes.Bytes[i] {
			return "", collErr("QE ATTRIBUTES %x do not match qe_identity", attrs)
		}
	}
	svn := uint32(binary.LittleEndian.Uint16(r[qIsvSvn:]))
	for _, l := range qi.TcbLevels {
		if l.Tcb.Isvsvn <= svn {
			return l.TcbStatus, nil
		}
	}
	return "", tcbErr("QE ISVSVN %d is below every TCB level in qe_identity", svn)
}

// TD relaunch statuses (Intel QVL, TDX 1.5): the TD was launched on a TDX
// module that is out of date, but the module now running (TEE_TCB_SVN_2) is
// the latest, so relaunching the TD would bring it up to date.
const (
	StatusTDRelaunchAdvised                    pcs.TcbComponentStatus = "TDRelaunchAdvised"
	StatusTDRelaunchAdvisedConfigurationNeeded pcs.TcbComponentStatus = "TDRelaunchAdvisedConfigurationNeeded"
	statusConfigurationNeeded                                         = pcs.TcbComponentStatusConfigurationNeeded
	statusOutOfDate                                                   = pcs.TcbComponentStatusOutOfDate
	statusOutOfDateConfigurationNeeded                                = pcs.TcbComponentStatusOutOfDateConfigurationNeeded
)

// tcbStatus evaluates the platform's TCB as Intel's quote verification
// library does for TDX: the first TCB level the PCK certificate's SGX
// components and PCESVN and the quote's TEE_TCB_SVN all meet (comparing the
// TDX components from index 2 when the TDX module major version
// TEE_TCB_SVN[1] is above 0, since the module identity then rates bytes 0
// and 1), converged with the status of the TDX module identity level and,
// for a TD 1.5 body, the relaunch rule over TEE_TCB_SVN_2; then converged
// with the QE's status.
func tcbStatus(ti *pcs.TcbInfo, v *quoteView, exts *pcs.PckExtensions, qe pcs.TcbComponentStatus) (pcs.TcbComponentStatus, error) {
	if len(ti.TcbLevels) == 0 {
		return "", collErr("tcb_info has no TCB levels")
	}
	cpu := exts.TCB.CPUSvnComponents
	if len(cpu) != 16 {
		return "", collErr("PCK certificate carries %d SGX TCB components, want 16", len(cpu))
	}
	tee := v.field(bTeeTcbSvn, 16)
	start := 0
	if tee[1] > 0 {
		start = 2
	}
	var sgxStatus, platStatus pcs.TcbComponentStatus
	for _, l := range ti.TcbLevels {
		sgx, tdx := l.Tcb.SgxTcbcomponents, l.Tcb.TdxTcbcomponents
		if len(sgx) != 16 || len(tdx) != 16 {
			return "", collErr("tcb_info level %s: want 16 SGX and 16 TDX components", l.TcbDate)
		}
		if _, ok := statusRank[l.TcbStatus]; !ok {
			return "", collErr("tcb_info level %s: unknown status %q", l.TcbDate, l.TcbStatus)
		}
		if exts.TCB.PCESvn < l.Tcb.Pcesvn || !componentsGE(cpu, sgx, 0) {
			continue
		}
		if sgxStatus == "" {
			sgxStatus = l.TcbStatus
		}
		if componentsGE(tee, tdx, start) {
			platStatus = l.TcbStatus
			break
		}
	}
	if platStatus == "" {
		return "", tcbErr("no TCB level in tcb_info matches the platform (PCESVN %d, SGX components %x, TEE_TCB_SVN %x)",
			exts.TCB.PCESvn, cpu, tee)
	}
	status, modStatus := platStatus, pcs.TcbComponentStatus("")
	if tee[1] > 0 {
		var err error
		if modStatus, err = moduleStatus(ti.TdxModuleIdentities, tee); err != nil {
			return "", err
		}
		status = converge(status, modStatus)
	}
	if v.bodyType == BodyTDX15 {
		var err error
		if status, err = relaunch(ti, v.field(bTeeTcbSvn2, 16), sgxStatus, status, modStatus, qe); err != nil {
			return "", err
		}
	}
	return converge(status, qe), nil
}

// converge applies a component's status (TDX module or QE) to the
// platform's, as Intel's library does: an OutOfDate component makes an
// otherwise current platform OutOfDate (OutOfDateConfigurationNeeded when
// configuration was needed), a Revoked one makes it Revoked, others leave it.
func converge(platform, component pcs.TcbComponentStatus) pcs.TcbComponentStatus {
	switch component {
	case pcs.TcbComponentStatusRevoked:
		return pcs.TcbComponentStatusRevoked
	case statusOutOfDate:
		switch platform {
		case pcs.TcbComponentStatusUpToDate, pcs.TcbComponentStatusSwHardeningNeeded:
			return statusOutOfDate
		case statusConfigurationNeeded, pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded:
			return statusOutOfDateConfigurationNeeded
		}
	}
	return platform
}

// relaunch is Intel's TD relaunch rule for TD 1.5 bodies: when the SGX part
// and the QE are current but the TD's TCB is OutOfDate only because of the
// TDX module it launched on, and TEE_TCB_SVN_2 (the module running now) meets
// the latest TCB level and the latest level of its module identity, the
// status is TDRelaunchAdvised (or ...ConfigurationNeeded); else tdx unchanged.
// TEE_TCB_SVN_2 never makes a status worse.
func relaunch(ti *pcs.TcbInfo, tee2 []byte, sgx, tdx, module, qe pcs.TcbComponentStatus) (pcs.TcbComponentStatus, error) {
	switch qe {
	case statusOutOfDate, pcs.TcbComponentStatusRevoked:
		return tdx, nil
	}
	switch sgx {
	case pcs.TcbComponentStatusUpToDate, pcs.TcbComponentStatusSwHardeningNeeded,
		statusConfigurationNeeded, pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded:
	default:
		return tdx, nil
	}
	if (tdx != statusOutOfDate && tdx != statusOutOfDateConfigurationNeeded) || module != statusOutOfDate {
		return tdx, nil
	}
	latest := ti.TcbLevels[0].Tcb.TdxTcbcomponents
	minSVN := latest[0].Svn
	if tee2[1] > 0 {
		id, ok := findModuleIdentity(ti.TdxModuleIdentities, tee2[1])
		if !ok {
			return "", tcbErr("tcb_info has no TDX module identity %s for TEE_TCB_SVN_2 %x", moduleID(tee2[1]), tee2)
		}
		if len(id.TcbLevels) == 0 {
			return "", collErr("tcb_info: TDX module identity %s has no TCB levels", id.ID)
		}
		if id.TcbLevels[0].Tcb.Isvsvn > 0xff {
			return tdx, nil
		}
		minSVN = byte(id.TcbLevels[0].Tcb.Isvsvn)
	}
	if tee2[0] < minSVN || tee2[2] < latest[2].Svn {
		return tdx, nil
	}
	if configurationNeeded(sgx) || configurationNeeded(tdx) {
		return StatusTDRelaunchAdvisedConfigurationNeeded, nil
	}
	return StatusTDRelaunchAdvised, nil
}

func configurationNeeded(s pcs.TcbComponentStatus) bool {
	switch s {
	case statusConfigurationNeeded, statusOutOfDateConfigurationNeeded,
		pcs.TcbComponentStatusConfigurationAndSWHardeningNeeded, StatusTDRelaunchAdvisedConfigurationNeeded:
		return true
	}
	return false
}

func componentsGE(have []byte, level []pcs.TcbComponent, from int) bool {
	for i := from; i < len(have); i++ {
		if have[i] < level[i].Svn {
			return false
		}
	}
	return true
}

// moduleID is the TCB info id of the TDX module identity for a major version.
func moduleID(major byte) string { return fmt.Sprintf("TDX_%02X", major) }

func findModuleIdentity(ids []pcs.TdxModuleIdentity, major byte) (*pcs.TdxModuleIdentity, bool) {
	id := moduleID(major)
	for i := range ids {
		if strings.EqualFold(ids[i].ID, id) {
			return &ids[i], true
		}
	}
	return nil, false
}

// moduleStatus returns the status of the first level of the TDX module
// identity TDX_<TEE_TCB_SVN[1]> whose ISVSVN the module's minor SVN
// TEE_TCB_SVN[0] meets.
func moduleStatus(ids []pcs.TdxModuleIdentity, tee []byte) (pcs.TcbComponentStatus, error) {
	m, ok := findModuleIdentity(ids, tee[1])
	if !ok {
		return "", tcbErr("tcb_info has no TDX module identity %s", moduleID(tee[1]))
	}
	for _, l := range m.TcbLevels {
		if uint32(tee[0]) >= l.Tcb.Isvsvn {
			switch l.TcbStatus {
			case pcs.TcbComponentStatusUpToDate, statusOutOfDate, pcs.TcbComponentStatusRevoked:
				return l.TcbStatus, nil
			}
			return "", collErr("tcb_info: TDX module identity %s level %d has status %q (want UpToDate, OutOfDate or Revoked)", m.ID, l.Tcb.Isvsvn, l.TcbStatus)
		}
	}
	return "", tcbErr("TDX module %s ISVSVN %d is below every level in tcb_info", m.ID, tee[0])
}
