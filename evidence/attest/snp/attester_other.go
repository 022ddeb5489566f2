//go:build !linux

package snp

import "errors"

// OpenAttester reports ErrNoSNP: SEV-SNP guests are only supported on Linux.
func OpenAttester() (*Attester, error) {
	return nil, errors.Join(ErrNoSNP, errors.New("snp: SEV-SNP guest support requires Linux"))
}
