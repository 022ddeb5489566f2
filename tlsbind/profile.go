package tlsbind

import (
	"fmt"
	"slices"
	"strings"

	"github.com/seatrx/seatrx/expat"
)

// Profile fixes what draft-fossati-seat-expat leaves open, or what a peer
// chose differently, so that two implementations can agree on the bytes:
// the binder's exporter label and length, the cmw_attestation codepoint,
// what cmw_data contains, and how the binder becomes the TEE's 64-byte
// REPORTDATA. Both sides must use the same profile; the draft defines no
// negotiation (seatrx advertises the profiles it accepts at
// /.well-known/seatrx). docs/PROTOCOL.md has the table. A Profile is a
// value: copy one from LookupProfile and change a field to describe a
// variant (a conformance suite does); Validate says whether it is usable.
type Profile struct {
	// ID names the profile: "expat-04", "expat-03", "cocos", "rust-ref".
	ID string
	// Label is the exporter label of the binder.
	Label string
	// ExportedSize is the exporter output length: 32 (the draft), 64 (rust-ref).
	ExportedSize int
	// CMWType is the cmw_attestation codepoint (the draft says TBD).
	CMWType uint16
	// Container is what cmw_data holds.
	Container Container
	// Layout is how binding and REPORTDATA are derived from the exported value.
	Layout Layout
}

// Container says what a profile puts in cmw_data.
type Container uint8

// Containers.
const (
	// ContainerCMW is a RATS CMW, as the draft says: seatrx's CBOR collection
	// of platform evidence, or an EAR record (passport model).
	ContainerCMW Container = iota + 1
	// ContainerCocos is cocos's JSON payload with an EAT inside
	// (evidence/cocos); background-check model only.
	ContainerCocos
	// ContainerRustRef is the Rust reference code's [type, TDX quote] record
	// (evidence/rustref); TDX only, background-check model only.
	ContainerRustRef
)

// String returns the container's short name, as /.well-known/seatrx lists it.
func (c Container) String() string {
	switch c {
	case ContainerCMW:
		return "cmw"
	case ContainerCocos:
		return "cocos-json"
	case ContainerRustRef:
		return "rust-ref-record"
	}
	return fmt.Sprintf("Container(%d)", uint8(c))
}

// Layout says how the exported value becomes binding and REPORTDATA. H is
// the cipher suite's hash, spki the DER SubjectPublicKeyInfo of the
// authenticator's end-entity certificate.
type Layout uint8

// Layouts.
const (
	// LayoutSeatrx: binding = H(spki || exported), aik_pub_hash = H(spki);
	// REPORTDATA = binding || aik_pub_hash on SHA-256 suites (both fit),
	// SHA-512(binding || aik_pub_hash) on SHA-384 suites.
	LayoutSeatrx Layout = iota + 1
	// LayoutSHA512Binding: binding and aik_pub_hash as above; REPORTDATA =
	// SHA-512(binding) on every suite (cocos; the key is bound only through
	// binding).
	LayoutSHA512Binding
	// LayoutExported: no key and no hash; binding = REPORTDATA = the 64-byte
	// exported value itself (rust-ref).
	LayoutExported
)

