package expat

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// DefaultContextSize is the length of the random certificate_request_context
// seatrx generates: 32 bytes, unpredictable to the peer (RFC 9261 §4).
const DefaultContextSize = 32

// Request is an Authenticator Request: a CertificateRequest (type 13, made by
// a server) or a ClientCertificateRequest (type 17, made by a client). Raw
// holds the exact handshake message, which enters the authenticator
// transcript.
type Request struct {
	Sender     Role
	Context    []byte
	Extensions []Extension
	Raw        []byte
}

// RequestOptions configures NewRequest. The zero value asks for the default
// signature schemes, a fresh 32-byte context and no attestation.
type RequestOptions struct {
	// Context is the certificate_request_context; nil means 32 random bytes.
	Context []byte
	// Schemes is the signature_algorithms list; nil means DefaultSchemes.
	Schemes []SignatureScheme
	// OfferCMW adds the empty cmw_attestation extension (draft-fossati-seat-expat).
	OfferCMW bool
	// CMWType is the cmw_attestation codepoint; 0 means DefaultCMWExtensionType.
	CMWType uint16
	// CertificateAuthorities are DER distinguished names for certificate_authorities.
	CertificateAuthorities [][]byte
	// OIDFilters are raw OIDFilter entries for oid_filters.
	OIDFilters []OIDFilter
	// Extra are further extensions, appended as given.
	Extra []Extension
}

// OIDFilter is one entry of the oid_filters extension (RFC 8446 §4.2.5).
type OIDFilter struct {
	OID    []byte // DER-encoded OID body
	Values []byte // DER-encoded extension values
}

// NewRequest builds an Authenticator Request made by sender: a
// CertificateRequest when sender is Server, a ClientCertificateRequest when it
// is Client.
func NewRequest(sender Role, opts RequestOptions) (*Request, error) {
	ctx := opts.Context
	if ctx == nil {
		ctx = make([]byte, DefaultContextSize)
		if _, err := rand.Read(ctx); err != nil {
			return nil, fmt.Errorf("expat: generate certificate_request_context: %w", err)
		}
	}
	schemes := opts.Schemes
	if schemes == nil {
		schemes = DefaultSchemes
	}
	if len(schemes) == 0 {
		return nil, ErrMissingSigAlgs.with("empty scheme list")
	}
	var exts []Extension
	exts = append(exts, Extension{Type: ExtSignatureAlgorithms, Data: marshalSchemes(schemes)})
	if len(opts.CertificateAuthorities) > 0 {
		var b cryptobyte.Builder
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, dn := range opts.CertificateAuthorities {
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(dn) })
			}
		})
		data, err := b.Bytes()
		if err != nil {
			return nil, ErrBadLength.wrap(err, "certificate_authorities")
		}
		exts = append(exts, Extension{Type: ExtCertificateAuthorities, Data: data})
	}
	if len(opts.OIDFilters) > 0 {
		var b cryptobyte.Builder
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
			for _, f := range opts.OIDFilters {
				b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(f.OID) })
				b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(f.Values) })
			}
		})
		data, err := b.Bytes()
		if err != nil {
			return nil, ErrBadLength.wrap(err, "oid_filters")
		}
		exts = append(exts, Extension{Type: ExtOIDFilters, Data: data})
	}
	if opts.OfferCMW {
		exts = append(exts, Extension{Type: cmwType(opts.CMWType)})
	}
	exts = append(exts, opts.Extra...)
	if err := checkNoDuplicates(exts, "request"); err != nil {
		return nil, err
	}
	return EncodeRequest(sender, ctx, exts, opts.CMWType)
}

// EncodeRequest encodes a request made by sender with exactly the given
// context and extensions, in order, then parses it back so that it passes the
// same checks as a received request (cmwExt is the cmw_attestation codepoint,
// 0 = default). Conformance vectors use it; applications use NewRequest.
func EncodeRequest(sender Role, ctx []byte, exts []Extension, cmwExt uint16) (*Request, error) {
	if len(ctx) > 255 {
		return nil, ErrBadLength.with("certificate_request_context is %d bytes, max 255", len(ctx))
	}
	typ := TypeCertificateRequest
	if sender == Client {
		typ = TypeClientCertificateRequest
	} else if sender != Server {
		return nil, ErrWrongDirection.with("unknown sender %v", sender)
	}
	raw, err := marshalMessage(typ, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		addExtensions(b, exts)
	})
	if err != nil {
		return nil, err
	}
	return ParseRequest(raw, sender, cmwExt)
}

func cmwType(t uint16) uint16 {
	if t == 0 {
		return DefaultCMWExtensionType
	}
	return t
}

func marshalSchemes(schemes []SignatureScheme) []byte {
	b := make([]byte, 2, 2+2*len(schemes))
	b[0], b[1] = byte(len(schemes)*2>>8), byte(len(schemes)*2)
	for _, s := range schemes {
		b = append(b, byte(s>>8), byte(s))
	}
	return b
}

