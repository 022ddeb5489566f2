//go:build unix

package bench

import (
	"syscall"
	"time"
)

// processCPU returns this process's CPU time so far (user + system, from
// getrusage), and whether it could be read.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
