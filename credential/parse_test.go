package credential_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/seatrx/seatrx/credential"
)

func goodSummaryDER(t testing.TB) []byte {
	der, err := summary().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// seq wraps content in a DER SEQUENCE (short lengths only: test input).
func seq(parts ...[]byte) []byte {
	c := bytes.Join(parts, nil)
	return append([]byte{0x30, byte(len(c))}, c...)
}

func utf8s(s string) []byte { return append([]byte{0x0c, byte(len(s))}, s...) }

var (
	v1       = []byte{0x02, 0x01, 0x01}
	plat     = utf8s("sev-snp")
	stat     = utf8s("affirming")
	digest   = append([]byte{0x04, 0x20}, make([]byte, 32)...)
	boolTrue = []byte{0x01, 0x01, 0xff}
	genTime  = append([]byte{0x18, 0x0f}, "20260301120000Z"...)
)

func TestParseSummaryMalformed(t *testing.T) {
	if s, err := credential.ParseSummary(seq(v1, plat, stat, digest, boolTrue, genTime)); err != nil || s.Platform != "sev-snp" || !s.Simulated {
		t.Fatalf("the hand-built good summary: %+v %v", s, err)
	}
	for _, c := range []struct {
		name, field string
		der         []byte
	}{
		{"empty", "", nil},
		{"too large", "", make([]byte, credential.MaxSummarySize+1)},
		{"not a sequence", "", append([]byte{0x31}, seq(v1)[1:]...)},
		{"trailing bytes", "", append(seq(v1, plat, stat, digest, boolTrue, genTime), 0)},
		{"version 2", "version", seq([]byte{0x02, 0x01, 0x02}, plat, stat, digest, boolTrue, genTime)},
		{"version missing", "version", seq(plat, stat, digest, boolTrue, genTime)},
		{"non-minimal version", "version", seq([]byte{0x02, 0x02, 0x00, 0x01}, plat, stat, digest, boolTrue, genTime)},
		{"platform not UTF8String", "platform", seq(v1, append([]byte{0x13, 0x07}, "sev-snp"...), stat, digest, boolTrue, genTime)},
		{"empty platform", "platform", seq(v1, utf8s(""), stat, digest, boolTrue, genTime)},
		{"platform not UTF-8", "platform", seq(v1, utf8s("\xff\xfe"), stat, digest, boolTrue, genTime)},
		{"status missing", "status", seq(v1, plat)},
		{"short digest", "earDigest", seq(v1, plat, stat, append([]byte{0x04, 0x1f}, make([]byte, 31)...), boolTrue, genTime)},
		{"digest not octets", "earDigest", seq(v1, plat, stat, utf8s("x"), boolTrue, genTime)},
		{"BER boolean", "simulated", seq(v1, plat, stat, digest, []byte{0x01, 0x01, 0x01}, genTime)},
		{"UTCTime", "attestedAt", seq(v1, plat, stat, digest, boolTrue, append([]byte{0x17, 0x0d}, "260301120000Z"...))},
		{"fractional seconds", "attestedAt", seq(v1, plat, stat, digest, boolTrue, append([]byte{0x18, 0x11}, "20260301120000.5Z"...))},
		{"extra field", "", seq(v1, plat, stat, digest, boolTrue, genTime, v1)},
		{"year 1999", "attestedAt", seq(v1, plat, stat, digest, boolTrue, append([]byte{0x18, 0x0f}, "19990301120000Z"...))},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := credential.ParseSummary(c.der)
			var ce *credential.Error
			if !errors.As(err, &ce) || ce.Code != credential.CodeBadSummary || ce.Field != c.field {
				t.Fatalf("error %v, want bad_summary at %q", err, c.field)
			}
		})
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	der := goodSummaryDER(t)
	s, err := credential.ParseSummary(der)
	if err != nil || *s != summary() {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := (credential.Summary{Platform: "x"}).Marshal(); err == nil {
		t.Error("marshalled a summary without status")
	}
	if _, err := credential.SummaryOf(&x509.Certificate{}); err == nil {
		t.Error("a summary from a certificate without the extension")
	}
}

func FuzzParseSummary(f *testing.F) {
	f.Add(goodSummaryDER(f))
	f.Add(seq(v1, plat, stat, digest, boolTrue, genTime))
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := credential.ParseSummary(der)
		if err != nil {
			var ce *credential.Error
			if !errors.As(err, &ce) || ce.Code != credential.CodeBadSummary {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Whatever parses re-encodes to the same bytes (DER is unique).
		out, err := s.Marshal()
		if err != nil || !bytes.Equal(out, der) {
			t.Fatalf("re-encoding differs: %x vs %x (%v)", out, der, err)
		}
	})
}

func FuzzParseCSR(f *testing.F) {
	k := workloadKey(f)
	f.Add(csrFor(f, k))
	f.Add(csrFor(f, k, "spiffe://example.org/w"))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		csr, err := credential.ParseCSR(der)
		if err != nil {
			var ce *credential.Error
			if !errors.As(err, &ce) || ce.Code != credential.CodeBadCSR {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// A parsed CSR has a verified self-signature and a key; checking it
		// against another key never passes.
		if err := credential.CheckCSR(csr, workloadKey(t).Public(), "spiffe://example.org/w"); err == nil {
			t.Fatal("a CSR matched a fresh key")
		}
	})
}