// String returns the layout's short name, as /.well-known/seatrx lists it.
func (l Layout) String() string {
	switch l {
	case LayoutSeatrx:
		return "binding-aik"
	case LayoutSHA512Binding:
		return "sha512-binding"
	case LayoutExported:
		return "exported"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// Profile identifiers.
const (
	ProfileExpat04 = "expat-04"
	ProfileExpat03 = "expat-03"
	ProfileCocos   = "cocos"
	ProfileRustRef = "rust-ref"
)

// Exporter labels of the known profiles.
const (
	// LabelExpat04 is draft-fossati-seat-expat-04's label (§5.1, §4; IANA
	// registration requested in §9.2).
	LabelExpat04 = "EXPORTER-cmw-attestation"
	// LabelExpat03 is -03's §5.1 label (and -02's); cocos uses it too.
	LabelExpat03 = "Attestation"
	// LabelRustRef is the rust-ref label issue 9 and the peer notes give.
	// UNCONFIRMED: every stored version of the Rust code exports with the
	// literal LabelRustRefCode instead.
	LabelRustRef = "Attestation Binding"
	// LabelRustRefCode is the label the stored Rust reference code actually
	// uses ("label", marked TODO there). Diagnosis tries it too.
	LabelRustRefCode = "label"
)

// profiles is the one table of known profiles; the first is the default.
var profiles = []Profile{
	{ID: ProfileExpat04, Label: LabelExpat04, ExportedSize: 32, CMWType: expat.DefaultCMWExtensionType, Container: ContainerCMW, Layout: LayoutSeatrx},
	{ID: ProfileExpat03, Label: LabelExpat03, ExportedSize: 32, CMWType: expat.DefaultCMWExtensionType, Container: ContainerCMW, Layout: LayoutSeatrx},
	{ID: ProfileCocos, Label: LabelExpat03, ExportedSize: 32, CMWType: 0xFF00, Container: ContainerCocos, Layout: LayoutSHA512Binding},
	{ID: ProfileRustRef, Label: LabelRustRef, ExportedSize: 64, CMWType: 0xFFFF, Container: ContainerRustRef, Layout: LayoutExported},
}

// Profiles returns the known profiles, the default first.
func Profiles() []Profile { return slices.Clone(profiles) }

// DefaultProfile returns expat-04, the profile seatrx uses unless told otherwise.
func DefaultProfile() Profile { return profiles[0] }

// LookupProfile returns the known profile id.
func LookupProfile(id string) (Profile, bool) {
	for _, p := range profiles {
		if p.ID == id {
			return p, true
		}
	}
	return Profile{}, false
}

// ParseProfiles resolves a comma-separated list of profile ids (flags and
// config files), keeping its order and refusing unknown or repeated ids.
func ParseProfiles(list string) ([]Profile, error) {
	var out []Profile
	for _, id := range strings.Split(list, ",") {
		id = strings.TrimSpace(id)
		p, ok := LookupProfile(id)
		if !ok {
			return nil, fmt.Errorf("unknown profile %q (known: %s)", id, strings.Join(ProfileIDs(profiles), ", "))
		}
		if slices.ContainsFunc(out, func(q Profile) bool { return q.ID == id }) {
			return nil, fmt.Errorf("profile %q listed twice", id)
		}
		out = append(out, p)
	}
	return out, nil
}

// ProfileIDs returns the ids of ps, in order.
func ProfileIDs(ps []Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// Validate reports whether p is usable: named, a label, a known container
// and layout, an exported length the layout can use (LayoutExported needs
// exactly 64 bytes; the hashing layouts 16..64) and, for the cocos
// container, a layout that has an aik_pub_hash for its JSON binder.
func (p Profile) Validate() error {
	switch {
	case p.ID == "":
		return fmt.Errorf("tlsbind: profile without an id")
	case p.Label == "":
		return fmt.Errorf("tlsbind: profile %q: empty exporter label", p.ID)
	case p.Container < ContainerCMW || p.Container > ContainerRustRef:
		return fmt.Errorf("tlsbind: profile %q: unknown container %v", p.ID, p.Container)
	case p.Layout < LayoutSeatrx || p.Layout > LayoutExported:
		return fmt.Errorf("tlsbind: profile %q: unknown layout %v", p.ID, p.Layout)
	case p.Layout == LayoutExported && p.ExportedSize != 64:
		return fmt.Errorf("tlsbind: profile %q: layout %v needs a 64-byte exported value, not %d", p.ID, p.Layout, p.ExportedSize)
	case p.Layout != LayoutExported && (p.ExportedSize < 16 || p.ExportedSize > 64):
		return fmt.Errorf("tlsbind: profile %q: exported length %d outside 16..64", p.ID, p.ExportedSize)
	case p.Container == ContainerCocos && p.Layout == LayoutExported:
		return fmt.Errorf("tlsbind: profile %q: the cocos container needs a layout with binding and aik_pub_hash", p.ID)
	}
	return nil
}

// Describe says in one line how p derives its binder, for errors and logs.
func (p Profile) Describe() string {
	return fmt.Sprintf("%s (label %q, %d-byte export, codepoint 0x%04x, cmw_data %v, REPORTDATA %v)", p.ID, p.Label, p.ExportedSize, p.CMWType, p.Container, p.Layout)
}

// CheckAccepted refuses to attest in use to a peer that advertises (e.g. at
// /.well-known/seatrx) the profiles peerAccepts and not use: a profile
// mismatch naming both sides, found before any evidence is made. An empty
// list (a peer that advertises nothing) is not checked.
func CheckAccepted(use Profile, peerAccepts []string) error {
	if len(peerAccepts) == 0 || slices.Contains(peerAccepts, use.ID) {
		return nil
	}
	return fail(StepRequest, CodeProfileMismatch, nil, "this side attests in profile %s; the peer accepts %s", use.ID, strings.Join(peerAccepts, ", "))
}

// derivations lists every binder derivation seatrx can recognise in a
// peer's REPORTDATA: each known profile's, and rust-ref with the label its
// stored code uses. Diagnosis only.
func derivations() []Profile {
	out := Profiles()
	alt, _ := LookupProfile(ProfileRustRef)
	alt.Label = LabelRustRefCode
	return append(out, alt)
}

// Diagnose looks for the known derivation that gives got, the REPORTDATA a
// peer's evidence carries, on this connection (ch, crc) for this key
// (spki); skip is the derivation the relying party already tried. It is
// for naming a profile mismatch in a refusal and never a reason to accept:
// got is read from evidence that did not verify.
func Diagnose(ch expat.Channel, crc, spki []byte, got [64]byte, skip Profile) (Profile, bool) {
	for _, p := range derivations() {
		if p == skip {
			continue
		}
		b, err := p.Binder(ch, crc, spki)
		if err == nil && b.Compare(got) == MismatchNone {
			return p, true
		}
	}
	return Profile{}, false
}
