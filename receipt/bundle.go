package receipt

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
)

// SaltSize is the length of a masking salt.
const SaltSize = 16

// Bundle is a receipt with the preimages a third party needs to recompute its
// hashes: the action object and policy bytes, and the masking salts (which
// never appear in the receipt itself). Encoded as a closed CBOR map.
type Bundle struct {
	Receipt []byte            `cbor:"receipt"`
	Action  []byte            `cbor:"action,omitempty"`
	Policy  []byte            `cbor:"policy,omitempty"`
	Salts   map[string][]byte `cbor:"salts,omitempty"`
}

type bundleWire Bundle

// MarshalCBOR encodes the bundle as deterministic CBOR.
func (b *Bundle) MarshalCBOR() ([]byte, error) {
	return marshal((*bundleWire)(b))
}

// UnmarshalBundle strictly decodes a bundle: size limits per member, closed
// map, deterministic encoding. The receipt inside is not verified here.
func UnmarshalBundle(data []byte) (*Bundle, error) {
	const path = "bundle"
	if len(data) > MaxBundleSize {
		return nil, ferr(path, CodeTooLarge, "%d bytes exceeds limit %d", len(data), MaxBundleSize)
	}
	var b Bundle
	if err := decodeStruct(data, path, &b); err != nil {
		return nil, err
	}
	if err := checkDeterministic(path, data, (*bundleWire)(&b)); err != nil {
		return nil, err
	}
	return &b, nil
}

// validate applies the per-member size limits and the salt length.
func (b *Bundle) validate(path string) error {
	for _, m := range []struct {
		name  string
		v     []byte
		limit int
	}{{"receipt", b.Receipt, MaxReceiptSize}, {"action", b.Action, MaxActionSize}, {"policy", b.Policy, MaxPolicySize}} {
		if len(m.v) > m.limit {
			return ferr(join(path, m.name), CodeTooLarge, "%d bytes exceeds limit %d", len(m.v), m.limit)
		}
	}
	if len(b.Receipt) == 0 {
		return ferr(join(path, "receipt"), CodeBadValue, "empty")
	}
	for _, k := range slices.Sorted(maps.Keys(b.Salts)) {
		if s := b.Salts[k]; len(s) != SaltSize {
			return ferr(join(path, "salts."+k), CodeBadLength, "salt is %d bytes, want %d", len(s), SaltSize)
		}
	}
	return nil
}

// saltedDigest is the masking commitment H(salt || value).
func saltedDigest(alg int64, salt, value []byte) (Hash, error) {
	buf := make([]byte, 0, len(salt)+len(value))
	buf = append(append(buf, salt...), value...)
	return ComputeHash(alg, buf)
}

// maskIdentifiers moves s.Identifiers to s.MaskedIdentifiers as salted
// digests and returns the fresh salts.
func maskIdentifiers(s *ContextSnapshot, alg int64) (map[string][]byte, error) {
	if len(s.Identifiers) == 0 {
		return nil, nil
	}
	salts := make(map[string][]byte, len(s.Identifiers))
	s.MaskedIdentifiers = make(map[string]Hash, len(s.Identifiers))
	for _, name := range slices.Sorted(maps.Keys(s.Identifiers)) {
		v := s.Identifiers[name]
		salt := make([]byte, SaltSize)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("receipt: salt: %w", err)
		}
		h, err := saltedDigest(alg, salt, v)
		if err != nil {
			return nil, err
		}
		salts[name] = salt
		s.MaskedIdentifiers[name] = h
	}
	s.Identifiers = nil
	return salts, nil
}

// CheckDisclosure checks that value is the identifier masked under name in
// the receipt's snapshot, using the bundle's salt: the holder of a bundle can
// confirm e.g. a chip id without the receipt ever containing it.
func (b *Bundle) CheckDisclosure(r *Receipt, name string, value []byte) error {
	field := "context_snapshot.masked_identifiers." + name
	if r.ContextSnapshot == nil {
		return ferr("context_snapshot", CodeMissingField, "receipt has no context snapshot")
	}
	h, ok := r.ContextSnapshot.MaskedIdentifiers[name]
	if !ok {
		return ferr(field, CodeMissingField, "identifier %q is not masked in this receipt", name)
	}
	salt, ok := b.Salts[name]
	if !ok {
		return ferr("bundle.salts."+name, CodeMissingField, "bundle has no salt for %q", name)
	}
	got, err := saltedDigest(h.Alg, salt, value)
	if err != nil {
		return err
	}
	if !got.Equal(h) {
		return ferr(field, CodeMaskMismatch, "value does not match the salted digest")
	}
	return nil
}