// ParseRequest parses an Authenticator Request that sender made. It checks the
// message type against the sender (13 from a server, 17 from a client), exact
// lengths, duplicate and misplaced extensions, the mandatory
// signature_algorithms, the bodies of the extensions seatrx interprets, and
// that a cmw_attestation offer (codepoint cmwExt, 0 = default) is empty.
// Unknown extensions are kept and otherwise ignored (RFC 8446 §4.2).
func ParseRequest(raw []byte, sender Role, cmwExt uint16) (*Request, error) {
	if len(raw) > MaxRequestSize {
		return nil, ErrTooLarge.with("request is %d bytes, limit %d", len(raw), MaxRequestSize)
	}
	s := cryptobyte.String(raw)
	msg, err := readMessage(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, ErrTrailingData.with("%d bytes after the request message", len(s))
	}
	want := TypeCertificateRequest
	if sender == Client {
		want = TypeClientCertificateRequest
	}
	switch msg.typ {
	case want:
	case TypeCertificateRequest, TypeClientCertificateRequest:
		return nil, ErrWrongDirection.with("message type %d from the %v; want %d", msg.typ, sender, want)
	default:
		return nil, ErrUnexpectedMessage.with("message type %d is not an authenticator request", msg.typ)
	}
	body := cryptobyte.String(msg.body)
	var ctx cryptobyte.String
	if !body.ReadUint8LengthPrefixed(&ctx) {
		return nil, ErrDecode.with("request: truncated certificate_request_context")
	}
	exts, err := parseExtensions(&body, "request")
	if err != nil {
		return nil, err
	}
	if !body.Empty() {
		return nil, ErrTrailingData.with("request: %d bytes after extensions", len(body))
	}
	cmw := cmwType(cmwExt)
	for _, e := range exts {
		if name, bad := notInCertificateRequest[e.Type]; bad {
			return nil, ErrExtensionNotAllowed.with("request: %s (%d)", name, e.Type)
		}
		if e.Type == ExtServerName && sender == Server {
			return nil, ErrExtensionNotAllowed.with("request: server_name (0) is allowed only in a ClientCertificateRequest")
		}
		if err := checkRequestExtension(e, cmw); err != nil {
			return nil, err
		}
	}
	if _, ok := findExtension(exts, ExtSignatureAlgorithms); !ok {
		return nil, ErrMissingSigAlgs.with("request has %d extensions, none is signature_algorithms (13)", len(exts))
	}
	return &Request{Sender: sender, Context: bytes.Clone(ctx), Extensions: cloneExtensions(exts), Raw: bytes.Clone(raw)}, nil
}

func cloneExtensions(exts []Extension) []Extension {
	out := make([]Extension, len(exts))
	for i, e := range exts {
		out[i] = Extension{Type: e.Type, Data: bytes.Clone(e.Data)}
	}
	return out
}

// checkRequestExtension validates the bodies of extensions seatrx interprets.
func checkRequestExtension(e Extension, cmw uint16) error {
	s := cryptobyte.String(e.Data)
	switch e.Type {
	case cmw:
		if len(e.Data) != 0 {
			return ErrCMWOfferNotEmpty.with("extension 0x%04x carries %d bytes", e.Type, len(e.Data))
		}
		return nil
	case ExtSignatureAlgorithms, ExtSignatureAlgorithmsCert:
		_, err := parseSchemes(e.Data, e.Type)
		return err
	case ExtCertificateAuthorities:
		var list cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() || len(list) < 3 {
			return ErrBadExtension.with("certificate_authorities: want authorities<3..2^16-1> and nothing after")
		}
		for !list.Empty() {
			var dn cryptobyte.String
			if !list.ReadUint16LengthPrefixed(&dn) || len(dn) == 0 {
				return ErrBadExtension.with("certificate_authorities: malformed DistinguishedName<1..2^16-1>")
			}
		}
	case ExtOIDFilters:
		var list cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() {
			return ErrBadExtension.with("oid_filters: want filters<0..2^16-1> and nothing after")
		}
		for !list.Empty() {
			var oid, vals cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&oid) || len(oid) == 0 || !list.ReadUint16LengthPrefixed(&vals) {
				return ErrBadExtension.with("oid_filters: malformed OIDFilter")
			}
		}
	}
	return nil
}

func parseSchemes(data []byte, ext uint16) ([]SignatureScheme, error) {
	s := cryptobyte.String(data)
	var list cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&list) || !s.Empty() {
		return nil, ErrBadExtension.with("extension %d: want supported_signature_algorithms<2..2^16-2> and nothing after", ext)
	}
	if len(list) < 2 || len(list)%2 != 0 {
		return nil, ErrBadExtension.with("extension %d: scheme list of %d bytes (must be even, >= 2)", ext, len(list))
	}
	out := make([]SignatureScheme, 0, len(list)/2)
	for !list.Empty() {
		var v uint16
		list.ReadUint16(&v)
		out = append(out, SignatureScheme(v))
	}
	return out, nil
}

// Schemes returns the request's signature_algorithms, in the requester's order.
func (r *Request) Schemes() []SignatureScheme {
	e, _ := findExtension(r.Extensions, ExtSignatureAlgorithms)
	s, _ := parseSchemes(e.Data, ExtSignatureAlgorithms) // validated by ParseRequest
	return s
}

// Offers reports whether the request carries an extension of type typ.
func (r *Request) Offers(typ uint16) bool {
	_, ok := findExtension(r.Extensions, typ)
	return ok
}

// OffersCMW reports whether the request offers cmw_attestation at codepoint
// cmwExt (0 = default).
func (r *Request) OffersCMW(cmwExt uint16) bool { return r.Offers(cmwType(cmwExt)) }

// Type returns the handshake message type of the request.
func (r *Request) Type() uint8 { return r.Raw[0] }
