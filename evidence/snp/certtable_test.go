package snp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/google/uuid"

	"github.com/seatrx/seatrx/evidence/check"
)

// rawTable writes headers (guid, off, len) and a zero terminator, then data.
func rawTable(hdrs []abi.CertTableHeaderEntry, data []byte) []byte {
	b := make([]byte, (len(hdrs)+1)*abi.CertTableEntrySize)
	for i, h := range hdrs {
		p := b[i*abi.CertTableEntrySize:]
		copy(p, h.GUID[:])
		binary.LittleEndian.PutUint32(p[16:], h.Offset)
		binary.LittleEndian.PutUint32(p[20:], h.Length)
	}
	return append(b, data...)
}

func TestParseCertTable(t *testing.T) {
	vcek, ask, ark := []byte("vcek-der"), []byte("ask-der"), []byte("ark-der")
	extra := uuid.MustParse(abi.ExtraPlatformInfoGUID)
	good := tableWith(
		abi.CertTableEntry{GUID: uuid.MustParse(abi.ArkGUID), RawCert: ark},
		abi.CertTableEntry{GUID: uuid.MustParse(abi.AskGUID), RawCert: ask},
		abi.CertTableEntry{GUID: uuid.MustParse(abi.VcekGUID), RawCert: vcek},
		abi.CertTableEntry{GUID: extra, RawCert: []byte{8, 0, 0, 0, 0x10, 0x0f, 0xa1, 0}},
	)
	tab, err := ParseCertTable(good)
	if err != nil {
		t.Fatalf("ParseCertTable(good): %v", err)
	}
	if !bytes.Equal(tab.VCEK, vcek) || !bytes.Equal(tab.ASK, ask) || !bytes.Equal(tab.ARK, ark) || len(tab.Extras[extra]) != 8 {
		t.Fatalf("parsed table = %+v", tab)
	}
	// Our parser must agree with go-sev-guest's on well-formed input.
	var lib abi.CertTable
	if err := lib.Unmarshal(good); err != nil {
		t.Fatal(err)
	}
	if got, _ := lib.GetByGUIDString(abi.VcekGUID); !bytes.Equal(got, tab.VCEK) {
		t.Errorf("library VCEK %q, ours %q", got, tab.VCEK)
	}
	if tab, err := ParseCertTable(nil); err != nil || tab.VCEK != nil {
		t.Errorf("ParseCertTable(nil) = %+v, %v; want empty table", tab, err)
	}

	g := uuid.MustParse(abi.VcekGUID)
	hdr := func(guid uuid.UUID, off, n uint32) abi.CertTableHeaderEntry {
		return abi.CertTableHeaderEntry{GUID: guid, Offset: off, Length: n}
	}
	many := make([]abi.CertTableHeaderEntry, MaxCertTableEntries+1)
	for i := range many {
		many[i] = hdr(uuid.UUID{byte(i + 1)}, uint32(len(many)+1)*24, 0)
	}
	tests := []struct {
		name   string
		in     []byte
		detail string
	}{
		{"garbage", []byte("garbage"), "entry 0 header truncated"},
		{"no terminator", good[:abi.CertTableEntrySize], "entry 1 header truncated"},
		{"offset inside header", rawTable([]abi.CertTableHeaderEntry{hdr(g, 10, 4)}, make([]byte, 64)), "outside data area"},
		{"range past end", rawTable([]abi.CertTableHeaderEntry{hdr(g, 48, 100)}, make([]byte, 10)), "range [48,148)"},
		{"offset+length overflows uint32", rawTable([]abi.CertTableHeaderEntry{hdr(g, 0xFFFFFFF0, 0x20)}, make([]byte, 64)), "outside data area"},
		{"duplicate GUID", rawTable([]abi.CertTableHeaderEntry{hdr(g, 72, 1), hdr(g, 72, 1)}, []byte{1}), "duplicate GUID"},
		{"too many entries", rawTable(many, nil), "more than 32 entries"},
		{"too large", make([]byte, MaxCertTableSize+1), "exceeds the 65536-byte limit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := ParseCertTable(tc.in)
			if tab != nil {
				t.Errorf("table returned with error")
			}
			wantCode(t, err, "snp.decode", "cert_table: ")
			wantCode(t, err, "snp.decode", tc.detail)
		})
	}
}

