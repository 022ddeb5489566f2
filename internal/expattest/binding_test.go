package expattest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

func simChecker(t *testing.T, p *sim.PKI) *tlsbind.Checker {
	t.Helper()
	v, err := evidence.NewVerifier(evidence.Config{
		SNPRoots: []*snp.Roots{p.SNP.Roots()}, TDXRoots: []*tdx.Roots{p.TDX.Roots()},
		Policy: evidence.AppraisalPolicy{ID: "expattest", Digest: sha256.Sum256([]byte("expattest")), SNP: &snp.Policy{}, TDX: &tdx.Policy{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := ear.NewIssuer(k, "seatrx", "expattest")
	if err != nil {
		t.Fatal(err)
	}
	return &tlsbind.Checker{Verifier: v, Issuer: iss}
}

// Each binding fault, given to seatrx's own relying party (tlsbind.Checker)
// in every profile and on both suite hashes, is refused with the code its
// Want names, or accepted where Want says the profile cannot see it; the
// honest attestation it starts from is accepted.
func TestBindingFaultsAtSeatrx(t *testing.T) {
	pki, err := sim.Generate(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	chk := simChecker(t, pki)
	snpP := &tlsbind.Prover{Attester: evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{}))}
	tdxP := &tlsbind.Prover{Attester: evidence.NewTDXAttester(pki.TDX.Guest(sim.TDXGuestConfig{}))}
	for _, p := range tlsbind.Profiles() {
		for _, suite := range []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384} {
			prover := snpP
			if p.Container == tlsbind.ContainerRustRef {
				prover = tdxP
			}
			t.Run(p.ID+"/"+tls.CipherSuiteName(suite), func(t *testing.T) {
				h := 32
				if suite == tls.TLS_AES_256_GCM_SHA384 {
					h = 48
				}
				ch, _ := expat.NewOfflineChannel(suite, bytes.Repeat([]byte{1}, h))
				other, _ := expat.NewOfflineChannel(suite, bytes.Repeat([]byte{2}, h))
				req, err := expat.NewRequest(expat.Server, expat.RequestOptions{OfferCMW: true, CMWType: p.CMWType})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				a, err := NewAttestation(ctx, ch, expat.Client, req, p, prover)
				if err != nil {
					t.Fatal(err)
				}
				a.Relay = &Relay{Channel: other, Context: bytes.Repeat([]byte{9}, 32)}
				good, err := a.Authenticator()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := chk.Check(ctx, ch, expat.Client, req, good, []tlsbind.Profile{p}); err != nil {
					t.Fatalf("honest attestation refused: %v", err)
				}
				hash, _ := ch.Hash()
				for _, f := range BindingFaults() {
					auth, err := f.Build(ctx, a)
					if err != nil {
						t.Fatalf("%s: %v", f.Name, err)
					}
					_, err = chk.Check(ctx, ch, expat.Client, req, auth, []tlsbind.Profile{p})
					want := f.Want(p, hash)
					var pc interface{ ProblemCode() string }
					switch {
					case want == "" && err != nil:
						t.Errorf("%s: %v, want accepted (the profile cannot see this fault)", f.Name, err)
					case want != "" && (!errors.As(err, &pc) || pc.ProblemCode() != want):
						t.Errorf("%s: %v, want %s", f.Name, err, want)
					}
				}
			})
		}
	}
}

// The relay fault needs another connection; without one it says so.
func TestRelayNeedsAnotherConnection(t *testing.T) {
	ch, _ := expat.NewOfflineChannel(tls.TLS_AES_128_GCM_SHA256, bytes.Repeat([]byte{1}, 32))
	a := &Attestation{Input: Input{Channel: ch}, Profile: tlsbind.DefaultProfile(), Prover: &tlsbind.Prover{}}
	if _, err := BindingFaults()[0].Build(context.Background(), a); !errors.Is(err, ErrNoRelay) {
		t.Fatalf("%v", err)
	}
}
