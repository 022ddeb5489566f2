package tlsbind

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
)

// Every profile, every platform it carries: a seatrx client attesting in P
// over live loopback TLS to a seatrx relying party accepting P, and to one
// accepting every profile at once (several codepoints in one request).
func TestEveryProfileLive(t *testing.T) {
	all := Profiles()
	for _, p := range all {
		provers := map[string]*Prover{"tdx": tdxProver(t, sim.TDXGuestConfig{})}
		if p.ID != ProfileRustRef {
			provers["snp"] = snpProver(t, sim.SNPGuestConfig{})
		}
		for plat, prover := range provers {
			for name, accept := range map[string][]Profile{"alone": {p}, "among all": all} {
				t.Run(p.ID+"/"+plat+"/"+name, func(t *testing.T) {
					client, server := sessionsIn(t, []Profile{p}, accept)
					req, err := server.Challenge()
					if err != nil {
						t.Fatal(err)
					}
					proof, err := client.Respond(context.Background(), prover, req.Raw)
					if err != nil {
						t.Fatalf("Respond: %v", err)
					}
					res, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator)
					if err != nil {
						t.Fatalf("Accept: %v", err)
					}
					if res.Binder.Profile != p || string(res.Binder.Binding) != string(proof.Binder.Binding) || res.Appraisal == nil {
						t.Fatalf("accepted as %s, binding %x vs %x", res.Binder.Profile.ID, res.Binder.Binding, proof.Binder.Binding)
					}
					if string(res.CMW) != string(proof.CMWData) {
						t.Fatal("the result's CMW is not the cmw_data sent")
					}
				})
			}
		}
	}
}

// A peer in another profile is named, on the side that can tell.
func TestProfileMismatchNamed(t *testing.T) {
	tests := []struct {
		client, server string
		side           string // "prover" or "checker": where the mismatch shows
		names          string // the profile the message names as the peer's
	}{
		{ProfileExpat03, ProfileExpat04, "checker", "expat-03"},
		{ProfileExpat04, ProfileExpat03, "checker", "expat-04"},
		{ProfileCocos, ProfileExpat04, "checker", "cocos"},
		{ProfileExpat04, ProfileCocos, "checker", "expat-04"},
		{ProfileRustRef, ProfileExpat04, "prover", "expat-04"},
		{ProfileExpat04, ProfileRustRef, "prover", "rust-ref"},
	}
	for _, tc := range tests {
		t.Run(tc.client+"-to-"+tc.server, func(t *testing.T) {
			client, server := sessionsIn(t, []Profile{profile(t, tc.client)}, []Profile{profile(t, tc.server)})
			req, err := server.Challenge()
			if err != nil {
				t.Fatal(err)
			}
			proof, err := client.Respond(context.Background(), tdxProver(t, sim.TDXGuestConfig{}), req.Raw)
			if tc.side == "checker" {
				if err != nil {
					t.Fatalf("Respond: %v", err)
				}
				_, err = server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator)
			}
			var te *Error
			if !errors.As(err, &te) || te.Code != CodeProfileMismatch || te.ProblemCode() != "attest.profile_mismatch" {
				t.Fatalf("got %v, want attest.profile_mismatch", err)
			}
			// The words name both sides' profiles (for the human reading the problem).
			if !strings.Contains(te.Detail, tc.names) || !strings.Contains(te.Detail, map[string]string{"prover": tc.client, "checker": tc.server}[tc.side]) {
				t.Fatalf("detail does not name both profiles: %s", te.Detail)
			}
		})
	}
}

