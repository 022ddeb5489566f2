package expat

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// cvContext is the RFC 9261 §5.2.2 context string of CertificateVerify.
const cvContext = "Exported Authenticator"

// Identity is what an authenticator proves possession of: a certificate chain
// (end-entity first) and the end-entity's private key. FirstEntryExtensions go
// into the first CertificateEntry (cmw_attestation lives there).
type Identity struct {
	Chain                [][]byte
	Signer               crypto.Signer
	FirstEntryExtensions []Extension
}

// AuthOptions tunes Authenticate. Context, Schemes and OfferedExtensions are
// used only for spontaneous server authenticators (no request), where they
// come from the server's choice and the client's ClientHello.
type AuthOptions struct {
	CMWType           uint16            // cmw_attestation codepoint; 0 = default
	Context           []byte            // spontaneous only; nil = 32 random bytes
	Schemes           []SignatureScheme // spontaneous only: ClientHello signature_algorithms
	OfferedExtensions []uint16          // spontaneous only: ClientHello extension types
	Rand              io.Reader         // nil = crypto/rand
}

// Authenticate builds the Authenticator that sender returns for req
// (Certificate, CertificateVerify, Finished). req == nil makes a spontaneous
// authenticator, which only a server may send. The signature scheme is the
// first of the request's signature_algorithms that the key supports; if there
// is none, it returns ErrNoCommonScheme and the caller should send
// AuthenticateEmpty instead. Every first-entry extension must have been
// offered by the request.
func Authenticate(ch Channel, sender Role, req *Request, id *Identity, opts *AuthOptions) ([]byte, error) {
	if opts == nil {
		opts = &AuthOptions{}
	}
	if id == nil || len(id.Chain) == 0 || id.Signer == nil {
		return nil, ErrEmptyCertificate.with("identity has no certificate or no key")
	}
	if len(id.Chain) > MaxChainLength {
		return nil, ErrTooLarge.with("chain of %d certificates, limit %d", len(id.Chain), MaxChainLength)
	}
	ctx, schemes, offered, err := answerParams(sender, req, opts)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(id.Chain[0])
	if err != nil {
		return nil, ErrBadCertificate.wrap(err, "end-entity certificate")
	}
	if !publicKeysEqual(leaf.PublicKey, id.Signer.Public()) {
		return nil, ErrSchemeKeyMismatch.with("signer's key is not the end-entity certificate's key")
	}
	scheme, ok := SignatureScheme(0), false
	for _, s := range schemes {
		if s.Supported() && s.fits(leaf.PublicKey) {
			scheme, ok = s, true
			break
		}
	}
	if !ok {
		return nil, ErrNoCommonScheme.with("offered %v, key %T", schemes, leaf.PublicKey)
	}
	for _, e := range id.FirstEntryExtensions {
		if !offered[e.Type] {
			return nil, ErrExtensionNotOffered.with("first entry: extension 0x%04x", e.Type)
		}
	}
	if err := checkNoDuplicates(id.FirstEntryExtensions, "first CertificateEntry"); err != nil {
		return nil, err
	}
	cert, err := marshalCertificate(ctx, id.Chain, id.FirstEntryExtensions)
	if err != nil {
		return nil, err
	}
	out, err := assemble(ch, sender, req, cert, id.Signer, scheme, opts.Rand)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxAuthenticatorSize {
		return nil, ErrTooLarge.with("authenticator is %d bytes, limit %d", len(out), MaxAuthenticatorSize)
	}
	return out, nil
}

// assemble signs the Certificate message cert as sender under scheme and
// returns Certificate || CertificateVerify || Finished.
func assemble(ch Channel, sender Role, req *Request, cert []byte, key crypto.Signer, scheme SignatureScheme, rnd io.Reader) ([]byte, error) {
	h, hc, fk, err := ch.keys(sender)
	if err != nil {
		return nil, err
	}
	reqRaw := requestRaw(req)
	sig, err := scheme.sign(key, cvMessage(h, hc, reqRaw, cert), rnd)
	if err != nil {
		return nil, err
	}
	cv, err := marshalMessage(TypeCertificateVerify, func(b *cryptobyte.Builder) {
		b.AddUint16(uint16(scheme))
		b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(sig) })
	})
	if err != nil {
		return nil, err
	}
	fin, err := finishedMessage(h, fk, hc, reqRaw, cert, cv)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(cert)+len(cv)+len(fin))
	return append(append(append(out, cert...), cv...), fin...), nil
}

