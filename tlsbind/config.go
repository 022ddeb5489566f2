package tlsbind

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/seatrx/seatrx/expat"
)

// ServerConfig returns the TLS configuration of an attested server: TLS 1.3
// only, no session tickets (so no resumption and no 0-RTT, as
// draft-fossati-seat-expat-03 and -04 §7.2 require), HTTP/2 preferred.
// certs are the server's certificates; clientCAs, if set, enables optional
// mTLS.
func ServerConfig(certs []tls.Certificate, clientCAs *x509.CertPool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           certs,
		SessionTicketsDisabled: true,
		NextProtos:             []string{"h2", "http/1.1"},
	}
	if clientCAs != nil {
		cfg.ClientCAs = clientCAs
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg
}

// ClientConfig returns the TLS configuration of an attesting client: TLS 1.3
// only, the server certificate verified against roots (never skipped), and no
// session cache, so every connection is a full handshake whose exporter is
// fresh. Go's TLS client never sends early data.
func ClientConfig(roots *x509.CertPool, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		RootCAs:            roots,
		ServerName:         serverName,
		ClientSessionCache: nil,
		NextProtos:         []string{"h2", "http/1.1"},
	}
}

// Channel checks that cs is a completed, fresh (not resumed) TLS 1.3
// connection and returns its expat.Channel. Call it only after Handshake has
// returned: the client-side exporter does not exist earlier.
func Channel(cs *tls.ConnectionState) (expat.Channel, error) {
	if cs.DidResume {
		return expat.Channel{}, fail(StepConnection, CodeResumed, nil, "attestation needs a full handshake; this connection resumed a session")
	}
	ch, err := expat.ChannelFromTLS(cs)
	if err != nil {
		return expat.Channel{}, classify(StepConnection, err)
	}
	return ch, nil
}
