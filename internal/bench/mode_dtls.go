package bench

import (
	"context"

	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/tlsbind"
)

// TransportDTLS is DTLS 1.3 over UDP to the server's --dtls listener
// (Target.DTLSAddr), one seatrx-issue/1 exchange per connection
// (docs/PROTOCOL.md §13).
const TransportDTLS = "dtls"

func init() {
	Register(TransportDTLS, &Mode{
		Name:    "plain",
		Summary: "DTLS 1.3 handshake and the server's first message (its challenge), no attestation",
		Phases:  []string{"handshake", "challenge"},
		New:     newPlainDTLS,
	})
	for _, p := range []struct{ name, title string }{{"snp", "SEV-SNP"}, {"tdx", "TDX"}} {
		Register(TransportDTLS, &Mode{
			Name:    p.name,
			Summary: "DTLS 1.3 handshake, challenge, attestation with simulated " + p.title + " evidence and receipt in one exchange",
			Phases:  []string{"handshake", "challenge", "attest+receipt"},
			New:     func(t *Target) (Session, error) { return newAttestedDTLS(t, p.name) },
		})
	}
}

func (t *Target) dtlsConfig(p *tlsbind.Prover) (client.DTLSConfig, error) {
	if t.DTLSAddr == "" {
		return client.DTLSConfig{}, &ConfigError{Field: "DTLSAddr", Reason: "the dtls transport needs the server's DTLS listener (its --dtls address)"}
	}
	return client.DTLSConfig{Addr: t.DTLSAddr, ServerName: t.Server.Hostname(), Roots: t.Roots, Prover: p, HandshakeTimeout: t.HandshakeTimeout}, nil
}

// newPlainDTLS is the DTLS baseline: the same client stack as an attested
// session (DTLS 1.3 with the same settings, the datagram transport) up to
// the server's challenge, which the server sends unasked; then close.
func newPlainDTLS(t *Target) (Session, error) {
	cfg, err := t.dtlsConfig(&tlsbind.Prover{})
	if err != nil {
		return nil, err
	}
	return dtlsSession(cfg, func(ctx context.Context, c *client.DTLSConn) error {
		_, err := c.Challenge(ctx)
		return err
	}, func(tm client.Timings) Sample { return Sample{tm.Handshake, tm.Challenge} }), nil
}

// dtlsSession dials a DTLS connection with cfg, runs step on it and
// returns the phases sample takes from its timings.
func dtlsSession(cfg client.DTLSConfig, step func(context.Context, *client.DTLSConn) error, sample func(client.Timings) Sample) Session {
	return func(ctx context.Context) (Sample, error) {
		c, err := client.DialDTLS(ctx, cfg)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		if err := step(ctx, c); err != nil {
			return nil, err
		}
		return sample(c.Timings()), nil
	}
}

// newAttestedDTLS runs the whole attested session over DTLS with a
// simulated attester of platform.
func newAttestedDTLS(t *Target, platform string) (Session, error) {
	a, err := t.simAttester(platform)
	if err != nil {
		return nil, err
	}
	cfg, err := t.dtlsConfig(&tlsbind.Prover{Attester: a})
	if err != nil {
		return nil, err
	}
	return dtlsSession(cfg, func(ctx context.Context, c *client.DTLSConn) error {
		_, _, err := c.AttestAndIssue(ctx, benchRequested, "")
		return err
	}, func(tm client.Timings) Sample { return Sample{tm.Handshake, tm.Challenge, tm.AttestIssue} }), nil
}
