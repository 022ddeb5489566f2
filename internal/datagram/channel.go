package datagram

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"time"

	"github.com/pion/dtls/v4"
	"github.com/pion/dtls/v4/pkg/crypto/ciphersuite"
	"github.com/pion/dtls/v4/pkg/protocol"

	"github.com/seatrx/seatrx/expat"
)

// Version13 is DTLS 1.3's version on the wire (RFC 9147 §5.3, 0xfefc), as
// receipts record it (receipt/PROFILE.md §7, context_snapshot.tls_version
// with transport "dtls").
const Version13 uint16 = 0xfefc

// VersionName is how logs and the CLI name the transport and version.
const VersionName = "dtls1.3"

// Channel returns the exported-authenticator view of a completed DTLS 1.3
// connection: its exporter (pion's, RFC 8446 §7.5 with DTLS 1.3's
// "dtls13" label prefix, RFC 9147 §5.9) and its cipher suite, whose
// codepoint and hash are TLS 1.3's. It refuses DTLS 1.2 (its RFC 5705
// exporter takes no context: CodeNotDTLS13) and PSK handshakes (resumption,
// tickets, external PSKs, 0-RTT: CodeResumed); seatrx configures neither
// (ServerOptions, ClientOptions), so these refusals guard against a
// misconfigured peer or a future default.
func Channel(st dtls.State) (expat.Channel, error) {
	if v := st.NegotiatedVersion(); v != protocol.Version1_3 {
		return expat.Channel{}, fail(CodeNotDTLS13, "negotiated version %#04x; attestation needs DTLS 1.3 (0xfefc): DTLS 1.2's exporter takes no context", uint16(v))
	}
	if len(st.IdentityHint) > 0 || len(st.PeerCertificates) == 0 && st.Role() == dtls.RoleClient {
		return expat.Channel{}, fail(CodeResumed, "the handshake used a pre-shared key; attestation needs a full certificate handshake")
	}
	suite := uint16(st.CipherSuiteID)
	if _, err := expat.SuiteHash(suite); err != nil {
		return expat.Channel{}, err
	}
	return expat.Channel{Exporter: &st, Suite: suite}, nil
}

// suites are the DTLS 1.3 cipher suites seatrx offers: TLS 1.3's AEADs
// that pion implements (RFC 9147 §4: DTLS 1.3 uses TLS 1.3's suites).
var suites = []ciphersuite.ID{ciphersuite.TLS_AES_128_GCM_SHA256, ciphersuite.TLS_AES_256_GCM_SHA384, ciphersuite.TLS_CHACHA20_POLY1305_SHA256}

// MTU is the path MTU seatrx assumes for DTLS (pion's default): the
// handshake is fragmented to fit it, and every application record seatrx
// sends (a fragment of at most FragmentSize bytes and its 13-byte header,
// plus DTLS 1.3's record overhead) fits it.
const MTU = 1200

// FlightInterval is the handshake's first retransmission timeout (pion
// doubles it on each retransmission).
const FlightInterval = 500 * time.Millisecond

// common are the options both sides use: DTLS 1.3 only, no session store
// (no tickets, no resumption, no 0-RTT), no PSK.
func common(keyLog io.Writer) []dtls.Option {
	o := []dtls.Option{
		dtls.WithMinVersion(protocol.Version1_3), dtls.WithMaxVersion(protocol.Version1_3),
		dtls.WithCipherSuites(suites...), dtls.WithMTU(MTU), dtls.WithFlightInterval(FlightInterval),
	}
	if keyLog != nil {
		o = append(o, dtls.WithKeyLogWriter(keyLog))
	}
	return o
}

// ServerOptions are the pion options of a seatrx DTLS 1.3 server
// authenticating with certs. keyLog, if non-nil, receives the NSS key log
// (debugging only).
func ServerOptions(certs []tls.Certificate, keyLog io.Writer) []dtls.ServerOption {
	var out []dtls.ServerOption
	for _, o := range append(common(keyLog), dtls.WithCertificates(certs...)) {
		out = append(out, o)
	}
	return out
}

// ClientOptions are the pion options of a seatrx DTLS 1.3 client that
// verifies the server's certificate against roots for serverName (never
// skipped).
func ClientOptions(roots *x509.CertPool, serverName string, keyLog io.Writer) []dtls.ClientOption {
	var out []dtls.ClientOption
	for _, o := range append(common(keyLog), dtls.WithRootCAs(roots), dtls.WithServerName(serverName)) {
		out = append(out, o)
	}
	return out
}
