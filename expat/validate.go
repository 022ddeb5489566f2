package expat

import (
	"bytes"
	"crypto/hmac"
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
)

// CertificateEntry is one entry of an authenticator's Certificate message.
type CertificateEntry struct {
	Raw        []byte // DER certificate
	Extensions []Extension
}

// Authenticator is a validated authenticator: who authenticated, with which
// scheme, and the attestation it carried.
type Authenticator struct {
	Context []byte
	Entries []CertificateEntry
	Chain   []*x509.Certificate // parsed Entries, end-entity first
	Scheme  SignatureScheme
	// CMW is the cmw_data of the first entry's cmw_attestation, nil if absent.
	CMW []byte
}

// ValidateOptions tunes Validate. Schemes and OfferedExtensions describe our
// ClientHello and are used only for spontaneous server authenticators.
type ValidateOptions struct {
	CMWType           uint16 // cmw_attestation codepoint; 0 = default
	Schemes           []SignatureScheme
	OfferedExtensions []uint16
	// VerifyChain, if set, validates the parsed chain (PKIX, pinning, ...).
	// RFC 9261 leaves chain validation to the application (§7.4).
	VerifyChain func(chain []*x509.Certificate) error
}

// Validate checks an authenticator made by sender in answer to req (nil for a
// spontaneous server authenticator), enforcing RFC 9261 §5 and §6 and
// draft-fossati-seat-expat: message order and framing, context echo,
// extensions only as offered, cmw_attestation only in the first entry, the
// scheme offered and matching the key, the CertificateVerify signature and
// the Finished MAC. A well-formed empty authenticator yields
// ErrEmptyAuthenticator: the peer refused, which is never success.
func Validate(ch Channel, sender Role, req *Request, auth []byte, opts *ValidateOptions) (*Authenticator, error) {
	if opts == nil {
		opts = &ValidateOptions{}
	}
	if len(auth) > MaxAuthenticatorSize {
		return nil, ErrTooLarge.with("authenticator is %d bytes, limit %d", len(auth), MaxAuthenticatorSize)
	}
	if req == nil && sender != Server {
		return nil, ErrMissingRequest.with("authenticator from the %v with no request", sender)
	}
	if req != nil && req.Sender != sender.Peer() {
		return nil, ErrWrongDirection.with("authenticator from the %v answers a request made by the %v", sender, req.Sender)
	}
	msgs, err := splitAuthenticator(auth)
	if err != nil {
		return nil, err
	}
	k, err := ch.keys(sender)
	if err != nil {
		return nil, err
	}
	reqRaw := requestRaw(req)

	if len(msgs) == 1 { // empty authenticator
		if req == nil {
			return nil, ErrUnexpectedMessage.with("a lone Finished must answer a request")
		}
		empty, err := marshalCertificate(req.Context, nil, nil)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(msgs[0].body, k.FinishedMAC(reqRaw, empty)) {
			return nil, ErrBadFinished.with("empty authenticator's Finished")
		}
		return nil, ErrEmptyAuthenticator.with("context %x", req.Context)
	}

	cert, cv, fin := msgs[0], msgs[1], msgs[2]
	a, err := parseCertificate(cert.body)
	if err != nil {
		return nil, err
	}
	if req != nil && !bytes.Equal(a.Context, req.Context) {
		return nil, ErrContextMismatch.with("Certificate context %x, request context %x", a.Context, req.Context)
	}
	if len(a.Entries) == 0 {
		return nil, ErrEmptyCertificate.with("certificate_list is empty but CertificateVerify is present")
	}
	offered := make(map[uint16]bool)
	schemes := opts.Schemes
	if req != nil {
		for _, e := range req.Extensions {
			offered[e.Type] = true
		}
		schemes = req.Schemes()
	} else {
		for _, t := range opts.OfferedExtensions {
			offered[t] = true
		}
	}
	cmw := cmwType(opts.CMWType)
	for i, entry := range a.Entries {
		for _, e := range entry.Extensions {
			if e.Type == cmw && i > 0 {
				return nil, ErrCMWNotFirstEntry.with("found in entry %d", i)
			}
			if !offered[e.Type] {
				return nil, ErrExtensionNotOffered.with("entry %d: extension 0x%04x", i, e.Type)
			}
		}
	}
	if e, ok := findExtension(a.Entries[0].Extensions, cmw); ok {
		if a.CMW, err = ParseCMWExtension(e.Data); err != nil {
			return nil, err
		}
	}
	for i, entry := range a.Entries {
		c, err := x509.ParseCertificate(entry.Raw)
		if err != nil {
			return nil, ErrBadCertificate.wrap(err, "entry %d", i)
		}
		a.Chain = append(a.Chain, c)
	}

	cvs := cryptobyte.String(cv.body)
	var scheme uint16
	var sig cryptobyte.String
	if !cvs.ReadUint16(&scheme) || !cvs.ReadUint16LengthPrefixed(&sig) {
		return nil, ErrDecode.with("CertificateVerify: truncated")
	}
	if !cvs.Empty() {
		return nil, ErrTrailingData.with("CertificateVerify: %d bytes after the signature", len(cvs))
	}
	a.Scheme = SignatureScheme(scheme)
	if forbiddenInCertificateVerify(a.Scheme) || !a.Scheme.Supported() {
		return nil, ErrUnsupportedScheme.with("CertificateVerify algorithm %v", a.Scheme)
	}
	if !containsScheme(schemes, a.Scheme) {
		return nil, ErrSchemeNotOffered.with("%v not in offered %v", a.Scheme, schemes)
	}
	leaf := a.Chain[0]
	if !a.Scheme.fits(leaf.PublicKey) {
		return nil, ErrSchemeKeyMismatch.with("%v with a %T end-entity key", a.Scheme, leaf.PublicKey)
	}
	if !a.Scheme.verify(leaf.PublicKey, k.SignedContent(reqRaw, cert.raw), sig) {
		return nil, ErrBadSignature.with("%v over the %v's transcript", a.Scheme, sender)
	}
	if !hmac.Equal(fin.body, k.FinishedMAC(reqRaw, cert.raw, cv.raw)) {
		return nil, ErrBadFinished.with("Finished of the %v", sender)
	}
	if opts.VerifyChain != nil {
		if err := opts.VerifyChain(a.Chain); err != nil {
			return nil, ErrCertificateChain.wrap(err, "")
		}
	}
	return a, nil
}

