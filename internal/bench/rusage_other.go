//go:build !unix

package bench

import "time"

// processCPU is not available here: the report says so instead of a number.
func processCPU() (time.Duration, bool) { return 0, false }
