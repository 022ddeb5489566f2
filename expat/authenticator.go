package expat

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"

	"github.com/seatrx/seatrx/internal/handshake"
)

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
	k, err := ch.keys(sender)
	if err != nil {
		return nil, err
	}
	reqRaw := requestRaw(req)
	sig, err := scheme.sign(key, k.SignedContent(reqRaw, cert), rnd)
	if err != nil {
		return nil, err
	}
	cv, err := handshake.CertificateVerify(uint16(scheme), sig, nil)
	if err := encodeError(TypeCertificateVerify, err); err != nil {
		return nil, err
	}
	fin, err := k.Finished(reqRaw, cert, cv)
	if err := encodeError(TypeFinished, err); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(cert)+len(cv)+len(fin))
	return append(append(append(out, cert...), cv...), fin...), nil
}

// AuthenticateEmpty builds the empty authenticator (a lone Finished) with which
// sender refuses req: HMAC(finished key, Hash(handshake context || request ||
// Certificate{request context, empty list})) (RFC 9261 §6).
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
	k, err := ch.keys(sender)
	if err != nil {
		return nil, err
	}
	fin, err := k.Finished(req.Raw, cert)
	return fin, encodeError(TypeFinished, err)
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

// marshalCertificate encodes the Certificate message of chain (end-entity
// first), with firstExts in the first entry only.
func marshalCertificate(ctx []byte, chain [][]byte, firstExts []Extension) ([]byte, error) {
	entries := make([]handshake.Entry, len(chain))
	for i, der := range chain {
		entries[i].CertData = der
	}
	if len(entries) > 0 {
		entries[0].Extensions = wireExtensions(firstExts)
	}
	out, err := handshake.Certificate(ctx, entries)
	return out, encodeError(TypeCertificate, err)
}

type publicKeyEqualer interface{ Equal(crypto.PublicKey) bool }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(publicKeyEqualer)
	return ok && e.Equal(b)
}
