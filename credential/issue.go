package credential

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Lifetimes, as numbers (policy credentials.lifetime is checked against
// them; docs/PROTOCOL.md lists them).
const (
	// DefaultLifetime is an SVID's lifetime when the policy sets none.
	DefaultLifetime = time.Hour
	// MinLifetime and MaxLifetime bound the policy's lifetime. MaxLifetime
	// also bounds how long after its key's retirement a CA certificate
	// stays in the bundle: no SVID it signed lives longer.
	MinLifetime = time.Minute
	MaxLifetime = 24 * time.Hour
	// CALifetime is how long a workload CA certificate is valid from its
	// key's not_before; rotate the workload-ca key well before.
	CALifetime = 365 * 24 * time.Hour
	// Backdate moves an SVID's notBefore back for relying parties whose
	// clocks lag (never before the CA's notBefore).
	Backdate = time.Minute
	// BundleRefreshHint is the bundle's spiffe_refresh_hint: how often
	// relying parties should fetch it again.
	BundleRefreshHint = 5 * time.Minute
)

// NewCACertificate makes the self-signed CA certificate of a workload CA
// key for trust domain td, valid from notBefore for CALifetime: a SPIFFE
// signing certificate (cA true, keyCertSign and cRLSign, critical key
// usage) that is itself an SVID of the trust domain (URI SAN spiffe://td,
// no path), with no intermediates below it (pathLen 0).
func NewCACertificate(key crypto.Signer, td spiffeid.TrustDomain, notBefore time.Time) ([]byte, error) {
	if td.IsZero() {
		return nil, errors.New("credential: CA certificate without a trust domain")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	u := td.ID().URL()
	nb := notBefore.UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"seatrx"}, CommonName: "seatrx workload CA " + td.Name()},
		NotBefore:             nb,
		NotAfter:              nb.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		URIs:                  []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("credential: CA certificate: %w", err)
	}
	return der, nil
}

// CA is a workload CA that can sign: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// TrustDomain returns the trust domain the CA certificate names.
func (ca *CA) TrustDomain() (spiffeid.TrustDomain, error) {
	id, err := x509svid.IDFromCert(ca.Cert)
	if err != nil {
		return spiffeid.TrustDomain{}, fmt.Errorf("credential: CA certificate: %w", err)
	}
	return id.TrustDomain(), nil
}

// Request is one X.509-SVID to issue.
type Request struct {
	// ID is the workload's SPIFFE ID (from the policy's mapping).
	ID spiffeid.ID
	// PublicKey is the attested key: the SVID certifies exactly it.
	PublicKey crypto.PublicKey
	// Summary is the attestation the credential is issued on.
	Summary Summary
	// Now is the issuance time; Lifetime the policy's (0: DefaultLifetime).
	Now      time.Time
	Lifetime time.Duration
	// ValidUntil is the end of the attestation result's validity: the SVID
	// never outlives it (zero: no bound beyond Lifetime and the CA's).
	ValidUntil time.Time
}

// ErrNoValidity reports an SVID whose window would be empty: the CA
// certificate or the attestation result's validity ends before it starts.
var ErrNoValidity = errors.New("credential: no validity left for an SVID")

// Issue signs an X.509-SVID for r: one URI SAN (r.ID, which must be in the
// CA's trust domain and have a path), digitalSignature (critical key
// usage), serverAuth and clientAuth, not a CA, and the attestation summary
// (not critical). Its window starts Backdate before r.Now (not before the
// CA's) and ends at the earliest of r.Now+Lifetime, r.ValidUntil and the
// CA certificate's notAfter.
func (ca *CA) Issue(r Request) (*x509.Certificate, error) {
	td, err := ca.TrustDomain()
	if err != nil {
		return nil, err
	}
	if r.ID.IsZero() || r.ID.Path() == "" {
		return nil, fmt.Errorf("credential: SPIFFE ID %q has no path; a leaf SVID needs one", r.ID)
	}
	if !r.ID.MemberOf(td) {
		return nil, fmt.Errorf("credential: SPIFFE ID %s is not in the CA's trust domain %s", r.ID, td)
	}
	if r.Lifetime <= 0 {
		r.Lifetime = DefaultLifetime
	}
	if r.Lifetime > MaxLifetime {
		return nil, fmt.Errorf("credential: lifetime %s exceeds %s", r.Lifetime, MaxLifetime)
	}
	now := r.Now.UTC().Truncate(time.Second)
	nb := now.Add(-Backdate)
	if nb.Before(ca.Cert.NotBefore) {
		nb = ca.Cert.NotBefore
	}
	na := now.Add(r.Lifetime)
	if !r.ValidUntil.IsZero() && r.ValidUntil.Before(na) {
		na = r.ValidUntil.UTC().Truncate(time.Second)
	}
	if ca.Cert.NotAfter.Before(na) {
		na = ca.Cert.NotAfter
	}
	if !na.After(now) {
		return nil, fmt.Errorf("%w: the window would end %s (CA until %s, attestation valid until %s)", ErrNoValidity,
			na.Format(time.RFC3339), ca.Cert.NotAfter.Format(time.RFC3339), r.ValidUntil.Format(time.RFC3339))
	}
	ext, err := r.Summary.Marshal()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"seatrx"}},
		NotBefore:             nb,
		NotAfter:              na,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  false,
		URIs:                  []*url.URL{r.ID.URL()},
		ExtraExtensions:       []pkix.Extension{{Id: OIDAttestationSummary, Critical: false, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, r.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("credential: sign SVID: %w", err)
	}
	return x509.ParseCertificate(der)
}

// randomSerial returns a positive 128-bit serial number (RFC 5280 allows up
// to 20 octets; 16 random bytes leave the top bit clear).
func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("credential: serial: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}
