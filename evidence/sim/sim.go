// Package sim is seatrx's simulated TEE: real-format SEV-SNP reports and TDX
// v4 and v5 quotes over any REPORTDATA, signed by test PKIs generated locally (a fake
// AMD ARK/ASK/VCEK chain; a mock Intel root, PCK chain, QE and collateral).
//
// Nothing here is trusted by default. A verifier accepts simulated evidence
// only when an operator explicitly adds these roots (--trust-simulated or
// --dev), every result records Simulated = true and the roots' fingerprints,
// and the certificates say "NOT AMD" / "NOT INTEL" in their organisation.
// The package never imports go-sev-guest's testing package.
package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// PKI is a simulated SEV-SNP and TDX trust hierarchy that several processes
// can share through a directory (dir/snp, dir/tdx).
type PKI struct {
	SNP *SNPAuthority
	TDX *TDXAuthority
}

// Generate makes a fresh PKI valid from now.
func Generate(now time.Time) (*PKI, error) {
	s, err := GenerateSNP(SNPOptions{Now: now})
	if err != nil {
		return nil, fmt.Errorf("sim: generate SNP PKI: %w", err)
	}
	t, err := GenerateTDX(TDXOptions{Now: now})
	if err != nil {
		return nil, fmt.Errorf("sim: generate TDX PKI: %w", err)
	}
	return &PKI{SNP: s, TDX: t}, nil
}

// Load reads a PKI saved by Save.
func Load(dir string) (*PKI, error) {
	s, err := LoadSNP(dir)
	if err != nil {
		return nil, err
	}
	t, err := LoadTDX(dir)
	if err != nil {
		return nil, err
	}
	return &PKI{SNP: s, TDX: t}, nil
}

// Save writes the PKI (keys included, mode 0600) under dir.
func (p *PKI) Save(dir string) error {
	if err := p.SNP.Save(dir); err != nil {
		return err
	}
	return p.TDX.Save(dir)
}

// LoadOrGenerate loads the PKI in dir, or generates and saves one if dir holds
// none yet, so that a dev server and its clients share the same test roots.
func LoadOrGenerate(dir string, now time.Time) (*PKI, error) {
	if _, err := os.Stat(filepath.Join(dir, "snp")); err == nil {
		return Load(dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sim: %w", err)
	}
	p, err := Generate(now)
	if err != nil {
		return nil, err
	}
	if err := p.Save(dir); err != nil {
		return nil, err
	}
	return p, nil
}