// forged builds, on client's connection, a valid authenticator for req
// signed by key whose evidence (and, for cocos, payload binder) is bound as
// b says: the evidence an attacker relays.
func forged(t *testing.T, client *Session, req *expat.Request, prof Profile, key *ecdsa.PrivateKey, b *Binder, a evidence.Attester) []byte {
	t.Helper()
	cert, _, err := selfIssued(key)
	if err != nil {
		t.Fatal(err)
	}
	cmw, err := a.Attest(context.Background(), b.ReportData)
	if err != nil {
		t.Fatal(err)
	}
	data, err := prof.CMWData(cmw, b)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := expat.CMWExtension(prof.CMWType, data)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := expat.ParseRequest(req.Raw, expat.Server, prof.CMWType)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := expat.Authenticate(client.Channel(), expat.Client, parsed, &expat.Identity{Chain: [][]byte{cert}, Signer: key, FirstEntryExtensions: []expat.Extension{ext}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return auth
}

// Evidence from another connection or for another key is refused in every
// profile, attributed as far as the profile's layout allows, aik_pub_hash
// first (draft-04 §5.2): another key's hash says "another key", this key's
// hash with another binding says "another connection, context or label".
// cocos's SHA-512(binding) hides both, but its payload binder, when it
// agrees with the evidence, says which binding and key the evidence
// carries. rust-ref binds no
// key at all, so another key's evidence on the same connection passes as
// ours (documented in docs/PROTOCOL.md).
func TestRelayAndOtherKeyPerProfile(t *testing.T) {
	for _, p := range Profiles() {
		t.Run(p.ID, func(t *testing.T) {
			a := evidence.NewTDXAttester(simPKI(t).TDX.Guest(sim.TDXGuestConfig{}))
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			_, spki, _ := selfIssued(key)
			otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			_, otherSPKI, _ := selfIssued(otherKey)
			accept := func(t *testing.T, bind func(c *Session, req *expat.Request) *Binder) error {
				client, server := sessionsIn(t, []Profile{p}, []Profile{p})
				req, _ := server.Challenge()
				auth := forged(t, client, req, p, key, bind(client, req), a)
				_, err := server.Accept(context.Background(), checker(t, true, testPolicy()), auth)
				return err
			}
			binder := func(prof Profile, ch expat.Channel, crc, spki []byte) *Binder {
				b, err := prof.Binder(ch, crc, spki)
				if err != nil {
					t.Fatal(err)
				}
				return b
			}

			// This key, the binder of a second connection (a relay).
			err := accept(t, func(*Session, *expat.Request) *Binder {
				c2, s2 := sessionsIn(t, []Profile{p}, []Profile{p})
				req2, _ := s2.Challenge()
				return binder(p, c2.Channel(), req2.Context, spki)
			})
			if !hasCode(err, CodeBindingConnection) {
				t.Fatalf("evidence of another connection: %v", err)
			}

			// This connection and context, another key's binder.
			err = accept(t, func(c *Session, req *expat.Request) *Binder { return binder(p, c.Channel(), req.Context, otherSPKI) })
			switch p.Layout {
			case LayoutExported:
				if err != nil {
					t.Fatalf("rust-ref binds no key, yet refused: %v", err)
				}
			default:
				// aik_pub_hash is looked at first: REPORTDATA's in seatrx's
				// layout, the payload binder's (agreeing with the evidence)
				// in cocos's.
				if !hasCode(err, CodeBindingKey) {
					t.Fatalf("evidence for another key: %v", err)
				}
			}

			// Our binding, another key's aik_pub_hash: only seatrx's layout
			// can show it.
			if p.Layout == LayoutSeatrx {
				err = accept(t, func(c *Session, req *expat.Request) *Binder {
					b := binder(p, c.Channel(), req.Context, spki)
					o := binder(p, c.Channel(), req.Context, otherSPKI)
					copy(b.ReportData[len(b.Binding):], o.AIKPubHash)
					return b
				})
				if !hasCode(err, CodeBindingKey) {
					t.Fatalf("aik_pub_hash of another key: %v", err)
				}
			}
		})
	}
}

// The cocos payload's unsigned binder must agree with the connection even
// when the signed REPORTDATA does; its label must be absent or cocos's.
func TestCocosPayloadBinderChecked(t *testing.T) {
	p := profile(t, ProfileCocos)
	for _, tc := range []struct {
		name  string
		mod   func(m map[string]any)
		field string
	}{
		{"binding", func(m map[string]any) { m["binding"] = strings.Repeat("A", 43) + "=" }, "binder.binding"},
		{"aik_pub_hash", func(m map[string]any) { m["aik_pub_hash"] = strings.Repeat("A", 43) + "=" }, "binder.aik_pub_hash"},
		{"label", func(m map[string]any) { m["exporter_label"] = LabelExpat04 }, "binder.exporter_label"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := sessionsIn(t, []Profile{p}, []Profile{p})
			req, _ := server.Challenge()
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			cert, spki, _ := selfIssued(key)
			b, err := p.Binder(client.Channel(), req.Context, spki)
			if err != nil {
				t.Fatal(err)
			}
			cmw, err := tdxProver(t, sim.TDXGuestConfig{}).Attester.Attest(context.Background(), b.ReportData)
			if err != nil {
				t.Fatal(err)
			}
			data, err := p.CMWData(cmw, b)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			tc.mod(m["binder"].(map[string]any))
			data, _ = json.Marshal(m)
			ext, _ := expat.CMWExtension(p.CMWType, data)
			parsed, _ := expat.ParseRequest(req.Raw, expat.Server, p.CMWType)
			auth, err := expat.Authenticate(client.Channel(), expat.Client, parsed, &expat.Identity{Chain: [][]byte{cert}, Signer: key, FirstEntryExtensions: []expat.Extension{ext}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = server.Accept(context.Background(), checker(t, true, testPolicy()), auth)
			var ce *check.Error
			if !errors.As(err, &ce) || ce.ProblemCode() != "cocos.format" || ce.Field != tc.field {
				t.Fatalf("got %v, want cocos.format on %s", err, tc.field)
			}
		})
	}
}

// What a profile cannot carry is refused on the prover's side, by name.
func TestProfileUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      string
		prover *Prover
	}{
		{"SNP under rust-ref", ProfileRustRef, snpProver(t, sim.SNPGuestConfig{})},
		{"passport under cocos", ProfileCocos, passportProver(t, snpProver(t, sim.SNPGuestConfig{}))},
		{"passport under rust-ref", ProfileRustRef, passportProver(t, tdxProver(t, sim.TDXGuestConfig{}))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := sessionsIn(t, []Profile{profile(t, tc.p)}, []Profile{profile(t, tc.p)})
			req, _ := server.Challenge()
			if _, err := client.Respond(context.Background(), tc.prover, req.Raw); !hasCode(err, CodeProfileUnsupported) {
				t.Fatalf("got %v, want attest.profile_unsupported", err)
			}
		})
	}
}