// AuthenticateEmpty builds the empty authenticator (a lone Finished) with which
// sender refuses req: HMAC(finished key, Hash(handshake context || request ||
// Certificate{request context, empty list})) (RFC 9261 §5.3).
func AuthenticateEmpty(ch Channel, sender Role, req *Request) ([]byte, error) {
	if req == nil {
		return nil, ErrMissingRequest.with("an empty authenticator answers a request")
	}
	if req.Sender != sender.Peer() {
		return nil, ErrWrongDirection.with("the %v cannot answer a request made by the %v", sender, req.Sender)
	}
	cert, err := marshalCertificate(req.Context, nil, nil)
	if err != nil {
		return nil, err
	}
	h, hc, fk, err := ch.keys(sender)
	if err != nil {
		return nil, err
	}
	return finishedMessage(h, fk, hc, req.Raw, cert)
}

// answerParams returns the context, schemes and offered extension types an
// authenticator by sender must use.
func answerParams(sender Role, req *Request, opts *AuthOptions) ([]byte, []SignatureScheme, map[uint16]bool, error) {
	offered := make(map[uint16]bool)
	if req == nil {
		if sender != Server {
			return nil, nil, nil, ErrMissingRequest.with("the %v has no request to answer", sender)
		}
		ctx := opts.Context
		if ctx == nil {
			ctx = make([]byte, DefaultContextSize)
			if _, err := rand.Read(ctx); err != nil {
				return nil, nil, nil, fmt.Errorf("expat: generate context: %w", err)
			}
		}
		if len(ctx) > 255 {
			return nil, nil, nil, ErrBadLength.with("context is %d bytes, max 255", len(ctx))
		}
		for _, t := range opts.OfferedExtensions {
			offered[t] = true
		}
		return ctx, opts.Schemes, offered, nil
	}
	if req.Sender != sender.Peer() {
		return nil, nil, nil, ErrWrongDirection.with("the %v cannot answer a request made by the %v", sender, req.Sender)
	}
	for _, e := range req.Extensions {
		offered[e.Type] = true
	}
	return req.Context, req.Schemes(), offered, nil
}

func requestRaw(req *Request) []byte {
	if req == nil {
		return nil
	}
	return req.Raw
}

func marshalCertificate(ctx []byte, chain [][]byte, firstExts []Extension) ([]byte, error) {
	return marshalMessage(TypeCertificate, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(ctx) })
		b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) {
			for i, der := range chain {
				b.AddUint24LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(der) })
				if i == 0 {
					addExtensions(b, firstExts)
				} else {
					addExtensions(b, nil)
				}
			}
		})
	})
}

// transcriptHash returns Hash(parts...).
func transcriptHash(h crypto.Hash, parts ...[]byte) []byte {
	hh := h.New()
	for _, p := range parts {
		hh.Write(p)
	}
	return hh.Sum(nil)
}

// cvMessage is the content CertificateVerify signs (RFC 9261 §5.2.2):
// 64 spaces || "Exported Authenticator" || 0x00 || Hash(HC || request || Certificate).
func cvMessage(h crypto.Hash, hc, req, cert []byte) []byte {
	th := transcriptHash(h, hc, req, cert)
	m := make([]byte, 0, 64+len(cvContext)+1+len(th))
	m = append(m, bytes.Repeat([]byte{0x20}, 64)...)
	m = append(m, cvContext...)
	m = append(m, 0)
	return append(m, th...)
}

func finishedMAC(h crypto.Hash, fk []byte, parts ...[]byte) []byte {
	mac := hmac.New(h.New, fk)
	mac.Write(transcriptHash(h, parts...))
	return mac.Sum(nil)
}

func finishedMessage(h crypto.Hash, fk []byte, parts ...[]byte) ([]byte, error) {
	vd := finishedMAC(h, fk, parts...)
	return marshalMessage(TypeFinished, func(b *cryptobyte.Builder) { b.AddBytes(vd) })
}

type publicKeyEqualer interface{ Equal(crypto.PublicKey) bool }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(publicKeyEqualer)
	return ok && e.Equal(b)
}
