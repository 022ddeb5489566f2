package snp

import (
	"encoding/binary"

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
	if len(b) == 0 {
		return t, nil
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
	for i, h := range hdrs {
		if seen[h.guid] {
			return nil, check.Errorf(platform, check.Decode, "cert_table: entry %d: duplicate GUID %s", i, h.guid)
		}
		seen[h.guid] = true
		end := uint64(h.off) + uint64(h.length)
		if uint64(h.off) < uint64(pos) || end > uint64(len(b)) {
			return nil, check.Errorf(platform, check.Decode, "cert_table: entry %d (%s): range [%d,%d) outside data area [%d,%d)", i, h.guid, h.off, end, pos, len(b))
		}
		blob := b[h.off:end:end]
		switch h.guid {
		case guidVCEK:
			t.VCEK = blob
		case guidVLEK:
			t.VLEK = blob
		case guidASK:
			t.ASK = blob
		case guidASVK:
			t.ASVK = blob
		case guidARK:
			t.ARK = blob
		default:
			if t.Extras == nil {
				t.Extras = map[uuid.UUID][]byte{}
			}
			t.Extras[h.guid] = blob
		}
	}
	return t, nil
}
