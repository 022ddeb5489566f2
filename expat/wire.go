package expat

import (
	"golang.org/x/crypto/cryptobyte"

	"github.com/seatrx/seatrx/internal/handshake"
)

// Handshake message types used by exported authenticators (RFC 8446 §4,
// RFC 9261 §4).
const (
	TypeCertificate              = handshake.TypeCertificate
	TypeCertificateRequest       = handshake.TypeCertificateRequest
	TypeCertificateVerify        = handshake.TypeCertificateVerify
	TypeClientCertificateRequest = handshake.TypeClientCertificateRequest
	TypeFinished                 = handshake.TypeFinished
)

// Extension types seatrx interprets (RFC 8446 §4.2, RFC 8446 registry).
const (
	ExtServerName              uint16 = 0
	ExtStatusRequest           uint16 = 5
	ExtSignatureAlgorithms     uint16 = 13
	ExtSCT                     uint16 = 18
	ExtCompressCertificate     uint16 = 27
	ExtDelegatedCredential     uint16 = 34
	ExtCertificateAuthorities  uint16 = 47
	ExtOIDFilters              uint16 = 48
	ExtSignatureAlgorithmsCert uint16 = 50
	ExtTransparencyInfo        uint16 = 52

	// DefaultCMWExtensionType is the codepoint seatrx uses for
	// cmw_attestation until IANA assigns one (the draft says TBD); 0xFF00 is
	// in the private-use range and matches the other public Go implementation.
	DefaultCMWExtensionType uint16 = 0xFF00
)

// Size limits, checked before any allocation.
const (
	// MaxRequestSize bounds an Authenticator Request (header included).
	MaxRequestSize = 16 << 10
	// MaxAuthenticatorSize bounds an Authenticator (all three messages).
	MaxAuthenticatorSize = 256 << 10
	// MaxChainLength bounds the number of CertificateEntry structures.
	MaxChainLength = 10
	// MaxExtensions bounds the number of extensions in one block.
	MaxExtensions = 64
)

// Extension is one TLS extension: its type and raw extension_data.
type Extension struct {
	Type uint16
	Data []byte
}

// tls13Extensions lists extensions registered for TLS 1.3 that are not
// allowed in a CertificateRequest; receiving one there is illegal_parameter.
// Extensions absent from both this list and the allowed list are unknown and
// ignored (RFC 8446 §4.2).
var notInCertificateRequest = map[uint16]string{
	1: "max_fragment_length", 10: "supported_groups", 14: "use_srtp", 15: "heartbeat",
	16: "application_layer_protocol_negotiation", 19: "client_certificate_type",
	20: "server_certificate_type", 21: "padding", 28: "record_size_limit", 41: "pre_shared_key",
	42: "early_data", 43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes",
	49: "post_handshake_auth", 51: "key_share",
}

// message is one parsed handshake message; raw includes the 4-byte header.
type message struct {
	typ  uint8
	body []byte
	raw  []byte
}

// readMessage reads one handshake message (type, uint24 length, body) from s.
func readMessage(s *cryptobyte.String) (message, error) {
	start := *s
	var typ uint8
	var body cryptobyte.String
	if !s.ReadUint8(&typ) {
		return message{}, ErrDecode.with("truncated handshake header")
	}
	var n uint32
	if !s.ReadUint24(&n) {
		return message{}, ErrDecode.with("truncated handshake length of message type %d", typ)
	}
	if int(n) > len(*s) {
		return message{}, ErrBadLength.with("handshake message type %d declares %d body bytes, %d present", typ, n, len(*s))
	}
	if !s.ReadBytes((*[]byte)(&body), int(n)) {
		return message{}, ErrDecode.with("truncated body of message type %d", typ)
	}
	return message{typ: typ, body: body, raw: start[:4+int(n)]}, nil
}

// marshalMessage frames body as a handshake message of type typ.
func marshalMessage(typ uint8, body func(b *cryptobyte.Builder)) ([]byte, error) {
	out, err := handshake.Message(typ, body)
	return out, encodeError(typ, err)
}

// encodeError turns a handshake encoder's failure (a length beyond its
// field) into ErrBadLength naming the message type.
func encodeError(typ uint8, err error) error {
	if err != nil {
		return ErrBadLength.wrap(err, "encoding message type %d", typ)
	}
	return nil
}

// parseExtensions parses an Extension extensions<min..2^16-1> block, rejecting
// duplicates and trailing bytes. where names the block in error messages.
func parseExtensions(s *cryptobyte.String, where string) ([]Extension, error) {
	var block cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&block) {
		return nil, ErrDecode.with("%s: truncated extensions block", where)
	}
	var exts []Extension
	seen := make(map[uint16]bool)
	for !block.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !block.ReadUint16(&typ) || !block.ReadUint16LengthPrefixed(&data) {
			return nil, ErrDecode.with("%s: truncated extension", where)
		}
		if seen[typ] {
			return nil, ErrDuplicateExtension.with("%s: extension type %d (0x%04x) appears twice", where, typ, typ)
		}
		seen[typ] = true
		if len(exts) == MaxExtensions {
			return nil, ErrTooLarge.with("%s: more than %d extensions", where, MaxExtensions)
		}
		exts = append(exts, Extension{Type: typ, Data: data})
	}
	return exts, nil
}

func addExtensions(b *cryptobyte.Builder, exts []Extension) {
	handshake.AddExtensions(b, wireExtensions(exts))
}

// wireExtensions converts extensions to the handshake package's form.
func wireExtensions(exts []Extension) []handshake.Extension {
	out := make([]handshake.Extension, len(exts))
	for i, e := range exts {
		out[i] = handshake.Extension(e)
	}
	return out
}

func findExtension(exts []Extension, typ uint16) (Extension, bool) {
	for _, e := range exts {
		if e.Type == typ {
			return e, true
		}
	}
	return Extension{}, false
}

func checkNoDuplicates(exts []Extension, where string) error {
	seen := make(map[uint16]bool, len(exts))
	for _, e := range exts {
		if seen[e.Type] {
			return ErrDuplicateExtension.with("%s: extension type %d (0x%04x) appears twice", where, e.Type, e.Type)
		}
		seen[e.Type] = true
	}
	return nil
}
