//go:build !(linux || darwin || freebsd)

package store

import "errors"

// FreeBytes is not implemented on this platform: readiness then reports
// the free space as unknown instead of guessing.
func FreeBytes(dir string) (uint64, error) {
	return 0, errors.New("store: free space: not implemented on this platform")
}
