package snp

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence/check"
)

// Size limits for untrusted certificate tables. A real table (VCEK + ASK +
// ARK) is about 4.5 KiB; 64 KiB is also the most a cmw_data field can carry.
const (
	// MaxCertTableSize is the largest GHCB certificate table Verify accepts.
	MaxCertTableSize = 64 << 10
	// MaxCertTableEntries bounds the number of GUID entries in a table.
	MaxCertTableEntries = 32
)

var (
	guidVCEK = uuid.MustParse(abi.VcekGUID)
	guidVLEK = uuid.MustParse(abi.VlekGUID)
	guidASK  = uuid.MustParse(abi.AskGUID)
	guidARK  = uuid.MustParse(abi.ArkGUID)
	guidASVK = uuid.MustParse(abi.AsvkGUID)
)

// CertTable is a parsed GHCB certificate table (the auxblob of an extended
// SNP report): DER certificates keyed by GUID. Slices alias the input.
type CertTable struct {
	VCEK, VLEK, ASK, ASVK, ARK []byte
	// Extras holds entries with other GUIDs (e.g. go-sev-guest's extra platform info).
	Extras map[uuid.UUID][]byte
}

// ParseCertTable parses a GHCB GUID table with strict bounds: total size,
// entry count, offsets inside the table and past the header, no duplicate
// GUIDs. An empty input is an empty table. Errors are *check.Error with code
// snp.decode and a detail naming the field.
func ParseCertTable(b []byte) (*CertTable, error) {
	t := &CertTable{}
	entries, err := parseEntries(b)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		switch e.guid {
		case guidVCEK:
			t.VCEK = e.blob
		case guidVLEK:
			t.VLEK = e.blob
		case guidASK:
			t.ASK = e.blob
		case guidASVK:
			t.ASVK = e.blob
		case guidARK:
			t.ARK = e.blob
		default:
			if t.Extras == nil {
				t.Extras = map[uuid.UUID][]byte{}
			}
			t.Extras[e.guid] = e.blob
		}
	}
	return t, nil
}

// certEntry is one GUID table entry and the bytes it points to (aliasing the table).
type certEntry struct {
	guid uuid.UUID
	blob []byte
}

// parseEntries reads the entries of a GHCB GUID table in table order.
func parseEntries(b []byte) ([]certEntry, error) {
	if len(b) == 0 {
		return nil, nil
	}
	if len(b) > MaxCertTableSize {
		return nil, check.Errorf(platform, check.Decode, "cert_table: %d bytes exceeds the %d-byte limit", len(b), MaxCertTableSize)
	}
	type hdr struct {
		guid        uuid.UUID
		off, length uint32
	}
	var hdrs []hdr
	pos := 0
	for {
		if len(b)-pos < abi.CertTableEntrySize {
			return nil, check.Errorf(platform, check.Decode, "cert_table: entry %d header truncated (no all-zero terminator)", len(hdrs))
		}
		var h hdr
		copy(h.guid[:], b[pos:pos+16])
		h.off = binary.LittleEndian.Uint32(b[pos+16 : pos+20])
		h.length = binary.LittleEndian.Uint32(b[pos+20 : pos+24])
		pos += abi.CertTableEntrySize
		if h.guid == (uuid.UUID{}) && h.off == 0 && h.length == 0 {
			break
		}
		if len(hdrs) == MaxCertTableEntries {
			return nil, check.Errorf(platform, check.Decode, "cert_table: more than %d entries", MaxCertTableEntries)
		}
		hdrs = append(hdrs, h)
	}
	seen := make(map[uuid.UUID]bool, len(hdrs))
	out := make([]certEntry, 0, len(hdrs))
	for i, h := range hdrs {
		if seen[h.guid] {
			return nil, check.Errorf(platform, check.Decode, "cert_table: entry %d: duplicate GUID %s", i, h.guid)
		}
		seen[h.guid] = true
		end := uint64(h.off) + uint64(h.length)
		if uint64(h.off) < uint64(pos) || end > uint64(len(b)) {
			return nil, check.Errorf(platform, check.Decode, "cert_table: entry %d (%s): range [%d,%d) outside data area [%d,%d)", i, h.guid, h.off, end, pos, len(b))
		}
		out = append(out, certEntry{guid: h.guid, blob: b[h.off:end:end]})
	}
	return out, nil
}

// CanonicalCertTable returns the canonical form of a GHCB certificate table,
// the bytes the evidence digest covers: the same entries (parsed as
// ParseCertTable does, snp.decode errors) sorted by GUID in byte order, their
// headers followed by the all-zero terminator, then each entry's bytes in
// that order, back to back, with no padding. A table without entries (or an
// empty input) is empty. Hosts return the table in a page-sized buffer, in
// any order; the canonical form makes one attestation one digest.
func CanonicalCertTable(table []byte) ([]byte, error) {
	entries, err := parseEntries(table)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b certEntry) int { return bytes.Compare(a.guid[:], b.guid[:]) })
	hdrLen := (len(entries) + 1) * abi.CertTableEntrySize
	size := hdrLen
	for _, e := range entries {
		size += len(e.blob)
	}
	out := make([]byte, hdrLen, size)
	off := hdrLen
	for i, e := range entries {
		h := out[i*abi.CertTableEntrySize:]
		copy(h, e.guid[:])
		binary.LittleEndian.PutUint32(h[16:], uint32(off))
		binary.LittleEndian.PutUint32(h[20:], uint32(len(e.blob)))
		off += len(e.blob)
	}
	for _, e := range entries {
		out = append(out, e.blob...)
	}
	return out, nil
}
