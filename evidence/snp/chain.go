package snp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
	spb "github.com/google/go-sev-guest/proto/sevsnp"
	"github.com/google/go-sev-guest/verify/trust"

	"github.com/seatrx/seatrx/evidence/check"
)

// The endorsement-key chain is verified here rather than with go-sev-guest's
// verify package: that package registers a global flag
// (workaround_kds_productname) that weakens its checks when set, and it
// reports every failure as text, which left us redoing its steps to name the
// failed check. Each step below reports its own check code, and each
// signature is verified once.

// amdLocation is the subject/issuer location of every AMD KDS certificate
// (AMD KDS specification, "VCEK Certificate" and "VLEK Certificate" tables).
var amdLocation = []struct {
	name string
	get  func(*pkix.Name) []string
	want string
}{
	{"country", func(n *pkix.Name) []string { return n.Country }, "US"},
	{"locality", func(n *pkix.Name) []string { return n.Locality }, "Santa Clara"},
	{"state", func(n *pkix.Name) []string { return n.Province }, "CA"},
	{"organization", func(n *pkix.Name) []string { return n.Organization }, "Advanced Micro Devices"},
	{"organizational unit", func(n *pkix.Name) []string { return n.OrganizationalUnit }, "Engineering"},
}

// checkAMDName checks an AMD KDS distinguished name: the fixed location and
// the common name cn.
func checkAMDName(role string, n *pkix.Name, cn string) error {
	for _, f := range amdLocation {
		if v := f.get(n); len(v) != 1 || v[0] != f.want {
			return fmt.Errorf("%s %s is %q, want [%q]", role, f.name, v, f.want)
		}
	}
	if n.CommonName != cn {
		return fmt.Errorf("%s common name is %q, want %q", role, n.CommonName, cn)
	}
	return nil
}

// ekName is the subject common name of a VCEK or VLEK; icaName the subject
// common name of the intermediate (ASK or ASVK) that issues it.
func ekName(signer abi.ReportSigner) string { return "SEV-" + signer.String() }

func icaName(line string, signer abi.ReportSigner) string {
	if signer == abi.VlekReportSigner {
		return "SEV-VLEK-" + line
	}
	return "SEV-" + line
}

