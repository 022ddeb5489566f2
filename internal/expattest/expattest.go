// Package expattest assembles RFC 9261 authenticators that break one rule of
// RFC 9261 or draft-fossati-seat-expat while everything else is right: the
// CertificateVerify signature and the Finished MAC are computed over the
// bytes actually sent, so a receiver's refusal can only come from the rule
// under test. Conformance suites use it against seatrx and against foreign
// peers; applications use expat.Authenticate, which builds none of these.
//
// Assemble and Certificate are the primitives (any Certificate message,
// signed as a given sender); Faults is a catalogue of named malformations
// built from a correct authenticator's ingredients (Input), each with the
// expat error seatrx reports for it. The signing and MAC rules are those of
// internal/handshake, the same code expat signs and validates with.
//
// BindingFaults is the catalogue one level up, at tlsbind's: authenticators
// that are valid under RFC 9261 but carry real evidence bound wrongly (made
// on another connection, for another context or key, with another label,
// in another profile's container) or none, built from an Attestation (an
// Input whose CMW a tlsbind.Prover made), each with the attest code
// seatrx's relying party reports for it in each profile.
package expattest

import (
	"crypto"
	"fmt"
	"io"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/handshake"
)

// Entry is one CertificateEntry of a Certificate message built by Certificate.
type Entry struct {
	Certificate []byte            // cert_data: any bytes, none included
	Extensions  []expat.Extension // encoded in order, duplicates kept
}

// Certificate encodes a Certificate handshake message exactly as described:
// any context, any number of entries (none included), any extensions.
func Certificate(ctx []byte, entries ...Entry) ([]byte, error) {
	es := make([]handshake.Entry, len(entries))
	for i, e := range entries {
		es[i].CertData = e.Certificate
		for _, x := range e.Extensions {
			es[i].Extensions = append(es[i].Extensions, handshake.Extension(x))
		}
	}
	out, err := handshake.Certificate(ctx, es)
	if err != nil {
		return nil, fmt.Errorf("expattest: Certificate: %w", err)
	}
	return out, nil
}

// Options changes how Assemble signs. The zero value makes a correct
// signature and Finished.
type Options struct {
	Rand io.Reader // signature randomness; nil = crypto/rand
	// BadSignature flips one bit of the signature after signing. The
	// Finished is computed over the altered CertificateVerify, so the
	// signature is the only thing wrong.
	BadSignature bool
	// BadFinished flips one bit of the Finished verify_data.
	BadFinished bool
	// CertificateVerifyTail is appended inside the CertificateVerify body,
	// after the signature; the Finished covers it.
	CertificateVerifyTail []byte
}

// Parts are the three messages of an authenticator, each framed.
type Parts struct {
	Certificate, CertificateVerify, Finished []byte
}

// Bytes returns Certificate || CertificateVerify || Finished.
func (p Parts) Bytes() []byte {
	out := make([]byte, 0, len(p.Certificate)+len(p.CertificateVerify)+len(p.Finished))
	return append(append(append(out, p.Certificate...), p.CertificateVerify...), p.Finished...)
}

// Assemble signs certificate (a whole Certificate handshake message) as
// sender for req (nil: a spontaneous authenticator) with key under scheme,
// and appends the matching Finished. It checks nothing about certificate,
// scheme or key; a nil key gives a 64-byte zero signature.
func Assemble(ch expat.Channel, sender expat.Role, req *expat.Request, certificate []byte, key crypto.Signer, scheme expat.SignatureScheme, opts *Options) ([]byte, error) {
	p, err := AssembleParts(ch, sender, req, certificate, key, scheme, opts)
	if err != nil {
		return nil, err
	}
	return p.Bytes(), nil
}

// AssembleParts is Assemble returning the three messages apart, for faults
// that reorder or drop them.
func AssembleParts(ch expat.Channel, sender expat.Role, req *expat.Request, certificate []byte, key crypto.Signer, scheme expat.SignatureScheme, opts *Options) (Parts, error) {
	if opts == nil {
		opts = &Options{}
	}
	h, err := ch.Hash()
	if err != nil {
		return Parts{}, err
	}
	k, err := handshake.DeriveKeys(ch.Export, h, sender.String())
	if err != nil {
		return Parts{}, err
	}
	var reqRaw []byte
	if req != nil {
		reqRaw = req.Raw
	}
	sig := make([]byte, 64)
	if key != nil {
		if sig, err = handshake.Sign(key, uint16(scheme), k.SignedContent(reqRaw, certificate), opts.Rand); err != nil {
			return Parts{}, fmt.Errorf("expattest: %w", err)
		}
	}
	if opts.BadSignature && len(sig) > 0 {
		sig[len(sig)/2] ^= 0x01
	}
	cv, err := handshake.CertificateVerify(uint16(scheme), sig, opts.CertificateVerifyTail)
	if err != nil {
		return Parts{}, fmt.Errorf("expattest: CertificateVerify: %w", err)
	}
	fin, err := k.Finished(reqRaw, certificate, cv)
	if err != nil {
		return Parts{}, fmt.Errorf("expattest: Finished: %w", err)
	}
	if opts.BadFinished {
		fin[len(fin)-1] ^= 0x01
	}
	return Parts{Certificate: certificate, CertificateVerify: cv, Finished: fin}, nil
}
