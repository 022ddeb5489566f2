package tlsbind

import (
	"context"
	"errors"
	"testing"

	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
)

// FuzzSessionAccept feeds arbitrary peer authenticators to a server session
// with one outstanding challenge: it must never panic, never attest, and
// every refusal must carry a stable code.
func FuzzSessionAccept(f *testing.F) {
	client, server := sessions(f)
	req, err := server.Challenge()
	if err != nil {
		f.Fatal(err)
	}
	proof, err := client.Respond(context.Background(), snpProver(f, sim.SNPGuestConfig{}), req.Raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(proof.Authenticator)
	f.Add(proof.Authenticator[:len(proof.Authenticator)-1])
	f.Add([]byte{20, 0, 0, 32})
	chk := checker(f, true, testPolicy())
	f.Fuzz(func(t *testing.T, auth []byte) {
		// A fresh session over the same connection state per input, so that
		// the first input's consumption does not mask later ones.
		s := &Session{ch: server.ch, self: expat.Server, profiles: []Profile{DefaultProfile()}, maxAttempts: 1, tracker: expat.NewTracker(), pending: map[string]*expat.Request{}}
		if err := s.tracker.Issue(req.Context); err != nil {
			t.Fatal(err)
		}
		s.pending[string(req.Context)] = req
		res, err := s.Accept(context.Background(), chk, auth)
		if err == nil {
			// Only a genuine answer to this challenge may attest.
			if string(res.Context) != string(req.Context) || res.Appraisal == nil {
				t.Fatalf("attested with %+v", res)
			}
			return
		}
		if te := (*Error)(nil); !errors.As(err, &te) || te.ProblemCode() == "" {
			t.Fatalf("refusal without a wire code: %v", err)
		}
		if _, aerr := s.Attested(); aerr == nil {
			t.Fatal("failed Accept left the session attested")
		}
	})
}

// FuzzSessionRespond feeds arbitrary peer requests to a client session.
func FuzzSessionRespond(f *testing.F) {
	client, server := sessions(f)
	req, err := server.Challenge()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(req.Raw)
	f.Add([]byte{13, 0, 0, 2, 0, 0})
	p := snpProver(f, sim.SNPGuestConfig{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		s := &Session{ch: client.ch, self: expat.Client, profiles: []Profile{DefaultProfile()}, maxAttempts: 1, tracker: expat.NewTracker(), pending: map[string]*expat.Request{}}
		_, err := s.Respond(context.Background(), p, raw)
		if te := (*Error)(nil); err != nil && (!errors.As(err, &te) || te.ProblemCode() == "") {
			t.Fatalf("refusal without a wire code: %v", err)
		}
	})
}