// checkEKProfile checks the VCEK/VLEK certificate against the AMD KDS profile
// (X.509 v3, RSASSA-PSS/SHA-384 by the intermediate, an ECDSA P-384 key, the
// AMD subject) and returns its extensions. Failures are snp.chain.
func checkEKProfile(cert *x509.Certificate, signer abi.ReportSigner) (*kds.Extensions, error) {
	fail := func(err error) (*kds.Extensions, error) {
		return nil, check.Wrap(platform, check.Chain, err, "%v certificate does not follow the AMD KDS profile", signer)
	}
	if cert.Version != 3 {
		return fail(fmt.Errorf("X.509 version %d, want 3", cert.Version))
	}
	if cert.SignatureAlgorithm != x509.SHA384WithRSAPSS {
		return fail(fmt.Errorf("signature algorithm %v, want %v", cert.SignatureAlgorithm, x509.SHA384WithRSAPSS))
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P384() {
		return fail(fmt.Errorf("public key is %v, want ECDSA P-384", cert.PublicKeyAlgorithm))
	}
	if err := checkAMDName("subject", &cert.Subject, ekName(signer)); err != nil {
		return fail(err)
	}
	exts, err := kds.CertificateExtensions(cert, signer)
	if err != nil {
		return nil, check.Wrap(platform, check.Chain, err, "%v certificate extensions", signer)
	}
	return exts, nil
}

// intermediate returns the bundle's certificate that issues signer's keys.
func intermediate(b *trust.AMDRootCerts, signer abi.ReportSigner) *x509.Certificate {
	if signer == abi.VlekReportSigner {
		return b.ProductCerts.Asvk
	}
	return b.ProductCerts.Ask
}

// selectBundle returns the trusted bundle whose intermediate issued cert:
// same name and a verifying signature (one RSA verification, far cheaper than
// the report's P-384 one). The trust anchor is thus chosen from the evidence
// before the report signature is checked, and only against the one bundle
// that can anchor it. No match is snp.trust_anchor.
func selectBundle(cert *x509.Certificate, bundles []*trust.AMDRootCerts, signer abi.ReportSigner, roots *Roots) (*trust.AMDRootCerts, error) {
	for _, b := range bundles {
		ica := intermediate(b, signer)
		if ica == nil || b.ProductCerts.Ark == nil || string(ica.RawSubject) != string(cert.RawIssuer) {
			continue
		}
		if cert.CheckSignatureFrom(ica) == nil {
			return b, nil
		}
	}
	return nil, check.Errorf(platform, check.TrustAnchor, "%v (issuer %q) does not chain to a trusted AMD root (trusted: %v)",
		signer, cert.Issuer.CommonName, roots.Fingerprints())
}

// verifyChain checks the chain endorsement key -> intermediate -> ARK of the
// selected bundle: every certificate valid at now (snp.time), then X.509 path
// validation by crypto/x509 (snp.chain).
func verifyChain(cert *x509.Certificate, b *trust.AMDRootCerts, signer abi.ReportSigner, now time.Time) error {
	names := []string{signer.String(), icaName(b.GetProductLine(), signer), "ARK-" + b.GetProductLine()}
	for i, c := range []*x509.Certificate{cert, intermediate(b, signer), b.ProductCerts.Ark} {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return check.Errorf(platform, check.Time, "%s chain is not valid at %s: the %s certificate is valid %s to %s",
				signer, now.UTC().Format(time.RFC3339), names[i], c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	vo := b.X509Options(now, signer)
	if vo == nil { // selectBundle only returns complete bundles
		return check.Errorf(platform, check.Chain, "trusted %s bundle lacks the certificates for a %v", b.GetProductLine(), signer)
	}
	if _, err := cert.Verify(*vo); err != nil {
		return check.Wrap(platform, check.Chain, err, "%v chain", signer)
	}
	return nil
}

// reportSignature checks the report's ECDSA P-384 signature with the
// endorsement key (snp.signature). The report's format and signature
// algorithm were checked by Verify.
func reportSignature(report []byte, ek *x509.Certificate, signer abi.ReportSigner) error {
	der, err := abi.ReportToSignatureDER(report)
	if err == nil {
		err = ek.CheckSignature(x509.ECDSAWithSHA384, abi.SignedComponent(report), der)
	}
	if err != nil {
		return check.Wrap(platform, check.Signature, err, "report signature does not verify with the %v", signer)
	}
	return nil
}

// defaultFetchLine is the product line assumed when fetching the VCEK of a
// version 2 report, which does not say which product made it (go-sev-guest
// assumes the same).
const defaultFetchLine = ProductMilan

// fetchEK gets the VCEK from AMD KDS through the caller's Getter, at the URL
// for the report's product line, CHIP_ID and REPORTED_TCB. A VLEK can only
// come from the host, so a missing VLEK is snp.collateral, as is any fetch
// failure.
func fetchEK(rep *spb.Report, signer abi.ReportSigner, line string, opts *VerifyOptions) ([]byte, error) {
	if signer != abi.VcekReportSigner {
		return nil, check.Errorf(platform, check.Collateral, "could not obtain the %v certificate: only the host can provide it, and the certificate table has none", signer)
	}
	if line == "" {
		line = defaultFetchLine
	}
	url := kds.VCEKCertURL(line, rep.GetChipId(), kds.TCBVersion(rep.GetReportedTcb()))
	der, err := opts.Getter.Get(url)
	if err != nil {
		return nil, check.Wrap(platform, check.Collateral, err, "could not obtain the %v certificate", signer)
	}
	if len(der) == 0 || len(der) > maxCertDER {
		return nil, check.Errorf(platform, check.Collateral, "fetched %v certificate is empty or larger than %d bytes", signer, maxCertDER)
	}
	return der, nil
}

// checkRevocation checks that the bundle's ASK is not revoked by the product
// line's ARK-signed CRL: the one loaded with Roots.SetCRL while it is fresh,
// else one fetched through the Getter from the ASK's CRL distribution points.
// No CRL to be had is snp.collateral (wrapping ErrOffline without a Getter);
// a CRL not signed by the ARK, or one revoking the ASK, is snp.chain.
func checkRevocation(b *trust.AMDRootCerts, opts *VerifyOptions) error {
	line := b.GetProductLine()
	ask := b.ProductCerts.Ask
	if ask == nil {
		return check.Errorf(platform, check.Collateral, "revocation check needs the %s ASK (its CRL link), which the trusted bundle lacks", line)
	}
	b.Mu.Lock()
	defer b.Mu.Unlock()
	if b.CRL == nil || !opts.Now.Before(b.CRL.NextUpdate) {
		crl, err := fetchCRL(ask, opts)
		if err != nil {
			return check.Wrap(platform, check.Collateral, err, "no fresh %s CRL (load one with Roots.SetCRL or configure a Getter)", line)
		}
		b.CRL = crl
	}
	if err := b.CRL.CheckSignatureFrom(b.ProductCerts.Ark); err != nil {
		return check.Wrap(platform, check.Chain, err, "%s CRL is not signed by the ARK", line)
	}
	for _, e := range b.CRL.RevokedCertificateEntries {
		if e.SerialNumber != nil && e.SerialNumber.Cmp(ask.SerialNumber) == 0 {
			return check.Errorf(platform, check.Chain, "the %s ASK (serial %x) was revoked at %s", line, ask.SerialNumber, e.RevocationTime.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// fetchCRL fetches and parses the first CRL the ASK's distribution points serve.
func fetchCRL(ask *x509.Certificate, opts *VerifyOptions) (*x509.RevocationList, error) {
	if opts.Getter == nil {
		return nil, ErrOffline
	}
	var errs []error
	for _, url := range ask.CRLDistributionPoints {
		b, err := opts.Getter.Get(url)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		crl, err := x509.ParseRevocationList(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", url, err))
			continue
		}
		return crl, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("the ASK names no CRL distribution point")
	}
	return nil, errors.Join(errs...)
}