func FuzzCertTable(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Add(vcekTable([]byte("vcek")))
	f.Add(rawTable([]abi.CertTableHeaderEntry{{GUID: uuid.MustParse(abi.VcekGUID), Offset: 0xFFFFFFF0, Length: 0x20}}, make([]byte, 8)))
	f.Add(tableWith(
		abi.CertTableEntry{GUID: uuid.MustParse(abi.ArkGUID), RawCert: []byte("ark")},
		abi.CertTableEntry{GUID: uuid.MustParse(abi.VlekGUID), RawCert: []byte("vlek")},
	))
	f.Fuzz(func(t *testing.T, b []byte) {
		tab, err := ParseCertTable(b)
		if err != nil {
			if tab != nil {
				t.Fatal("table and error")
			}
			return
		}
		if len(b) > MaxCertTableSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		// Round trip: re-marshal with go-sev-guest and parse again.
		var lib abi.CertTable
		add := func(g string, blob []byte) {
			if len(blob) > 0 {
				lib.Entries = append(lib.Entries, abi.CertTableEntry{GUID: uuid.MustParse(g), RawCert: blob})
			}
		}
		add(abi.VcekGUID, tab.VCEK)
		add(abi.VlekGUID, tab.VLEK)
		add(abi.AskGUID, tab.ASK)
		add(abi.AsvkGUID, tab.ASVK)
		add(abi.ArkGUID, tab.ARK)
		for g, v := range tab.Extras {
			if g != (uuid.UUID{}) {
				add(g.String(), v)
			}
		}
		if len(lib.Entries) == 0 {
			return
		}
		again, err := ParseCertTable(lib.Marshal())
		if err != nil {
			if check.Code(err) != "snp.decode" || len(lib.Marshal()) <= MaxCertTableSize {
				t.Fatalf("re-marshalled table rejected: %v", err)
			}
			return
		}
		if !bytes.Equal(again.VCEK, tab.VCEK) || !bytes.Equal(again.ARK, tab.ARK) || !bytes.Equal(again.VLEK, tab.VLEK) {
			t.Fatal("round trip changed the certificates")
		}
	})
}

// TestCanonicalCertTable: the same certificates in any order, with or without
// the page padding hosts add, have one canonical form; it parses to the same
// table, is a fixed point, and is what go-sev-guest reads too.
func TestCanonicalCertTable(t *testing.T) {
	vcek, ask, ark := []byte("vcek-der-bytes"), []byte("ask-der"), []byte("ark-der-longer")
	e := func(g string, b []byte) abi.CertTableEntry {
		return abi.CertTableEntry{GUID: uuid.MustParse(g), RawCert: b}
	}
	a := tableWith(e(abi.VcekGUID, vcek), e(abi.AskGUID, ask), e(abi.ArkGUID, ark))
	b := tableWith(e(abi.ArkGUID, ark), e(abi.VcekGUID, vcek), e(abi.AskGUID, ask))
	padded := append(append([]byte(nil), b...), make([]byte, 4096-len(b)%4096)...)
	ca, err := CanonicalCertTable(a)
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{"reordered": b, "padded": padded, "canonical": ca} {
		c, err := CanonicalCertTable(in)
		if err != nil || !bytes.Equal(c, ca) {
			t.Fatalf("%s: canonical form differs (%v)", name, err)
		}
	}
	if want := 4*abi.CertTableEntrySize + len(vcek) + len(ask) + len(ark); len(ca) != want {
		t.Fatalf("canonical table is %d bytes, want %d (no padding)", len(ca), want)
	}
	tab, err := ParseCertTable(ca)
	if err != nil || !bytes.Equal(tab.VCEK, vcek) || !bytes.Equal(tab.ASK, ask) || !bytes.Equal(tab.ARK, ark) {
		t.Fatalf("canonical table parses to %+v, %v", tab, err)
	}
	var lib abi.CertTable
	if err := lib.Unmarshal(ca); err != nil {
		t.Fatalf("go-sev-guest cannot read the canonical table: %v", err)
	}
	for i := 1; i < 3; i++ { // headers sorted by GUID bytes
		if bytes.Compare(ca[(i-1)*24:(i-1)*24+16], ca[i*24:i*24+16]) >= 0 {
			t.Fatalf("entry %d is not after entry %d", i, i-1)
		}
	}
	if c, err := CanonicalCertTable(nil); err != nil || c != nil {
		t.Fatalf("empty table: %x, %v", c, err)
	}
	if c, err := CanonicalCertTable(make([]byte, 24)); err != nil || c != nil {
		t.Fatalf("terminator only: %x, %v", c, err)
	}
	_, err = CanonicalCertTable(a[:30])
	if check.Code(err) != "snp.decode" {
		t.Fatalf("truncated table: %v", err)
	}
}
