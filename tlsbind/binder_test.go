package tlsbind

import (
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/seatrx/seatrx/expat"
)

func profile(t testing.TB, id string) Profile {
	t.Helper()
	p, ok := LookupProfile(id)
	if !ok {
		t.Fatalf("no profile %q", id)
	}
	return p
}

// rfc8448 is the connection of specs.md §8.2: RFC 8448's
// exporter_master_secret, context 0x00..0x1f.
func rfc8448(t *testing.T) (expat.Channel, []byte) {
	t.Helper()
	ems, _ := hex.DecodeString("fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50")
	ch, err := expat.NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, ems)
	if err != nil {
		t.Fatal(err)
	}
	crc := make([]byte, 32)
	for i := range crc {
		crc[i] = byte(i)
	}
	return ch, crc
}

// Exported values computed independently (specs.md §8.2 for "Attestation";
// the interop note §1.7 and §6.1 for the -04 label and rust-ref's code
// label, with a separate HKDF implementation).
func TestBinderKnownAnswers(t *testing.T) {
	ch, crc := rfc8448(t)
	spki := []byte("not a real SPKI, but the binder hashes bytes")
	rustCode := profile(t, ProfileRustRef)
	rustCode.Label = LabelRustRefCode
	for _, tc := range []struct {
		p        Profile
		exported string
	}{
		{profile(t, ProfileExpat03), "de6655915cadff0d4fe781e255b3cc28cf8cc5c647de58a1e38a59e40bc4ee39"},
		{profile(t, ProfileExpat04), "d1bdbe5bff7774441c4178731ebab0ed02e8512fe9e3e047d58a9b4d6f22ffe8"},
		{rustCode, "775c1e1b11894246481821bff5a3cb8ffe893b55e4c7d0ee677dad90bc4a4da7272753708d340eff444ee7305696113aec865565fdd7010a4173580197fd2338"},
	} {
		b, err := tc.p.Binder(ch, crc, spki)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b.Exported); got != tc.exported {
			t.Errorf("%s (%q): exported %s, want %s", tc.p.ID, tc.p.Label, got, tc.exported)
		}
	}
}

func TestBinderLayouts(t *testing.T) {
	ch, crc := rfc8448(t)
	spki := []byte("spki")
	b, err := DefaultProfile().Binder(ch, crc, spki)
	if err != nil {
		t.Fatal(err)
	}
	if string(b.ReportData[:32]) != string(b.Binding) || string(b.ReportData[32:]) != string(b.AIKPubHash) {
		t.Fatal("SHA-256 layout is not binding || aik_pub_hash")
	}
	if b.Compare(b.ReportData) != MismatchNone {
		t.Fatal("self compare")
	}
	other := b.ReportData
	other[3] ^= 1
	if b.Compare(other) != MismatchBinding {
		t.Fatal("binding mismatch not attributed")
	}
	other = b.ReportData
	other[40] ^= 1
	if b.Compare(other) != MismatchAIKPubHash {
		t.Fatal("aik mismatch not attributed")
	}
	// A different label or context gives a different binding.
	b2, _ := profile(t, ProfileExpat03).Binder(ch, crc, spki)
	b3, _ := DefaultProfile().Binder(ch, crc[1:], spki)
	if b2.Compare(b.ReportData) != MismatchBinding || b3.Compare(b.ReportData) != MismatchBinding {
		t.Fatal("label/context not bound")
	}

	// cocos: the -03 label's binding, REPORTDATA = SHA-512(binding).
	c, err := profile(t, ProfileCocos).Binder(ch, crc, spki)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Binding) != string(b2.Binding) || c.ReportData != sha512.Sum512(c.Binding) {
		t.Fatal("cocos layout is not SHA-512(binding) over the -03 binding")
	}
	other = c.ReportData
	other[40] ^= 1
	if c.Compare(other) != MismatchOpaque {
		t.Fatal("cocos mismatch should be opaque")
	}

	// rust-ref: REPORTDATA is the 64-byte exported value; no key.
	r, err := profile(t, ProfileRustRef).Binder(ch, crc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Exported) != 64 || string(r.ReportData[:]) != string(r.Exported) || string(r.Binding) != string(r.Exported) || r.AIKPubHash != nil {
		t.Fatal("rust-ref layout is not the bare exported value")
	}
	other = r.ReportData
	other[63] ^= 1
	if r.Compare(other) != MismatchBinding {
		t.Fatal("rust-ref mismatch is a binding mismatch")
	}
}

func TestBinderSHA384Layout(t *testing.T) {
	ch, err := expat.NewOfflineChannel(tls.TLS_AES_256_GCM_SHA384, make([]byte, 48))
	if err != nil {
		t.Fatal(err)
	}
	b, err := DefaultProfile().Binder(ch, []byte("ctx"), []byte("spki"))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Binding) != 48 || len(b.AIKPubHash) != 48 {
		t.Fatalf("lengths %d %d", len(b.Binding), len(b.AIKPubHash))
	}
	other := b.ReportData
	other[0] ^= 1
	if b.Compare(other) != MismatchOpaque {
		t.Fatal("SHA-384 mismatch should be opaque")
	}
	if _, err := DefaultProfile().Binder(ch, nil, nil); err == nil {
		t.Fatal("empty SPKI accepted")
	}
}

