package bench

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/tlsbind"
)

// TransportTLS is the default transport: TLS 1.3 over TCP, HTTP/2 on top,
// exactly as `seatrx receipt request` talks to the server.
const TransportTLS = "tls"

// plainPath is the request of the plain mode: the cheapest one the server
// answers (no state, no attestation), so the mode measures the connection.
const plainPath = "/healthz"

// benchRequested is the operation every bench receipt authorizes.
var benchRequested = map[string]any{"operation": "seatrx-bench"}

func init() {
	Register(TransportTLS, &Mode{
		Name:    "plain",
		Summary: "TLS 1.3 handshake and one GET " + plainPath,
		Phases:  []string{"handshake", "request"},
		New:     newPlainTLS,
	})
	for _, p := range []struct{ name, title string }{{"snp", "SEV-SNP"}, {"tdx", "TDX"}} {
		Register(TransportTLS, &Mode{
			Name:    p.name,
			Summary: "handshake, challenge, attestation with simulated " + p.title + " evidence and receipt in one request (the client's default)",
			Phases:  []string{"handshake", "challenge", "attest+receipt"},
			New:     func(t *Target) (Session, error) { return newAttestedTLS(t, p.name, false) },
		})
		Register(TransportTLS, &Mode{
			Name:    p.name + "-separate",
			Summary: "as " + p.name + ", attestation and receipt in two requests (POST /v1/attest, POST /v1/receipts)",
			Phases:  []string{"handshake", "challenge", "attest", "receipt"},
			New:     func(t *Target) (Session, error) { return newAttestedTLS(t, p.name, true) },
		})
	}
}

// The attested modes' "attest" and "attest+receipt" phases include the
// client's own evidence generation (the simulated attester), so the
// server's share is best read from its CPU, not from these phases.

func (t *Target) clientConfig(p *tlsbind.Prover) client.Config {
	return client.Config{Server: t.Server.String(), Roots: t.Roots, Prover: p,
		ConnectTimeout: t.ConnectTimeout, HandshakeTimeout: t.HandshakeTimeout, RequestTimeout: t.RequestTimeout}
}

// newPlainTLS is the baseline: the same client stack as an attested session
// (TLS 1.3 with the same settings, HTTP/2), one request, no attestation.
func newPlainTLS(t *Target) (Session, error) {
	// The client insists on a Prover; the plain session never attests.
	cfg := t.clientConfig(&tlsbind.Prover{})
	return func(ctx context.Context) (Sample, error) {
		start := time.Now()
		c, err := client.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		hs := time.Since(start)
		start = time.Now()
		if _, err := c.Do(ctx, http.MethodGet, plainPath, "", nil); err != nil {
			return nil, err
		}
		return Sample{hs, time.Since(start)}, nil
	}, nil
}

// simAttester is the simulated guest of platform (snp or tdx) whose
// evidence the dev server's simulated PKI signs.
func (t *Target) simAttester(platform string) (evidence.Attester, error) {
	if t.SimPKI == nil {
		return nil, &ConfigError{Field: "SimPKI", Reason: fmt.Sprintf("mode %s attests with a simulated %s guest: give the dev server's files (--dev DIR)", platform, platform)}
	}
	if platform == "snp" {
		return evidence.NewSNPAttester(t.SimPKI.SNP.Guest(sim.SNPGuestConfig{})), nil
	}
	return evidence.NewTDXAttester(t.SimPKI.TDX.Guest(sim.TDXGuestConfig{})), nil
}

// newAttestedTLS runs the whole attested session with a simulated attester
// of platform (the dev server's simulated PKI signs the evidence), in one
// attest-and-issue request or, if separate, in two.
func newAttestedTLS(t *Target, platform string, separate bool) (Session, error) {
	a, err := t.simAttester(platform)
	if err != nil {
		return nil, err
	}
	cfg := t.clientConfig(&tlsbind.Prover{Attester: a})
	return func(ctx context.Context) (Sample, error) {
		c, err := client.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		var rr *api.ReceiptResponse
		if separate {
			if _, err = c.Attest(ctx); err == nil {
				rr, err = c.RequestReceipt(ctx, benchRequested, "")
			}
		} else {
			_, rr, err = c.AttestAndIssue(ctx, benchRequested, "")
		}
		if err != nil {
			return nil, err
		}
		if len(rr.ReceiptID) == 0 || len(rr.Bundle) == 0 {
			return nil, fmt.Errorf("bench: the server answered the receipt request without a receipt")
		}
		tm := c.Timings()
		if separate {
			return Sample{tm.Handshake, tm.Challenge, tm.Attest, tm.Receipt}, nil
		}
		return Sample{tm.Handshake, tm.Challenge, tm.AttestIssue}, nil
	}, nil
}
