package receipt

import (
	"crypto"
	"fmt"
)

// MaxKeysSize bounds a keys document, checked before decoding.
const MaxKeysSize = 1 << 20

// AppraiserID is the approver id under which an issuer's appraiser key signs
// approvals when its policy lists no approvers (1-of-1 by the appraiser).
const AppraiserID = "appraiser"

// Keys is an issuer's keys document (GET /v1/keys, a closed CBOR map): the
// public keys a third party needs to verify the issuer's receipts offline,
// and the issuer's canonical policy. It holds no trust decisions: a verifier
// decides what to trust from it (package verify builds a TrustStore).
//
// Read keys through IssuerKeys, ApproverKeys and EARVerifierKeys, not the
// fields: key history (several keys per role, each with kid, not_before and
// not_after) is a later addition to this document, and those methods will
// then return every key with its validity window in TrustedKey.NotBefore /
// NotAfter.
type Keys struct {
	// Issuer is the issuer URI (the receipts' CWT iss).
	Issuer string `cbor:"issuer"`
	// IssuerKey is the receipt signing key (COSE_Key).
	IssuerKey []byte `cbor:"issuer_key"`
	// Appraiser is the key of the issuer's own approver (COSE_Key).
	Appraiser []byte `cbor:"appraiser_key"`
	// Verifier is the key the issuer signs its EARs with (COSE_Key).
	Verifier []byte `cbor:"verifier_key"`
	// PolicyCBOR is the issuer's policy in canonical CBOR (policy_hash
	// preimage).
	PolicyCBOR []byte `cbor:"policy"`
	// Simulated says the issuer trusts simulated (test) TEE roots.
	Simulated bool `cbor:"simulated_roots_trusted"`
	// PassportVerifiers are the external verifiers whose EARs the issuer
	// accepts (passport model); their EARs end up in its receipts.
	PassportVerifiers [][]byte `cbor:"passport_verifiers,omitempty"`
}

type keysWire Keys

// MarshalCBOR encodes the document as Core Deterministic CBOR.
func (k *Keys) MarshalCBOR() ([]byte, error) { return marshal((*keysWire)(k)) }

// ParseKeys strictly decodes a keys document: size limit, closed map (an
// unknown or duplicate key is an error), every key a COSE_Key this profile
// accepts. Errors are *FieldError under the path "keys".
func ParseKeys(data []byte) (*Keys, error) {
	const path = "keys"
	if len(data) > MaxKeysSize {
		return nil, ferr(path, CodeTooLarge, "%d bytes exceeds limit %d", len(data), MaxKeysSize)
	}
	var k Keys
	if err := decodeStruct(data, path, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// validate parses every key once, so that a document that parses yields
// keys, and checks the policy preimage.
func (k *Keys) validate(path string) error {
	if k.Issuer == "" {
		return ferr(join(path, "issuer"), CodeBadValue, "empty issuer")
	}
	if _, err := k.IssuerKeys(); err != nil {
		return err
	}
	if _, err := k.ApproverKeys(); err != nil {
		return err
	}
	if _, err := k.EARVerifierKeys(); err != nil {
		return err
	}
	return checkDeterministicAny(join(path, "policy"), k.PolicyCBOR, MaxPolicySize)
}

// parseKey parses one COSE_Key of the document, naming its member.
func parseKey(field string, b []byte) (crypto.PublicKey, error) {
	pub, err := ParseCOSEKey(b)
	if err != nil {
		return nil, &FieldError{Field: "keys." + field, Code: Code(err), Err: err}
	}
	return pub, nil
}

// IssuerKeys returns the issuer's receipt signing keys, each bound to the
// issuer name (a receipt signed by one with another iss is refused).
func (k *Keys) IssuerKeys() ([]TrustedKey, error) {
	pub, err := parseKey("issuer_key", k.IssuerKey)
	if err != nil {
		return nil, err
	}
	return []TrustedKey{{ID: k.Issuer, Key: pub, Issuer: k.Issuer}}, nil
}

// ApproverKeys returns the issuer's own approver keys, under AppraiserID:
// the approver set of a verifier that has no policy of its own.
func (k *Keys) ApproverKeys() ([]TrustedKey, error) {
	pub, err := parseKey("appraiser_key", k.Appraiser)
	if err != nil {
		return nil, err
	}
	return []TrustedKey{{ID: AppraiserID, Key: pub}}, nil
}

// EARVerifierKeys returns the keys whose EARs may appear in the issuer's
// receipts: its own verifier key, then the passport verifiers it accepts.
func (k *Keys) EARVerifierKeys() ([]crypto.PublicKey, error) {
	pub, err := parseKey("verifier_key", k.Verifier)
	if err != nil {
		return nil, err
	}
	out := []crypto.PublicKey{pub}
	for i, b := range k.PassportVerifiers {
		p, err := parseKey(fmt.Sprintf("passport_verifiers[%d]", i), b)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
