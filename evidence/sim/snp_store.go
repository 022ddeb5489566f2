package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-sev-guest/kds"

	"github.com/seatrx/seatrx/evidence/snp"
)

// snpSubdir is where Save/LoadSNP keep the SNP PKI inside a simulation directory.
const snpSubdir = "snp"

// snpMaxFile bounds every file LoadSNP reads (a 4096-bit RSA key PEM is ~3.3 KB).
const snpMaxFile = 64 << 10

// Save writes the authority to dir/snp/: {ark,ask,vcek}.pem certificates and
// {ark,ask,vcek}.key PKCS#8 PEM keys (plus asvk/vlek when present). Keys are
// 0600, directories 0700. Existing files are overwritten.
func (a *SNPAuthority) Save(dir string) error {
	d := filepath.Join(dir, snpSubdir)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return fmt.Errorf("sim: SNP save: %w", err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		return fmt.Errorf("sim: SNP save: %w", err)
	}
	type item struct {
		name string
		cert *x509.Certificate
		key  crypto.PrivateKey
	}
	items := []item{{"ark", a.ark, a.arkKey}, {"ask", a.ask, a.askKey}, {"vcek", a.vcek, a.vcekKey}}
	if a.vlek != nil {
		items = append(items, item{"asvk", a.asvk, a.asvkKey}, item{"vlek", a.vlek, a.vlekKey})
	}
	for _, it := range items {
		kb, err := x509.MarshalPKCS8PrivateKey(it.key)
		if err != nil {
			return fmt.Errorf("sim: SNP save %s key: %w", it.name, err)
		}
		if err := snpWrite(filepath.Join(d, it.name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
			return err
		}
		if err := snpWrite(filepath.Join(d, it.name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: it.cert.Raw}), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func snpWrite(path string, data []byte, perm fs.FileMode) error {
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("sim: SNP save: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil { // WriteFile keeps an existing file's mode
		return fmt.Errorf("sim: SNP save: %w", err)
	}
	return nil
}

// LoadSNP reads an authority written by Save from dir/snp/ and checks it:
// every key matches its certificate, the chain signatures hold, and the
// product, TCB and CHIP_ID are recovered from the certificates (a Turin
// FMC patch level is not: the VCEK does not carry it, so it loads as 0).
func LoadSNP(dir string) (*SNPAuthority, error) {
	d := filepath.Join(dir, snpSubdir)
	a := &SNPAuthority{}
	var err error
	if a.ark, a.arkKey, err = snpLoadRSA(d, "ark"); err != nil {
		return nil, err
	}
	if a.ask, a.askKey, err = snpLoadRSA(d, "ask"); err != nil {
		return nil, err
	}
	if a.vcek, a.vcekKey, err = snpLoadEC(d, "vcek"); err != nil {
		return nil, err
	}
	if err := a.ark.CheckSignatureFrom(a.ark); err != nil {
		return nil, fmt.Errorf("sim: SNP load: ARK is not self-signed: %w", err)
	}
	if err := a.ask.CheckSignatureFrom(a.ark); err != nil {
		return nil, fmt.Errorf("sim: SNP load: ASK is not signed by the ARK: %w", err)
	}
	if err := a.vcek.CheckSignatureFrom(a.ask); err != nil {
		return nil, fmt.Errorf("sim: SNP load: VCEK is not signed by the ASK: %w", err)
	}
	a.product = strings.TrimPrefix(a.ask.Subject.CommonName, "SEV-")
	exts, err := kds.VcekCertificateExtensions(a.vcek)
	if err != nil {
		return nil, fmt.Errorf("sim: SNP load: VCEK extensions: %w", err)
	}
	p := kds.DecomposeTCBVersion(exts.TCBVersion)
	a.tcb = snp.TCB{BootLoader: p.BlSpl, TEE: p.TeeSpl, SNP: p.SnpSpl, Microcode: p.UcodeSpl}
	copy(a.chipID[:], exts.HWID)

	if _, err := os.Stat(filepath.Join(d, "asvk.pem")); err == nil {
		if a.asvk, a.asvkKey, err = snpLoadRSA(d, "asvk"); err != nil {
			return nil, err
		}
		if a.vlek, a.vlekKey, err = snpLoadEC(d, "vlek"); err != nil {
			return nil, err
		}
		if err := a.asvk.CheckSignatureFrom(a.ark); err != nil {
			return nil, fmt.Errorf("sim: SNP load: ASVK is not signed by the ARK: %w", err)
		}
		if err := a.vlek.CheckSignatureFrom(a.asvk); err != nil {
			return nil, fmt.Errorf("sim: SNP load: VLEK is not signed by the ASVK: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sim: SNP load: %w", err)
	}
	if err := a.init(); err != nil {
		return nil, err
	}
	return a, nil
}

// snpReadPEM reads one PEM block of the given type from a size-limited file.
func snpReadPEM(path, typ string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: SNP load: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, snpMaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("sim: SNP load %s: %w", path, err)
	}
	if len(data) > snpMaxFile {
		return nil, fmt.Errorf("sim: SNP load %s: larger than %d bytes", path, snpMaxFile)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("sim: SNP load %s: no %q PEM block", path, typ)
	}
	return b.Bytes, nil
}

func snpLoadPair(dir, name string) (*x509.Certificate, any, error) {
	cd, err := snpReadPEM(filepath.Join(dir, name+".pem"), "CERTIFICATE")
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(cd)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: SNP load %s.pem: %w", name, err)
	}
	kd, err := snpReadPEM(filepath.Join(dir, name+".key"), "PRIVATE KEY")
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(kd)
	if err != nil {
		return nil, nil, fmt.Errorf("sim: SNP load %s.key: %w", name, err)
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return nil, nil, fmt.Errorf("sim: SNP load %s.key: unsupported key type %T", name, key)
	}
	if eq, ok := pub.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("sim: SNP load %s: key does not match certificate", name)
	}
	return cert, key, nil
}

func snpLoadRSA(dir, name string) (*x509.Certificate, *rsa.PrivateKey, error) {
	c, k, err := snpLoadPair(dir, name)
	if err != nil {
		return nil, nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("sim: SNP load %s.key: want RSA, got %T", name, k)
	}
	return c, rk, nil
}

func snpLoadEC(dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	c, k, err := snpLoadPair(dir, name)
	if err != nil {
		return nil, nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("sim: SNP load %s.key: want ECDSA, got %T", name, k)
	}
	return c, ek, nil
}
