package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"

	"path/filepath"
	"time"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/keyfile"
)

// DevDir returns where a dev server writes what a dev client needs:
// ca.pem (to verify the server's TLS certificate) and sim-pki/ (the simulated
// TEE PKI both sides sign with and trust).
func DevDir(dataDir string) string { return filepath.Join(dataDir, "dev") }

// setupDev creates (or reuses) the dev CA, a server certificate for
// localhost, 127.0.0.1 and ::1, and the simulated PKI, all under DataDir/dev.
func (s *Server) setupDev() ([]tls.Certificate, error) {
	dir := DevDir(s.cfg.DataDir)
	caKey, err := keyfile.LoadOrCreateP256(filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return nil, err
	}
	caPath := filepath.Join(dir, "ca.pem")
	var ca *x509.Certificate
	if cs, err := keyfile.LoadCertificates(caPath); err == nil {
		ca = cs[0]
	} else if errors.Is(err, fs.ErrNotExist) {
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: "seatrx dev CA (NOT FOR PRODUCTION)"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
		if err != nil {
			return nil, fmt.Errorf("server: dev CA: %w", err)
		}
		if err := keyfile.WriteCertificate(caPath, der); err != nil {
			return nil, err
		}
		ca, _ = x509.ParseCertificate(der)
	} else {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(0, 0, 30),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("server: dev certificate: %w", err)
	}
	if s.simPKI, err = sim.LoadOrGenerate(filepath.Join(dir, "sim-pki"), time.Now().Add(-time.Hour)); err != nil {
		return nil, fmt.Errorf("server: dev simulated PKI: %w", err)
	}
	return []tls.Certificate{{Certificate: [][]byte{der, ca.Raw}, PrivateKey: leafKey}}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// DevBanner says, loudly, what a dev server simulates.
func DevBanner(dataDir, addr string) string {
	return fmt.Sprintf(`
################################################################################
#  seatrx DEVELOPMENT MODE -- NOTHING HERE IS A REAL TEE                        #
#  * TLS certificate: self-signed dev CA (%s)
#  * SEV-SNP and TDX evidence: SIMULATED test PKIs are TRUSTED (%s)
#  * simulated results appraise as "warning" and are ACCEPTED for receipts
#  * every EAR and receipt records simulated=true and the test-root fingerprints
#  * data (keys, SQLite store): %s
#  * listening on https://%s
################################################################################
`, filepath.Join(DevDir(dataDir), "ca.pem"), filepath.Join(DevDir(dataDir), "sim-pki"), dataDir, addr)
}
