//go:build unix

package keystore

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lock takes an exclusive advisory lock on ROLE/.lock, so that two
// rotations (by replicas or operators) of one role do not interleave.
func (d *Dir) lock(role string) (func(), error) {
	if err := d.prepare(role); err != nil {
		return nil, err
	}
	path := filepath.Join(d.RolePath(role), ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("keystore: lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
