// Package fdlimit raises the process's open-file limit: every connection is
// a file descriptor, and the common soft limit (1024) is far below what a
// server under hostile load, or a load tool playing the attacker, holds.
package fdlimit

// Raise sets the soft RLIMIT_NOFILE to the hard limit when it is lower, and
// returns the soft and hard limits in force afterwards. Where there are no
// such limits (not Unix) it returns 0, 0 and no error.
func Raise() (soft, hard uint64, err error) { return raise() }

// Soft returns the soft RLIMIT_NOFILE in force (0 where there is none).
func Soft() uint64 { return soft() }
