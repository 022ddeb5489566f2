package evidence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/google/go-sev-guest/abi"
	"github.com/veraison/cmw"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
)

// TestEvidenceDigestOneAttestationOneDigest: however one attestation travels
// (CBOR or JSON CMW, with or without collateral, zero-padded quote, certificate
// table reordered or padded, raw through VerifyRaw), its appraisals carry one
// evidence digest: the SHA-256 of the canonical form. Non-zero bytes after a
// quote's signed data are refused.
func TestEvidenceDigestOneAttestationOneDigest(t *testing.T) {
	sa, ta := authorities(t)
	v := newVerifier(t, setup{})
	ctx := context.Background()
	digests := func(t *testing.T, r [64]byte, cmws map[string][]byte, raw map[string]*evidence.Decoded) map[string][]byte {
		t.Helper()
		out := map[string][]byte{}
		for name, b := range cmws {
			ap, err := v.Verify(ctx, b, evidence.VerifyOptions{Now: now, ReportData: r})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if d, err := evidence.DigestCMW(b); err != nil || !bytes.Equal(d, ap.EvidenceDigest) {
				t.Fatalf("%s: DigestCMW %x, %v; the appraisal says %x", name, d, err, ap.EvidenceDigest)
			}
			out[name] = ap.EvidenceDigest
		}
		for name, d := range raw {
			ap, err := v.VerifyRaw(ctx, d, evidence.VerifyOptions{Now: now, ReportData: r})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out[name] = ap.EvidenceDigest
		}
		return out
	}
	same := func(t *testing.T, ds map[string][]byte, want []byte) {
		t.Helper()
		for name, d := range ds {
			if !bytes.Equal(d, want) {
				t.Errorf("%s: digest %x, want %x", name, d, want)
			}
		}
	}

	t.Run("tdx", func(t *testing.T) {
		for _, ver := range []int{4, 5} {
			r := rd(byte(40 + ver))
			quote, err := ta.Guest(sim.TDXGuestConfig{QuoteVersion: ver}).Quote(r)
			if err != nil {
				t.Fatal(err)
			}
			coll, err := ta.Collateral(now)
			if err != nil {
				t.Fatal(err)
			}
			collJSON, err := coll.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			padded := append(bytes.Clone(quote), make([]byte, 70)...)
			plain := mustEncodeTDX(t, quote, nil)
			ds := digests(t, r, map[string][]byte{
				"cbor":            plain,
				"json":            toJSON(t, plain),
				"with collateral": mustEncodeTDX(t, quote, collJSON),
				"padded quote":    mustEncodeTDX(t, padded, nil),
			}, map[string]*evidence.Decoded{
				"raw":        {Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: quote},
				"raw padded": {Kind: evidence.KindEvidence, Platform: evidence.PlatformTDX, Evidence: padded},
			})
			want := sha256.Sum256(quote)
			same(t, ds, want[:])

			_, err = v.Verify(ctx, mustEncodeTDX(t, append(padded, 1), nil), evidence.VerifyOptions{Now: now, ReportData: r})
			wantCode(t, err, "tdx.decode")
			_, err = evidence.DigestCMW(mustEncodeTDX(t, append(padded, 1), nil))
			wantCode(t, err, "tdx.decode")
		}
	})

	t.Run("sev-snp", func(t *testing.T) {
		r := rd(50)
		report, table, err := sa.Guest(sim.SNPGuestConfig{}).Quote(r)
		if err != nil {
			t.Fatal(err)
		}
		var ct abi.CertTable
		if err := ct.Unmarshal(table); err != nil {
			t.Fatal(err)
		}
		reversed := reverseTable(ct.Entries)
		paddedTable := append(bytes.Clone(table), make([]byte, 4096-len(table)%4096)...)
		plain := mustEncodeSNP(t, report, table)
		ds := digests(t, r, map[string][]byte{
			"cbor":           plain,
			"json":           toJSON(t, plain),
			"reversed table": mustEncodeSNP(t, report, reversed),
			"padded table":   mustEncodeSNP(t, report, paddedTable),
		}, map[string]*evidence.Decoded{
			"raw": {Kind: evidence.KindEvidence, Platform: evidence.PlatformSNP, Evidence: report, Endorsements: paddedTable},
		})
		if bytes.Equal(reversed, table) || bytes.Equal(paddedTable, table) {
			t.Fatal("the variants are not different encodings")
		}
		canon := sortedTable(ct.Entries)
		want := sha256.Sum256(append(bytes.Clone(report), canon...))
		same(t, ds, want[:])
	})

	t.Run("attestation result", func(t *testing.T) {
		jwt := []byte("eyJhbGciOiJFUzI1NiJ9.eyJhIjoxfQ.c2ln")
		b, err := evidence.EncodeEAR(jwt)
		if err != nil {
			t.Fatal(err)
		}
		d, err := evidence.DigestCMW(b)
		want := sha256.Sum256(jwt)
		if err != nil || !bytes.Equal(d, want[:]) {
			t.Fatalf("EAR digest %x, %v", d, err)
		}
	})
}

func mustEncodeTDX(t *testing.T, quote, coll []byte) []byte {
	t.Helper()
	b, err := evidence.EncodeTDX(quote, coll)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncodeSNP(t *testing.T, report, table []byte) []byte {
	t.Helper()
	b, err := evidence.EncodeSNP(report, table)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// toJSON re-serialises a CBOR CMW as JSON with the CMW library.
func toJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var c cmw.CMW
	if err := c.Deserialize(b); err != nil {
		t.Fatal(err)
	}
	js, err := c.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// writeTable builds a GHCB table with entries in the given order.
func writeTable(es []abi.CertTableEntry) []byte {
	hdr := (len(es) + 1) * abi.CertTableEntrySize
	out := make([]byte, hdr)
	off := hdr
	for i, e := range es {
		p := out[i*abi.CertTableEntrySize:]
		copy(p, e.GUID[:])
		binary.LittleEndian.PutUint32(p[16:], uint32(off))
		binary.LittleEndian.PutUint32(p[20:], uint32(len(e.RawCert)))
		off += len(e.RawCert)
	}
	for _, e := range es {
		out = append(out, e.RawCert...)
	}
	return out
}

func reverseTable(es []abi.CertTableEntry) []byte {
	r := make([]abi.CertTableEntry, len(es))
	for i, e := range es {
		r[len(es)-1-i] = e
	}
	return writeTable(r)
}

// sortedTable is the documented canonical form, written independently of
// snp.CanonicalCertTable: entries sorted by GUID bytes, data packed.
func sortedTable(es []abi.CertTableEntry) []byte {
	s := append([]abi.CertTableEntry(nil), es...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if bytes.Compare(s[j].GUID[:], s[i].GUID[:]) < 0 {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return writeTable(s)
}
