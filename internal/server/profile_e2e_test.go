package server_test

import (
	"context"
	"errors"
	"testing"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

func lookup(t *testing.T, id string) tlsbind.Profile {
	t.Helper()
	p, ok := tlsbind.LookupProfile(id)
	if !ok {
		t.Fatalf("no profile %s", id)
	}
	return p
}

// Every profile end to end on loopback: a seatrx client attesting in P to a
// seatrx server accepting P, mutual attestation in P (the client asks the
// server to attest in its profile), a receipt that records P and its label
// and verifies offline.
func TestEndToEndEveryProfile(t *testing.T) {
	for _, p := range tlsbind.Profiles() {
		t.Run(p.ID, func(t *testing.T) {
			tee, attester := "sim-snp", "sim-snp"
			if p.ID == tlsbind.ProfileRustRef { // TDX quotes only
				tee, attester = "sim-tdx", "sim-tdx"
			}
			e := start(t, func(c *server.Config) { c.Profiles = []tlsbind.Profile{p}; c.Attester = attester })
			att, err := server.NewAttester(tee, e.pki)
			if err != nil {
				t.Fatal(err)
			}
			checker, err := client.NewChecker(e.pki, nil)
			if err != nil {
				t.Fatal(err)
			}
			o, err := client.Run(context.Background(), client.Flow{
				Server: "https://" + e.addr, Roots: e.roots, Prover: &tlsbind.Prover{Attester: att}, Checker: checker,
				Mutual: true, Profile: p, Requested: map[string]any{"op": "profile-" + p.ID}, AllowSimulated: true, SimulatedPKI: e.pki,
			})
			if err != nil {
				t.Fatalf("flow in %s: %v", p.ID, err)
			}
			if o.Server.Binder.Profile != p {
				t.Fatalf("server attested in %s", o.Server.Binder.Profile.ID)
			}
			r := mustParseBundleReceipt(t, o.Receipt.Bundle)
			s := r.ContextSnapshot
			if r.Profile != receipt.ProfileID || s.BinderProfile != p.ID || s.BinderLabel != p.Label || s.Transport != receipt.TransportTLS {
				t.Fatalf("receipt %s records binder %q/%q over %q", r.Profile, s.BinderProfile, s.BinderLabel, s.Transport)
			}
		})
	}
}

func mustParseBundleReceipt(t *testing.T, bundle []byte) *receipt.Receipt {
	t.Helper()
	b := mustBundle(t, bundle)
	r, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A server accepting several profiles takes each from a client that uses it.
func TestEndToEndServerAcceptsSeveralProfiles(t *testing.T) {
	all := tlsbind.Profiles()
	e := start(t, func(c *server.Config) { c.Profiles = all })
	for _, p := range all {
		t.Run(p.ID, func(t *testing.T) {
			c := e.dialIn(t, e.tdx(sim.TDXGuestConfig{}), p)
			if _, err := c.Attest(context.Background()); err != nil {
				t.Fatalf("%s client refused: %v", p.ID, err)
			}
			if _, err := c.RequestReceipt(context.Background(), map[string]any{"op": p.ID}, ""); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A client and a server in different profiles get a named mismatch, from
// whichever side can tell, saying which profile each side used.
func TestEndToEndProfileMismatch(t *testing.T) {
	e := start(t, nil) // expat-04 only
	ctx := context.Background()
	for _, id := range []string{tlsbind.ProfileExpat03, tlsbind.ProfileCocos} {
		t.Run("server refuses "+id, func(t *testing.T) {
			_, err := e.dialIn(t, e.snp(sim.SNPGuestConfig{}), lookup(t, id)).Attest(ctx)
			wantProblem(t, err, "attest.profile_mismatch")
		})
	}
	t.Run("client attesting in rust-ref sees the server's codepoint", func(t *testing.T) {
		_, err := e.dialIn(t, e.tdx(sim.TDXGuestConfig{}), lookup(t, tlsbind.ProfileRustRef)).Attest(ctx)
		if code := problemCodeOf(err); code != "attest.profile_mismatch" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("client flow checks the advertised profiles first", func(t *testing.T) {
		checker, err := client.NewChecker(e.pki, nil)
		if err != nil {
			t.Fatal(err)
		}
		o, err := client.Run(ctx, client.Flow{Server: "https://" + e.addr, Roots: e.roots, Prover: e.snp(sim.SNPGuestConfig{}), Checker: checker,
			Profile: lookup(t, tlsbind.ProfileCocos), Requested: map[string]any{"op": "x"}})
		if code := problemCodeOf(err); code != "attest.profile_mismatch" || o == nil || o.EAR != nil {
			t.Fatalf("got %v (attested: %v)", err, o != nil && o.EAR != nil)
		}
	})
	t.Run("server asked to attest in a profile it does not speak", func(t *testing.T) {
		_, err := e.dialIn(t, e.snp(sim.SNPGuestConfig{}), lookup(t, tlsbind.ProfileExpat03)).AttestServer(ctx)
		wantProblem(t, err, "attest.profile_mismatch")
	})
}

// problemCodeOf returns the namespaced code of a refusal, local or remote.
func problemCodeOf(err error) string {
	var pc interface{ ProblemCode() string }
	if errors.As(err, &pc) {
		return pc.ProblemCode()
	}
	return ""
}
