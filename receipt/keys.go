package receipt

import (
	"bytes"
	"crypto"
	"fmt"
)

// MaxKeysSize bounds a keys document, checked before decoding.
const MaxKeysSize = 1 << 20

// AppraiserID is the approver id under which an issuer's appraiser key signs
// approvals when its policy lists no approvers (1-of-1 by the appraiser).
const AppraiserID = "appraiser"

// Key roles of a keys document's history (PROFILE.md §11).
const (
	RoleIssuer      = "issuer"       // signs receipts
	RoleAppraiser   = "appraiser"    // signs the issuer's own approvals
	RoleEARVerifier = "ear-verifier" // signs the EARs inside receipts
)

// Keys is an issuer's keys document (GET /v1/keys, a closed CBOR map): the
// public keys a third party needs to verify the issuer's receipts offline,
// every key it ever used with its validity window, and the issuer's
// canonical policy. It holds no trust decisions: a verifier decides what to
// trust from it (package verify builds a TrustStore).
//
// Read keys through IssuerKeys, ApproverKeys and EARVerifierKeys, not the
// fields: they return every key of a role with its window in
// TrustedKey.NotBefore / NotAfter, whether the document lists a history
// (History) or is of the first form, one key per role without windows
// (IssuerKey, Appraiser, Verifier), which is still read.
type Keys struct {
	// Issuer is the issuer URI (the receipts' CWT iss).
	Issuer string `cbor:"issuer"`
	// History lists every key of every role, retired ones included.
	History []KeyEntry `cbor:"keys,omitempty"`
	// IssuerKey, Appraiser and Verifier are the first form's single keys
	// (COSE_Key), without windows; absent when History is present.
	IssuerKey []byte `cbor:"issuer_key,omitempty"`
	Appraiser []byte `cbor:"appraiser_key,omitempty"`
	Verifier  []byte `cbor:"verifier_key,omitempty"`
	// PolicyCBOR is the issuer's policy in canonical CBOR (policy_hash
	// preimage).
	PolicyCBOR []byte `cbor:"policy"`
	// Simulated says the issuer trusts simulated (test) TEE roots.
	Simulated bool `cbor:"simulated_roots_trusted"`
	// PassportVerifiers are the external verifiers whose EARs the issuer
	// accepts (passport model); their EARs end up in its receipts.
	PassportVerifiers [][]byte `cbor:"passport_verifiers,omitempty"`
}

// KeyEntry is one key of a keys document's history: its role, kid (the
// RFC 9679 thumbprint of Key), the COSE_Key, and its validity window in Unix
// seconds, both ends inclusive. NotAfter 0 (absent) is the role's current
// key; a rotation sets it, and a retired key keeps its window forever.
type KeyEntry struct {
	Role      string `cbor:"role"`
	Kid       []byte `cbor:"kid"`
	Key       []byte `cbor:"key"`
	NotBefore uint64 `cbor:"not_before"`
	NotAfter  uint64 `cbor:"not_after,omitempty"`
}

