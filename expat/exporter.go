package expat

import (
	"crypto"
	"crypto/hkdf"
	_ "crypto/sha256" // register SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // register SHA-384 for crypto.Hash.New
	"crypto/tls"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/seatrx/seatrx/internal/handshake"
)

// Exporter is a TLS keying-material exporter (RFC 8446 §7.5). A
// *tls.ConnectionState of a completed TLS 1.3 handshake satisfies it, as does
// *OfflineExporter.
type Exporter interface {
	ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error)
}

// Role says which side of the TLS connection made a message.
type Role uint8

// The two TLS roles.
const (
	Client Role = iota + 1
	Server
)

func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Server:
		return "server"
	}
	return fmt.Sprintf("Role(%d)", r)
}

// Peer returns the other role.
func (r Role) Peer() Role {
	if r == Client {
		return Server
	}
	return Client
}

// Channel is one TLS 1.3 connection as exported authenticators see it: its
// exporter and the hash of its cipher suite (the "authenticator hash").
type Channel struct {
	Exporter Exporter
	Suite    uint16 // TLS 1.3 cipher suite, e.g. tls.TLS_AES_128_GCM_SHA256
}

// ChannelFromTLS returns the Channel of a completed TLS 1.3 connection. It
// refuses earlier versions and unfinished handshakes, so that the exporter is
// never called before it exists (calling it from a client's VerifyConnection
// panics in Go 1.26).
func ChannelFromTLS(cs *tls.ConnectionState) (Channel, error) {
	if cs == nil || !cs.HandshakeComplete {
		return Channel{}, ErrNotTLS13.with("handshake not complete")
	}
	if cs.Version != tls.VersionTLS13 {
		return Channel{}, ErrNotTLS13.with("negotiated version 0x%04x", cs.Version)
	}
	if _, err := SuiteHash(cs.CipherSuite); err != nil {
		return Channel{}, err
	}
	return Channel{Exporter: cs, Suite: cs.CipherSuite}, nil
}

// SuiteHash maps a TLS 1.3 cipher suite to its hash.
func SuiteHash(suite uint16) (crypto.Hash, error) {
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256, tls.TLS_CHACHA20_POLY1305_SHA256:
		return crypto.SHA256, nil
	case tls.TLS_AES_256_GCM_SHA384:
		return crypto.SHA384, nil
	}
	return 0, ErrUnsupportedSuite.with("cipher suite 0x%04x", suite)
}

// Hash returns the channel's authenticator hash.
func (c Channel) Hash() (crypto.Hash, error) { return SuiteHash(c.Suite) }

// Export calls the exporter and wraps its failure.
func (c Channel) Export(label string, context []byte, length int) ([]byte, error) {
	if c.Exporter == nil {
		return nil, ErrExporter.with("no exporter")
	}
	out, err := c.Exporter.ExportKeyingMaterial(label, context, length)
	if err != nil {
		return nil, ErrExporter.wrap(err, "label %q", label)
	}
	if len(out) != length {
		return nil, ErrExporter.with("label %q returned %d bytes, want %d", label, len(out), length)
	}
	return out, nil
}

// keys returns the authenticator hash, handshake context and finished MAC
// key for authenticators made by sender (RFC 9261 §5.1: labels by the
// sender's role, empty context, hash-length output).
func (c Channel) keys(sender Role) (handshake.Keys, error) {
	h, err := c.Hash()
	if err != nil {
		return handshake.Keys{}, err
	}
	return handshake.DeriveKeys(c.Export, h, sender.String())
}

// OfflineExporter computes TLS 1.3 exporter values from an
// exporter_master_secret (RFC 8446 §7.5), so that vectors and key-log captures
// (EXPORTER_SECRET lines) can be checked without a live connection. With
// DTLS set it computes DTLS 1.3's instead: the same derivation, whose
// HKDF-Expand-Label labels start with "dtls13" where TLS 1.3's start with
// "tls13 " (RFC 9147 §5.9), so the same secret gives different values.
type OfflineExporter struct {
	Hash   crypto.Hash
	Secret []byte // exporter_master_secret, Hash.Size() bytes
	DTLS   bool   // DTLS 1.3's label prefix "dtls13" instead of "tls13 "
}

// Label prefixes of HKDF-Expand-Label: TLS 1.3's (RFC 8446 §7.1) and DTLS
// 1.3's (RFC 9147 §5.9; no space).
const (
	LabelPrefixTLS13  = "tls13 "
	LabelPrefixDTLS13 = "dtls13"
)

// NewOfflineChannel returns a Channel backed by an OfflineExporter (TLS 1.3).
func NewOfflineChannel(suite uint16, exporterMasterSecret []byte) (Channel, error) {
	return newOfflineChannel(suite, exporterMasterSecret, false)
}

// NewOfflineDTLSChannel returns a Channel backed by a DTLS 1.3
// OfflineExporter: a DTLS 1.3 connection whose exporter_master_secret is
// given. DTLS 1.3 cipher suites are TLS 1.3's (same codepoints and hashes).
func NewOfflineDTLSChannel(suite uint16, exporterMasterSecret []byte) (Channel, error) {
	return newOfflineChannel(suite, exporterMasterSecret, true)
}

func newOfflineChannel(suite uint16, exporterMasterSecret []byte, dtls bool) (Channel, error) {
	h, err := SuiteHash(suite)
	if err != nil {
		return Channel{}, err
	}
	if len(exporterMasterSecret) != h.Size() {
		return Channel{}, ErrBadLength.with("exporter_master_secret is %d bytes, suite 0x%04x needs %d", len(exporterMasterSecret), suite, h.Size())
	}
	return Channel{Exporter: &OfflineExporter{Hash: h, Secret: exporterMasterSecret, DTLS: dtls}, Suite: suite}, nil
}

// ExportKeyingMaterial implements TLS-Exporter(label, context, length) =
// HKDF-Expand-Label(Derive-Secret(secret, label, ""), "exporter", Hash(context), length).
// A nil context equals an empty one, as in TLS 1.3.
func (e *OfflineExporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	prefix := LabelPrefixTLS13
	if e.DTLS {
		prefix = LabelPrefixDTLS13
	}
	empty := e.Hash.New().Sum(nil)
	derived, err := expandLabel(e.Hash, e.Secret, prefix, label, empty, e.Hash.Size())
	if err != nil {
		return nil, err
	}
	hc := e.Hash.New()
	hc.Write(context)
	return expandLabel(e.Hash, derived, prefix, "exporter", hc.Sum(nil), length)
}

// expandLabel is HKDF-Expand-Label (RFC 8446 §7.1) with the label prefix
// of TLS 1.3 or DTLS 1.3.
func expandLabel(h crypto.Hash, secret []byte, prefix, label string, context []byte, length int) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddUint16(uint16(length))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(prefix + label)) })
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(context) })
	info, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("expat: HKDF label %q: %w", label, err)
	}
	return hkdf.Expand(h.New, secret, string(info), length)
}
