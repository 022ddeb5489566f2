package receipt

import "time"

// The defaults of every clock and lifetime knob of receipts: this table is
// their one definition. Package policy fills an absent receipts.* policy key
// from it (so a policy's canonical form, and policy_hash, carry the values
// in force), the server takes DefaultAttestationMaxAge, package verify the
// EAR bounds, and this package's zero options fall back to it. The EAR
// freshness rules on the wire are evidence/ear's (DefaultMaxAge 5 min,
// DefaultClockSkew 60 s); DefaultEARMaxAge below is derived from them, and
// verify's tests pin the relation.
const (
	// DefaultClockSkew is the clock tolerance of every receipt time check:
	// how far a receipt's timestamp may lie after an online verifier's
	// clock, and an EAR's iat after the receipt's timestamp (policy
	// receipts.clock_skew; VerifyOptions.Skew).
	DefaultClockSkew = 60 * time.Second
	// DefaultLifetime is how long after its timestamp a receipt is valid:
	// an online verifier refuses an older one as too_old (policy
	// receipts.lifetime; receipts.max_age, if set, is a stricter bound;
	// VerifyOptions.MaxAge). Audit mode has no clock and ignores it.
	DefaultLifetime = 15 * time.Minute
	// DefaultTokenLifetime is the execution token's redemption window,
	// [timestamp, timestamp + this) (policy receipts.token_lifetime;
	// IssueInput.TokenLifetime). A policy keeps it within the lifetime.
	DefaultTokenLifetime = 5 * time.Minute
	// DefaultApprovalLifetime is how long a local approval is valid after
	// the receipt's timestamp (IssueInput.ApprovalLifetime).
	DefaultApprovalLifetime = 5 * time.Minute
	// DefaultAttestationMaxAge is how old the attestation on a connection may
	// be when a server issues a receipt on it (server
	// --attestation-max-age).
	DefaultAttestationMaxAge = 5 * time.Minute
	// DefaultEARMaxAge bounds how long before a receipt's timestamp its EAR
	// may have been issued: an EAR at most evidence/ear.DefaultMaxAge (5 min)
	// old when the peer attested, on an attestation at most
	// DefaultAttestationMaxAge old when the receipt was issued.
	DefaultEARMaxAge = 10 * time.Minute
	// DefaultAuthorizationExpiry is how long a pending authorization waits
	// for its approvers (policy receipts.authorization_expiry): past it, no
	// approval is accepted and no receipt is issued for it.
	DefaultAuthorizationExpiry = time.Hour
)
