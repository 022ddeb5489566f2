package server

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/internal/keystore"
)

// workloadCA is the workload CA in force: every certificate of the role's
// history (for the bundle) and the CAs that may sign, in history order.
type workloadCA struct {
	td    spiffeid.TrustDomain
	certs []caCert
}

// caCert is one workload CA key's certificate, its manifest window, and
// its private key while the key may sign (nil once its file is gone).
type caCert struct {
	cert     *x509.Certificate
	entry    keystore.Entry
	signable *credential.CA
}

// loadWorkloadCA reads the workload-ca role of a loaded key directory: it
// makes the CA certificate of any key that has none yet while its private
// key is still there (once, shared by every replica through the key
// directory), and refuses a current key whose certificate names another
// trust domain than the policy's (the trust domain changed: rotate the
// workload-ca key).
func (s *Server) loadWorkloadCA(dir *keystore.Dir, role *keystore.Role) (*workloadCA, error) {
	td, err := spiffeid.TrustDomainFromString(s.pol.Credentials.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("server: policy credentials.trust_domain: %w", err)
	}
	w := &workloadCA{td: td}
	for _, e := range role.Manifest.Keys {
		key, err := dir.LoadKey(keystore.RoleWorkloadCA, e)
		if errors.Is(err, fs.ErrNotExist) {
			key = nil
		} else if err != nil {
			return nil, fmt.Errorf("server: workload CA key %s: %w", e.Kid, err)
		}
		der, err := dir.Certificate(keystore.RoleWorkloadCA, e)
		if errors.Is(err, keystore.ErrNoCertificate) {
			if key == nil {
				continue // never certified and gone: it signed nothing
			}
			ca, err := credential.NewCACertificate(key, td, e.NotBefore)
			if err != nil {
				return nil, err
			}
			if der, err = dir.PutCertificate(keystore.RoleWorkloadCA, e, ca); err != nil {
				return nil, fmt.Errorf("server: workload CA certificate: %w", err)
			}
			s.log.Info("made the workload CA certificate", "kid", e.Kid, "trust_domain", td.Name())
		} else if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("server: workload CA certificate %s: %w", e.Kid, err)
		}
		c := caCert{cert: cert, entry: e}
		if len(cert.URIs) != 1 || cert.URIs[0].String() != td.IDString() {
			if e.NotAfter == nil {
				return nil, fmt.Errorf("server: the current workload CA certificate (%s) names %v, but the policy's trust domain is %s: "+
					"rotate the workload-ca key (seatrx-server keys rotate --role workload-ca) after changing the trust domain",
					dir.CertificatePath(keystore.RoleWorkloadCA, e.Kid), cert.URIs, td.IDString())
			}
			continue // an older trust domain's CA: not in this bundle
		}
		if key != nil {
			c.signable = &credential.CA{Cert: cert, Key: key}
		}
		w.certs = append(w.certs, c)
	}
	return w, nil
}

// signer returns the CA that signs SVIDs at now: the OLDEST key whose
// signing window is still open. After a rotation the previous key keeps
// signing for the rotation's overlap while the new CA certificate is
// already in the bundle, so relying parties have it before any SVID it
// signed reaches them (rotate with --overlap of at least the bundle's
// refresh hint).
func (w *workloadCA) signer(now time.Time) (*credential.CA, error) {
	for _, c := range w.certs {
		if c.signable == nil || now.Before(c.entry.NotBefore) || (c.entry.NotAfter != nil && now.After(*c.entry.NotAfter)) {
			continue
		}
		if !now.Before(c.cert.NotAfter) {
			continue
		}
		return c.signable, nil
	}
	return nil, errors.New("no workload CA key may sign now (every certificate expired or every key retired): rotate the workload-ca key")
}

// bundle returns the CA certificates a relying party must trust at now:
// every certificate of the history that credential.InBundle keeps.
func (w *workloadCA) bundle(now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for _, c := range w.certs {
		if credential.InBundle(c.cert, c.entry.NotAfter, now) {
			out = append(out, c.cert)
		}
	}
	return out
}

// x509Bundle is bundle as go-spiffe's X.509 bundle, for verifying SVIDs
// presented over mTLS.
func (w *workloadCA) x509Bundle(now time.Time) *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(w.td, w.bundle(now))
}
