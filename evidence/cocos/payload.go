package cocos

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/seatrx/seatrx/evidence/check"
)

// Limits and fixed values of the payload.
const (
	// MaxPayloadSize is the largest payload: cmw_data<1..2^16-1> inside an
	// extension_data<0..2^16-1> leaves 65,533 bytes.
	MaxPayloadSize = 65533
	// Version is the only payload version cocos writes and this package reads.
	Version = 1
	// MediaTypeEAT is the payload's media_type: its evidence is an EAT in a
	// COSE_Sign1 (cocos's attestation service's default CBOR form).
	MediaTypeEAT = "application/eat+cwt"
	// ExporterLabel is the binder's exporter label cocos uses and accepts in
	// binder.exporter_label (absent means the same).
	ExporterLabel = "Attestation"
)

// Binder is the payload's binder object. cocos fills it from the attester's
// own computation; it is unsigned, so a relying party compares it with its
// own computation and never takes it as proof.
type Binder struct {
	ExporterLabel string // "" when absent
	AIKPubHash    []byte // H(spki), 32 or 48 bytes
	Binding       []byte // H(spki || exported), 32 or 48 bytes
}

// Payload is the cocos JSON payload that cocos puts in cmw_data.
type Payload struct {
	Version   int64
	MediaType string // "" when absent
	Evidence  []byte // the EAT (COSE_Sign1)
	Binder    Binder
}

// wirePayload is the payload exactly as cocos writes it (Go encoding/json,
// members in this order, byte strings in padded standard base64, no
// whitespace): Marshal uses it so that seatrx's bytes equal cocos's.
type wirePayload struct {
	Version            int64      `json:"version"`
	MediaType          string     `json:"media_type,omitempty"`
	Evidence           []byte     `json:"evidence,omitempty"`
	AttestationResults []byte     `json:"attestation_results,omitempty"`
	Binder             wireBinder `json:"binder"`
}

type wireBinder struct {
	ExporterLabel string `json:"exporter_label,omitempty"`
	AIKPubHash    []byte `json:"aik_pub_hash"`
	Binding       []byte `json:"binding"`
}

// Marshal encodes p as cocos does. It refuses a payload that ParsePayload
// would refuse, so that seatrx never sends what it would not accept.
func (p *Payload) Marshal() ([]byte, error) {
	b, err := json.Marshal(wirePayload{
		Version: p.Version, MediaType: p.MediaType, Evidence: p.Evidence,
		Binder: wireBinder{ExporterLabel: p.Binder.ExporterLabel, AIKPubHash: p.Binder.AIKPubHash, Binding: p.Binder.Binding},
	})
	if err != nil {
		return nil, fmt.Errorf("cocos: encode payload: %w", err)
	}
	if _, err := ParsePayload(b); err != nil {
		return nil, err
	}
	return b, nil
}