// The passport model under a relying party accepting expat-04 and expat-03:
// the EAR's nonce says which.
func TestPassportPicksProfileByNonce(t *testing.T) {
	p := passportProver(t, snpProver(t, sim.SNPGuestConfig{}))
	lp := p.Passport.(*LocalPassport)
	rp := checker(t, true, testPolicy())
	rp.Passport = &PassportPolicy{Trusted: trustedOf(lp), AcceptedStatuses: []string{"warning"}}
	client, server := sessionsIn(t, []Profile{profile(t, ProfileExpat03)}, []Profile{DefaultProfile(), profile(t, ProfileExpat03)})
	req, _ := server.Challenge()
	proof, err := client.Respond(context.Background(), p, req.Raw)
	if err != nil {
		t.Fatal(err)
	}
	res, err := server.Accept(context.Background(), rp, proof.Authenticator)
	if err != nil {
		t.Fatalf("passport in expat-03: %v", err)
	}
	if res.Model != ModelPassport || res.Binder.Profile.ID != ProfileExpat03 {
		t.Fatalf("model %s profile %s", res.Model, res.Binder.Profile.ID)
	}
}

// RespondAs refuses a profile the session does not speak.
func TestRespondAsUnknownProfile(t *testing.T) {
	client, server := sessions(t)
	req, _ := server.Challenge()
	if _, err := client.RespondAs(context.Background(), tdxProver(t, sim.TDXGuestConfig{}), req.Raw, ProfileCocos); !hasCode(err, CodeProfileMismatch) {
		t.Fatalf("got %v", err)
	}
}

func trustedOf(lp *LocalPassport) []ear.TrustedVerifier {
	return []ear.TrustedVerifier{{ID: "external", Key: lp.Issuer.Public()}}
}