func containsScheme(list []SignatureScheme, s SignatureScheme) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitAuthenticator returns [Certificate, CertificateVerify, Finished] or
// [Finished], rejecting any other sequence and trailing bytes.
func splitAuthenticator(auth []byte) ([]message, error) {
	s := cryptobyte.String(auth)
	var msgs []message
	for !s.Empty() {
		if len(msgs) == 3 {
			return nil, ErrTrailingData.with("%d bytes after Finished", len(s))
		}
		m, err := readMessage(&s)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	switch {
	case len(msgs) == 1 && msgs[0].typ == TypeFinished:
	case len(msgs) == 3 && msgs[0].typ == TypeCertificate && msgs[1].typ == TypeCertificateVerify && msgs[2].typ == TypeFinished:
	default:
		types := make([]uint8, len(msgs))
		for i, m := range msgs {
			types[i] = m.typ
		}
		return nil, ErrUnexpectedMessage.with("message types %v; want [11 15 20] or [20]", types)
	}
	return msgs, nil
}

// parseCertificate parses a Certificate body strictly.
func parseCertificate(body []byte) (*Authenticator, error) {
	s := cryptobyte.String(body)
	var ctx, list cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) || !s.ReadUint24LengthPrefixed(&list) {
		return nil, ErrDecode.with("Certificate: truncated context or certificate_list")
	}
	if !s.Empty() {
		return nil, ErrTrailingData.with("Certificate: %d bytes after certificate_list", len(s))
	}
	a := &Authenticator{Context: bytes.Clone(ctx)}
	for !list.Empty() {
		if len(a.Entries) == MaxChainLength {
			return nil, ErrTooLarge.with("Certificate: more than %d entries", MaxChainLength)
		}
		var der cryptobyte.String
		if !list.ReadUint24LengthPrefixed(&der) {
			return nil, ErrDecode.with("Certificate: entry %d: truncated cert_data", len(a.Entries))
		}
		if len(der) == 0 {
			return nil, ErrBadLength.with("Certificate: entry %d: empty cert_data (must be 1..2^24-1)", len(a.Entries))
		}
		exts, err := parseExtensions(&list, "Certificate entry")
		if err != nil {
			return nil, err
		}
		a.Entries = append(a.Entries, CertificateEntry{Raw: bytes.Clone(der), Extensions: cloneExtensions(exts)})
	}
	return a, nil
}

// CMWExtension returns the cmw_attestation extension carrying cmw at codepoint
// typ (0 = default): extension_data = opaque cmw_data<1..2^16-1>.
func CMWExtension(typ uint16, cmw []byte) (Extension, error) {
	if len(cmw) == 0 || len(cmw) > 0xFFFF-2 {
		return Extension{}, ErrCMWMalformed.with("cmw_data is %d bytes; allowed 1..65533 (extension_data is itself limited to 65535)", len(cmw))
	}
	data := make([]byte, 2+len(cmw))
	data[0], data[1] = byte(len(cmw)>>8), byte(len(cmw))
	copy(data[2:], cmw)
	return Extension{Type: cmwType(typ), Data: data}, nil
}

// ParseCMWExtension returns the cmw_data inside a cmw_attestation
// extension_data, rejecting empty or inconsistent lengths and trailing bytes.
func ParseCMWExtension(data []byte) ([]byte, error) {
	s := cryptobyte.String(data)
	var cmw cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&cmw) {
		return nil, ErrCMWMalformed.with("extension_data of %d bytes does not hold a uint16-prefixed cmw_data", len(data))
	}
	if !s.Empty() {
		return nil, ErrCMWMalformed.with("%d bytes after cmw_data", len(s))
	}
	if len(cmw) == 0 {
		return nil, ErrCMWMalformed.with("cmw_data is empty (must be 1..2^16-1)")
	}
	return bytes.Clone(cmw), nil
}

// AuthenticatorContext returns the certificate_request_context of a
// non-empty authenticator without validating it (RFC 9261 §7.2 "get context"),
// so a receiver can find which of its requests the authenticator answers.
func AuthenticatorContext(auth []byte) ([]byte, error) {
	if len(auth) > MaxAuthenticatorSize {
		return nil, ErrTooLarge.with("authenticator is %d bytes, limit %d", len(auth), MaxAuthenticatorSize)
	}
	msgs, err := splitAuthenticator(auth)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 1 {
		return nil, ErrEmptyAuthenticator.with("an empty authenticator carries no context")
	}
	s := cryptobyte.String(msgs[0].body)
	var ctx cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&ctx) {
		return nil, ErrDecode.with("Certificate: truncated context")
	}
	return bytes.Clone(ctx), nil
}