func fieldErr(chk check.Check, field, format string, args ...any) *check.Error {
	return &check.Error{Platform: check.Cocos, Check: chk, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// ParsePayload reads a cocos payload strictly: exactly one JSON object with
// the member names spelled as cocos writes them (case-sensitive; cocos's own
// reader, Go's encoding/json, also accepts other cases and ignores unknown
// members), no duplicate or unknown members, no null values, version 1,
// media_type absent or application/eat+cwt, evidence present, padded
// standard base64 without line breaks, binder.aik_pub_hash and
// binder.binding of 32 or 48 bytes. attestation_results (which no cocos
// producer sets) is refused as cocos.unsupported. The size limit is checked
// before any parsing.
func ParsePayload(b []byte) (*Payload, error) {
	if len(b) == 0 || len(b) > MaxPayloadSize {
		return nil, fieldErr(check.Decode, "payload", "%d bytes; allowed 1..%d", len(b), MaxPayloadSize)
	}
	if !utf8.Valid(b) {
		return nil, fieldErr(check.Decode, "payload", "not UTF-8")
	}
	top, err := members(b, "payload")
	if err != nil {
		return nil, err
	}
	p := &Payload{}
	var haveVersion, haveEvidence, haveBinder bool
	for _, m := range top {
		switch m.name {
		case "version":
			if p.Version, err = integer(m.value, "version"); err != nil {
				return nil, err
			}
			haveVersion = true
		case "media_type":
			if p.MediaType, err = text(m.value, "media_type"); err != nil {
				return nil, err
			}
		case "evidence":
			if p.Evidence, err = base64Bytes(m.value, "evidence"); err != nil {
				return nil, err
			}
			haveEvidence = true
		case "attestation_results":
			if _, err := base64Bytes(m.value, "attestation_results"); err != nil {
				return nil, err
			}
			return nil, fieldErr(check.Unsupported, "attestation_results", "attestation results are not supported in the cocos profile (no cocos producer sets them and their format is unspecified)")
		case "binder":
			if p.Binder, err = parseBinder(m.value); err != nil {
				return nil, err
			}
			haveBinder = true
		default:
			return nil, fieldErr(check.Decode, qualify("payload", m.name), "unknown member (members are version, media_type, evidence, attestation_results, binder; names are case-sensitive)")
		}
	}
	switch {
	case !haveVersion:
		return nil, fieldErr(check.Decode, "version", "required member absent")
	case !haveEvidence:
		return nil, fieldErr(check.Decode, "evidence", "required member absent")
	case !haveBinder:
		return nil, fieldErr(check.Decode, "binder", "required member absent")
	case p.Version != Version:
		return nil, fieldErr(check.Format, "version", "version %d; this profile reads version %d", p.Version, Version)
	case p.MediaType != "" && p.MediaType != MediaTypeEAT:
		return nil, fieldErr(check.Format, "media_type", "%q; the cocos profile carries %q", p.MediaType, MediaTypeEAT)
	}
	return p, nil
}

// CheckLabel checks binder.exporter_label against label, the exporter label
// the relying party derives the binder with: cocos accepts an absent label
// (meaning its own) or exactly its own, and so does seatrx.
func (p *Payload) CheckLabel(label string) error {
	if l := p.Binder.ExporterLabel; l != "" && l != label {
		return fieldErr(check.Format, "binder.exporter_label", "%q; this profile derives the binder with %q", l, label)
	}
	return nil
}

func parseBinder(raw json.RawMessage) (Binder, error) {
	var b Binder
	ms, err := members(raw, "binder")
	if err != nil {
		return b, err
	}
	var haveAIK, haveBinding bool
	for _, m := range ms {
		field := qualify("binder", m.name)
		switch m.name {
		case "exporter_label":
			if b.ExporterLabel, err = text(m.value, field); err != nil {
				return b, err
			}
		case "aik_pub_hash":
			if b.AIKPubHash, err = digest(m.value, field); err != nil {
				return b, err
			}
			haveAIK = true
		case "binding":
			if b.Binding, err = digest(m.value, field); err != nil {
				return b, err
			}
			haveBinding = true
		default:
			return b, fieldErr(check.Decode, field, "unknown member (members are exporter_label, aik_pub_hash, binding)")
		}
	}
	switch {
	case !haveAIK:
		return b, fieldErr(check.Decode, "binder.aik_pub_hash", "required member absent")
	case !haveBinding:
		return b, fieldErr(check.Decode, "binder.binding", "required member absent")
	case len(b.AIKPubHash) != len(b.Binding):
		return b, fieldErr(check.Format, "binder.binding", "%d bytes but aik_pub_hash has %d: both are hashes of the same suite hash", len(b.Binding), len(b.AIKPubHash))
	}
	return b, nil
}

type member struct {
	name  string
	value json.RawMessage
}

// members reads raw as exactly one JSON object and returns its members in
// order, refusing duplicates and trailing data. where names raw in errors.
func members(raw []byte, where string) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fieldErr(check.Decode, where, "not JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fieldErr(check.Decode, where, "not a JSON object")
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fieldErr(check.Decode, where, "malformed object: %v", err)
		}
		name, _ := tok.(string) // object keys are always strings
		if seen[name] {
			return nil, fieldErr(check.Decode, qualify(where, name), "duplicate member")
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fieldErr(check.Decode, qualify(where, name), "malformed value: %v", err)
		}
		out = append(out, member{name, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fieldErr(check.Decode, where, "malformed object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fieldErr(check.Decode, where, "data after the object")
	}
	return out, nil
}

// qualify names member name of where ("payload" is the top level) as a
// field path; an empty name is shown as "".
func qualify(where, name string) string {
	if name == "" {
		name = `""`
	}
	if where == "payload" {
		return name
	}
	return where + "." + name
}

func text(raw json.RawMessage, field string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", fieldErr(check.Decode, field, "not a JSON string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fieldErr(check.Decode, field, "malformed string: %v", err)
	}
	return s, nil
}

func integer(raw json.RawMessage, field string) (int64, error) {
	i, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, fieldErr(check.Decode, field, "%.20s is not a JSON integer", raw)
	}
	return i, nil
}

// base64Bytes reads a JSON string of padded standard base64 (what Go's
// encoding/json writes for []byte), refusing empty values, the URL alphabet,
// missing padding and the line breaks Go's decoder would skip.
func base64Bytes(raw json.RawMessage, field string) ([]byte, error) {
	s, err := text(raw, field)
	if err != nil {
		return nil, err
	}
	if s == "" {
		return nil, fieldErr(check.Decode, field, "empty")
	}
	if bytes.ContainsAny([]byte(s), "\r\n") {
		return nil, fieldErr(check.Decode, field, "line break inside base64")
	}
	out, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fieldErr(check.Decode, field, "not padded standard base64: %v", err)
	}
	return out, nil
}

// digest reads a base64 hash of a TLS 1.3 suite hash (SHA-256 or SHA-384).
func digest(raw json.RawMessage, field string) ([]byte, error) {
	b, err := base64Bytes(raw, field)
	if err != nil {
		return nil, err
	}
	if len(b) != 32 && len(b) != 48 {
		return nil, fieldErr(check.Format, field, "%d bytes; a SHA-256 or SHA-384 digest has 32 or 48", len(b))
	}
	return b, nil
}
