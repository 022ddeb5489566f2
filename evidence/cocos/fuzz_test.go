package cocos

import (
	"errors"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence/check"
)

// isCocosError reports whether err is a typed refusal in the cocos namespace
// that names a field: the only kind of error the parsers may return.
func isCocosError(err error) bool {
	var ce *check.Error
	return errors.As(err, &ce) && ce.Platform == check.Cocos && ce.Field != ""
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte(realistic))
	f.Add([]byte(`{"version":1,"evidence":"AA==","binder":{"aik_pub_hash":"AA==","binding":"AA=="}}`))
	f.Add([]byte(`{"version":1,"attestation_results":"AA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePayload(b)
		if err != nil {
			if !isCocosError(err) {
				t.Fatalf("untyped refusal: %v", err)
			}
			return
		}
		// Whatever parses re-encodes to something that parses the same way.
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("accepted payload does not re-encode: %v", err)
		}
		q, err := ParsePayload(out)
		if err != nil || string(q.Evidence) != string(p.Evidence) || string(q.Binder.Binding) != string(p.Binder.Binding) {
			t.Fatalf("re-encoded payload differs: %v", err)
		}
	})
}

func FuzzParseEAT(f *testing.F) {
	for _, pt := range []string{PlatformSNP, PlatformTDX, PlatformSNPvTPM} {
		b, err := (&EAT{PlatformType: pt, Nonce: make([]byte, 32), RawReport: protoOK(f)}).Sign(p256(f), time.Now())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xd2, 0x84, 0x40, 0xa0, 0xf6, 0x40})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEAT(b)
		if err != nil {
			if !isCocosError(err) {
				t.Fatalf("untyped refusal: %v", err)
			}
			return
		}
		if _, err := e.Report(); err != nil && !isCocosError(err) {
			t.Fatalf("untyped refusal of raw_report: %v", err)
		}
	})
}

func FuzzSNPReport(f *testing.F) {
	f.Add(protoOK(f))
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := (&EAT{PlatformType: PlatformSNP, RawReport: raw}).Report(); err != nil && !isCocosError(err) {
			t.Fatalf("untyped refusal: %v", err)
		}
	})
}
