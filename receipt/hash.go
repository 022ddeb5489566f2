package receipt

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
)

// COSE hash algorithm identifiers (IANA "COSE Algorithms") accepted here.
const (
	HashSHA256 int64 = -16
	HashSHA384 int64 = -43
)

// Hash is a COSE-style algorithm-tagged digest, CBOR [alg, value], the same
// shape as RFC 9360 COSE_CertHash. The algorithm travels with the value so
// that the accepted set can change without a schema change.
type Hash struct {
	_     struct{} `cbor:",toarray"`
	Alg   int64
	Value []byte
}

// hashLen returns the digest length for a supported algorithm, or 0.
func hashLen(alg int64) int {
	switch alg {
	case HashSHA256:
		return sha256.Size
	case HashSHA384:
		return sha512.Size384
	}
	return 0
}

// HashName returns the JSON rendering name of a hash algorithm ("sha-256").
func HashName(alg int64) string {
	switch alg {
	case HashSHA256:
		return "sha-256"
	case HashSHA384:
		return "sha-384"
	}
	return fmt.Sprintf("unknown(%d)", alg)
}

// ComputeHash digests data with the given COSE hash algorithm.
func ComputeHash(alg int64, data []byte) (Hash, error) {
	switch alg {
	case HashSHA256:
		s := sha256.Sum256(data)
		return Hash{Alg: alg, Value: s[:]}, nil
	case HashSHA384:
		s := sha512.Sum384(data)
		return Hash{Alg: alg, Value: s[:]}, nil
	}
	return Hash{}, ferr("", CodeHashAlg, "unsupported hash algorithm %d", alg)
}

// SHA256 returns the SHA-256 Hash of data (the profile's default).
func SHA256(data []byte) Hash {
	s := sha256.Sum256(data)
	return Hash{Alg: HashSHA256, Value: s[:]}
}

// check validates the algorithm id and the digest length, naming field.
func (h Hash) check(field string) error {
	n := hashLen(h.Alg)
	if n == 0 {
		return ferr(field, CodeHashAlg, "unknown hash algorithm %d", h.Alg)
	}
	if len(h.Value) != n {
		return ferr(field, CodeHashLength, "%s digest is %d bytes, want %d", HashName(h.Alg), len(h.Value), n)
	}
	return nil
}

// Matches reports whether h is a valid digest of data under h's algorithm
// (constant-time comparison).
func (h Hash) Matches(data []byte) bool {
	got, err := ComputeHash(h.Alg, data)
	if err != nil || len(got.Value) != len(h.Value) {
		return false
	}
	return subtle.ConstantTimeCompare(got.Value, h.Value) == 1
}

// Equal reports whether two hashes have the same algorithm and value.
func (h Hash) Equal(o Hash) bool {
	return h.Alg == o.Alg && subtle.ConstantTimeCompare(h.Value, o.Value) == 1
}

// verifyPreimage checks that h is well-formed and a digest of data.
func verifyPreimage(field string, h Hash, data []byte) error {
	if err := h.check(field); err != nil {
		return err
	}
	if !h.Matches(data) {
		return ferr(field, CodeHashMismatch, "recomputed %s digest differs", HashName(h.Alg))
	}
	return nil
}