// Diagnose finds the derivation a peer used on this connection and key,
// including rust-ref's code label, and nothing for a relayed REPORTDATA.
func TestDiagnose(t *testing.T) {
	ch, crc := rfc8448(t)
	spki := []byte("spki")
	rustCode := profile(t, ProfileRustRef)
	rustCode.Label = LabelRustRefCode
	for _, peer := range append(Profiles(), rustCode) {
		b, err := peer.Binder(ch, crc, spki)
		if err != nil {
			t.Fatal(err)
		}
		for _, rp := range Profiles() {
			if rp == peer {
				continue
			}
			got, ok := Diagnose(ch, crc, spki, b.ReportData, rp)
			if !ok || got != peer {
				t.Errorf("RP %s, peer %s/%q: diagnosed %v %v", rp.ID, peer.ID, peer.Label, got.ID, ok)
			}
		}
	}
	b, _ := DefaultProfile().Binder(ch, crc[1:], spki) // another connection's context
	if got, ok := Diagnose(ch, crc, spki, b.ReportData, DefaultProfile()); ok {
		t.Fatalf("relayed REPORTDATA diagnosed as %s", got.ID)
	}
}

func TestProfiles(t *testing.T) {
	if DefaultProfile().ID != ProfileExpat04 || DefaultProfile().Label != "EXPORTER-cmw-attestation" {
		t.Fatalf("default %+v", DefaultProfile())
	}
	for _, p := range Profiles() {
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", p.ID, err)
		}
	}
	ps, err := ParseProfiles("cocos, expat-04")
	if err != nil || len(ps) != 2 || ps[0].ID != "cocos" || ps[1].ID != "expat-04" {
		t.Fatalf("ParseProfiles: %v %v", ps, err)
	}
	for _, bad := range []string{"", "expat-05", "cocos,cocos", "cocos,"} {
		if _, err := ParseProfiles(bad); err == nil {
			t.Errorf("ParseProfiles(%q) accepted", bad)
		}
	}
	broken := []func(*Profile){
		func(p *Profile) { p.ID = "" },
		func(p *Profile) { p.Label = "" },
		func(p *Profile) { p.Container = 0 },
		func(p *Profile) { p.Layout = 9 },
		func(p *Profile) { p.ExportedSize = 8 },
		func(p *Profile) { p.Layout = LayoutExported },
		func(p *Profile) { p.Container, p.Layout, p.ExportedSize = ContainerCocos, LayoutExported, 64 },
	}
	for i, mod := range broken {
		p := DefaultProfile()
		mod(&p)
		if p.Validate() == nil {
			t.Errorf("broken profile %d validates: %+v", i, p)
		}
	}
}

// CheckReportData gives the verdict and the attribution Checker.Check gives
// for evidence carrying that REPORTDATA.
func TestCheckReportData(t *testing.T) {
	ch, crc := rfc8448(t)
	spki, other := []byte("spki"), []byte("another key")
	bind := func(id string, crc, spki []byte) [64]byte {
		b, err := profile(t, id).Binder(ch, crc, spki)
		if err != nil {
			t.Fatal(err)
		}
		return b.ReportData
	}
	aikOnly := bind(ProfileExpat04, crc, spki)
	o := bind(ProfileExpat04, crc, other)
	copy(aikOnly[32:], o[32:])
	// Another key's binding with this key's aik_pub_hash: the hash says
	// "this key", so the binding's difference is read as another
	// connection, context or label.
	keyOnly := bind(ProfileExpat04, crc, spki)
	copy(keyOnly[:32], o[:32])
	tests := []struct {
		name   string
		got    [64]byte
		accept []Profile
		want   string // accepted profile id, or a code
	}{
		{"own", bind(ProfileExpat04, crc, spki), nil, ProfileExpat04},
		{"second of two", bind(ProfileCocos, crc, spki), []Profile{DefaultProfile(), profile(t, ProfileCocos)}, ProfileCocos},
		{"another connection", bind(ProfileExpat04, crc[1:], spki), nil, "attest.binding_connection"},
		{"another key", bind(ProfileExpat04, crc, other), nil, "attest.binding_key"},
		{"aik_pub_hash of another key", aikOnly, nil, "attest.binding_key"},
		{"this key's aik_pub_hash, another binding", keyOnly, nil, "attest.binding_connection"},
		{"expat-03 at expat-04", bind(ProfileExpat03, crc, spki), nil, "attest.profile_mismatch"},
		{"cocos relayed", bind(ProfileCocos, crc[1:], spki), []Profile{profile(t, ProfileCocos)}, "attest.binding_report_data"},
		{"rust-ref relayed", bind(ProfileRustRef, crc[1:], nil), []Profile{profile(t, ProfileRustRef)}, "attest.binding_connection"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := CheckReportData(ch, crc, spki, tc.got, tc.accept)
			got := p.ID
			if te := (*Error)(nil); errors.As(err, &te) {
				got = te.ProblemCode()
			}
			if got != tc.want {
				t.Fatalf("got %s (%v), want %s", got, err, tc.want)
			}
		})
	}
}
