package receipt

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/veraison/go-cose"
)

// nopReplay never reports a replay, so one receipt can be verified b.N times
// through the full online path.
type nopReplay struct{}

func (nopReplay) Seen([]byte, time.Time) bool { return false }

// bareSign signs payload once as a plain COSE_Sign1 with s's key.
func bareSign(b *testing.B, s *Signer, payload []byte) []byte {
	out, err := cose.Sign1(rand.Reader, s.signer, cose.Headers{Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: s.alg}}, payload, nil)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// bareVerify parses and verifies a plain COSE_Sign1.
func bareVerify(b *testing.B, s *Signer, msg []byte) {
	var m cose.Sign1Message
	if err := m.UnmarshalCBOR(msg); err != nil {
		b.Fatal(err)
	}
	v, err := cose.NewVerifier(s.alg, s.Public())
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Verify(nil, v); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIssue issues a 1-of-1 receipt and reports its cost relative to
// the two bare COSE_Sign1 signatures it contains (receipt + approval), over
// payloads of the same sizes, measured in the same run ("x-sign1").
func BenchmarkIssue(b *testing.B) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg, 1)
			bundle, _ := f.issue(b)
			r := mustParse(b, bundle.Receipt)
			e, err := parseEnvelope("cose", bundle.Receipt, MaxReceiptSize, ReceiptType, true)
			if err != nil {
				b.Fatal(err)
			}
			ae, err := parseEnvelope("a", r.ApproverSignatures[0], MaxApprovalSize, ApprovalType, false)
			if err != nil {
				b.Fatal(err)
			}
			var issue, bare time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, _, err := Issue(f.issuer, f.in); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				bareSign(b, f.issuer, e.payload)
				bareSign(b, f.approvers[0], ae.payload)
				t2 := time.Now()
				issue += t1.Sub(t0)
				bare += t2.Sub(t1)
			}
			b.ReportMetric(float64(issue)/float64(bare), "x-sign1")
		})
	}
}

// BenchmarkVerify verifies a complete bundle online and reports the cost
// relative to the bare signature checks it contains: two COSE_Sign1
// parse+verify (receipt, approval), measured in the same run ("x-sign1").
// The EAR check is a stub here: it is injected (package verify benchmarks
// the whole composition).
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			f := newFixture(b, alg, 1)
			bundle, _ := f.issue(b)
			r := mustParse(b, bundle.Receipt)
			e, err := parseEnvelope("cose", bundle.Receipt, MaxReceiptSize, ReceiptType, true)
			if err != nil {
				b.Fatal(err)
			}
			ae, err := parseEnvelope("a", r.ApproverSignatures[0], MaxApprovalSize, ApprovalType, false)
			if err != nil {
				b.Fatal(err)
			}
			bareR := bareSign(b, f.issuer, e.payload)
			bareA := bareSign(b, f.approvers[0], ae.payload)
			opts := f.online(b, 1)
			opts.Replay = nopReplay{}
			var verify, bare time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				if _, err := Verify(bundle, opts); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				bareVerify(b, f.issuer, bareR)
				bareVerify(b, f.approvers[0], bareA)
				t2 := time.Now()
				verify += t1.Sub(t0)
				bare += t2.Sub(t1)
			}
			b.ReportMetric(float64(verify)/float64(bare), "x-sign1")
		})
	}
}