// MaxKeyEntries bounds a keys document's history.
const MaxKeyEntries = 256

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
	if len(k.History) > 0 {
		if err := k.validateHistory(path); err != nil {
			return err
		}
	} else {
		for _, m := range []struct {
			name string
			v    []byte
		}{{"issuer_key", k.IssuerKey}, {"appraiser_key", k.Appraiser}, {"verifier_key", k.Verifier}} {
			if m.v == nil {
				return ferr(join(path, m.name), CodeMissingField, "required key %q absent (and no \"keys\" history)", m.name)
			}
		}
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

// validateHistory checks the history form: no first-form keys beside it,
// known roles, kid = thumbprint(key), not_after after not_before, kids
// distinct, every role present with at most one current key.
func (k *Keys) validateHistory(path string) error {
	if k.IssuerKey != nil || k.Appraiser != nil || k.Verifier != nil {
		return ferr(join(path, "keys"), CodeBadValue, "a history and first-form keys (issuer_key, ...) together")
	}
	if len(k.History) > MaxKeyEntries {
		return ferr(join(path, "keys"), CodeTooLarge, "%d keys, limit %d", len(k.History), MaxKeyEntries)
	}
	seen := map[string]bool{}
	current := map[string]int{}
	count := map[string]int{}
	for i, e := range k.History {
		p := fmt.Sprintf("%s.keys[%d]", path, i)
		switch e.Role {
		case RoleIssuer, RoleAppraiser, RoleEARVerifier:
		default:
			return ferr(p+".role", CodeBadValue, "unknown role %q (want %s, %s or %s)", e.Role, RoleIssuer, RoleAppraiser, RoleEARVerifier)
		}
		pub, err := ParseCOSEKey(e.Key)
		if err != nil {
			return &FieldError{Field: p + ".key", Code: Code(err), Err: err}
		}
		tp, err := Thumbprint(pub)
		if err != nil {
			return err
		}
		if !bytes.Equal(tp, e.Kid) {
			return ferr(p+".kid", CodeBadValue, "kid is not the key's RFC 9679 thumbprint")
		}
		if seen[string(e.Kid)] {
			return ferr(p+".kid", CodeBadValue, "kid %x listed twice", e.Kid)
		}
		seen[string(e.Kid)] = true
		if e.NotBefore > maxUnix || e.NotAfter > maxUnix {
			return ferr(p, CodeBadValue, "validity beyond year 9999")
		}
		if e.NotAfter == 0 {
			current[e.Role]++
		} else if e.NotAfter < e.NotBefore {
			return ferr(p+".not_after", CodeBadValue, "not_after %d before not_before %d", e.NotAfter, e.NotBefore)
		}
		count[e.Role]++
	}
	for _, r := range []string{RoleIssuer, RoleAppraiser, RoleEARVerifier} {
		if count[r] == 0 {
			return ferr(join(path, "keys"), CodeMissingField, "no %s key", r)
		}
		if current[r] > 1 {
			return ferr(join(path, "keys"), CodeBadValue, "%d current %s keys (without not_after), at most one", current[r], r)
		}
	}
	return nil
}

// roleKeys returns the history's keys of role as TrustedKeys with their
// windows, or the first form's single key without one.
func (k *Keys) roleKeys(role, firstForm string, single []byte, id string) ([]TrustedKey, error) {
	if len(k.History) == 0 {
		pub, err := parseKey(firstForm, single)
		if err != nil {
			return nil, err
		}
		return []TrustedKey{{ID: id, Key: pub, Role: role}}, nil
	}
	var out []TrustedKey
	for i, e := range k.History {
		if e.Role != role {
			continue
		}
		pub, err := parseKey(fmt.Sprintf("keys[%d].key", i), e.Key)
		if err != nil {
			return nil, err
		}
		t := TrustedKey{ID: id, Key: pub, Role: role, NotBefore: unix(e.NotBefore)}
		if e.NotAfter != 0 {
			t.NotAfter = unix(e.NotAfter)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, ferr("keys.keys", CodeMissingField, "no %s key", role)
	}
	return out, nil
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
// issuer name (a receipt signed by one with another iss is refused) and
// with its validity window.
func (k *Keys) IssuerKeys() ([]TrustedKey, error) {
	ks, err := k.roleKeys(RoleIssuer, "issuer_key", k.IssuerKey, k.Issuer)
	for i := range ks {
		ks[i].Issuer = k.Issuer
	}
	return ks, err
}

// ApproverKeys returns the issuer's own approver keys, under AppraiserID:
// the approver set of a verifier that has no policy of its own.
func (k *Keys) ApproverKeys() ([]TrustedKey, error) {
	return k.roleKeys(RoleAppraiser, "appraiser_key", k.Appraiser, AppraiserID)
}

// EARVerifierKeys returns the keys whose EARs may appear in the issuer's
// receipts: its own EAR verifier keys (with their windows), then the
// passport verifiers it accepts (Role "passport-verifier", no window).
func (k *Keys) EARVerifierKeys() ([]TrustedKey, error) {
	out, err := k.roleKeys(RoleEARVerifier, "verifier_key", k.Verifier, RoleEARVerifier)
	if err != nil {
		return nil, err
	}
	for i, b := range k.PassportVerifiers {
		p, err := parseKey(fmt.Sprintf("passport_verifiers[%d]", i), b)
		if err != nil {
			return nil, err
		}
		out = append(out, TrustedKey{ID: fmt.Sprintf("passport_verifiers[%d]", i), Key: p, Role: "passport-verifier"})
	}
	return out, nil
}

// MergeKeys joins keys documents of one issuer, saved at different times,
// into one: the union of their key histories (a key retired in a later
// document keeps the window that document gives it), and the policy and
// flags of the last document. Documents of different issuers, or giving one
// key two different retirements, are refused.
func MergeKeys(docs ...*Keys) (*Keys, error) {
	if len(docs) == 0 {
		return nil, ferr("keys", CodeMissingField, "no keys document")
	}
	last := docs[len(docs)-1]
	out := &Keys{Issuer: last.Issuer, PolicyCBOR: last.PolicyCBOR, Simulated: last.Simulated, PassportVerifiers: last.PassportVerifiers}
	index := map[string]int{}
	for d, doc := range docs {
		if doc.Issuer != out.Issuer {
			return nil, ferr(fmt.Sprintf("keys[%d].issuer", d), CodeIssuerMismatch, "issuer %q, the last document's is %q", doc.Issuer, out.Issuer)
		}
		entries, err := doc.entries()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			id := e.Role + "/" + string(e.Kid)
			j, ok := index[id]
			if !ok {
				index[id] = len(out.History)
				out.History = append(out.History, e)
				continue
			}
			have := &out.History[j]
			switch {
			case e.NotAfter != 0 && have.NotAfter != 0 && e.NotAfter != have.NotAfter,
				e.NotBefore != 0 && have.NotBefore != 0 && e.NotBefore != have.NotBefore:
				return nil, ferr(fmt.Sprintf("keys[%d]", d), CodeBadValue, "%s key %x has two different windows", e.Role, e.Kid)
			}
			have.NotBefore = max(have.NotBefore, e.NotBefore)
			have.NotAfter = max(have.NotAfter, e.NotAfter)
		}
	}
	return out, out.validate("keys")
}

// entries returns the document's history, the first form as entries
// without windows.
func (k *Keys) entries() ([]KeyEntry, error) {
	if len(k.History) > 0 {
		return k.History, nil
	}
	var out []KeyEntry
	for _, m := range []struct {
		role, name string
		key        []byte
	}{{RoleIssuer, "issuer_key", k.IssuerKey}, {RoleAppraiser, "appraiser_key", k.Appraiser}, {RoleEARVerifier, "verifier_key", k.Verifier}} {
		pub, err := parseKey(m.name, m.key)
		if err != nil {
			return nil, err
		}
		kid, err := Thumbprint(pub)
		if err != nil {
			return nil, err
		}
		out = append(out, KeyEntry{Role: m.role, Kid: kid, Key: m.key})
	}
	return out, nil
}
