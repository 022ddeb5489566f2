//go:build linux || darwin || freebsd

package store

import (
	"fmt"
	"syscall"
)

// FreeBytes returns the bytes available to an unprivileged process on the
// file system holding dir (statfs f_bavail × f_bsize).
func FreeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("store: free space of %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
