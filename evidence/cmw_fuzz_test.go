package evidence

import (
	"errors"
	"testing"

	"github.com/seatrx/seatrx/evidence/check"
)

// FuzzDecode checks that Decode never panics, that every failure is a
// *check.Error with a cmw.* code, and that accepted input is self-consistent.
func FuzzDecode(f *testing.F) {
	for _, tc := range malformedCases(f) {
		f.Add(tc.in)
	}
	for _, enc := range []func() ([]byte, error){
		func() ([]byte, error) { return EncodeSNP(fill(1184, 1), fill(64, 2)) },
		func() ([]byte, error) { return EncodeTDX(fill(600, 3), []byte("{}")) },
		func() ([]byte, error) { return EncodeEAR([]byte("a.b.c")) },
	} {
		b, err := enc()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"__cmwc_t":"` + CollectionType + `","evidence":["` + MediaTypeSNPReport + `","AQ",4]}`))
	f.Add([]byte(`["application/eat+jwt",1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b)
		if err != nil {
			var ce *check.Error
			if !errors.As(err, &ce) || ce.Platform != check.CMW || (ce.Check != check.Decode && ce.Check != check.Format) {
				t.Fatalf("error is not a cmw check error: %v", err)
			}
			return
		}
		switch d.Kind {
		case KindEvidence:
			if len(d.Evidence) == 0 || len(d.EAR) != 0 {
				t.Fatalf("evidence CMW with no evidence: %+v", d)
			}
			if _, ok := kindOf(d.Platform); !ok {
				t.Fatalf("evidence of unknown platform %q", d.Platform)
			}
		case KindAttestationResult:
			if len(d.EAR) == 0 || d.Platform != "" {
				t.Fatalf("bad attestation result: %+v", d)
			}
		default:
			t.Fatalf("unknown kind %q", d.Kind)
		}
	})
}
