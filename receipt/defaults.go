package receipt

import "time"

// Defaults of the clock and lifetime knobs of receipts.
const (
	// DefaultClockSkew is how far a timestamp may lie in the future of the
	// verifier's clock (online verification), and an EAR's iat after the
	// receipt's timestamp.
	DefaultClockSkew = 60 * time.Second
	// DefaultEARMaxAge bounds how long before a receipt's timestamp its EAR
	// may have been issued.
	DefaultEARMaxAge = 10 * time.Minute
)
