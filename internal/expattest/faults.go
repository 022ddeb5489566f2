package expattest

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/expat"
)

// Input holds the ingredients of a correct authenticator that Sender makes
// on Channel in answer to Request. Each Fault changes one thing about it.
type Input struct {
	Channel expat.Channel
	Sender  expat.Role
	Request *expat.Request        // the request answered (required)
	Chain   [][]byte              // DER certificates, end-entity first
	Key     crypto.Signer         // the end-entity certificate's key
	Scheme  expat.SignatureScheme // offered by Request and fitting Key
	CMW     []byte                // cmw_data for the first entry; nil = none
	CMWType uint16                // cmw_attestation codepoint; 0 = expat's default
}

// Fault is one way to break an authenticator. Want is the error
// expat.Validate returns for it (match with errors.Is); Want.Rule states the
// rule, with its source, that a receiver must enforce.
type Fault struct {
	Name        string // kebab-case, stable
	Description string // what is changed
	Want        *expat.Error
	needsCMW    bool // the request must offer cmw_attestation for Want to be what is reported
	build       func(in *Input) ([]byte, error)
}

// Build makes in's authenticator with the fault, everything else correct.
func (f Fault) Build(in Input) ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, fmt.Errorf("expattest: fault %s: %w", f.Name, err)
	}
	if f.needsCMW && !in.Request.OffersCMW(in.CMWType) {
		return nil, fmt.Errorf("expattest: fault %s needs a request that offers cmw_attestation", f.Name)
	}
	return f.build(&in)
}

// Authenticator builds in's authenticator with no fault, through the same
// assembly as the faults, so a suite can first show that the receiver
// accepts the baseline.
func (in Input) Authenticator() ([]byte, error) {
	if err := in.check(); err != nil {
		return nil, fmt.Errorf("expattest: %w", err)
	}
	return in.sign(in.entries(), nil)
}

func (in *Input) check() error {
	switch {
	case in.Request == nil:
		return errors.New("Input.Request is required")
	case len(in.Chain) == 0 || in.Key == nil:
		return errors.New("Input needs a certificate chain and its key")
	}
	return nil
}

// cmwExtension is the well-formed cmw_attestation of the first entry; a
// one-byte placeholder when the input carries no CMW.
func (in *Input) cmwExtension() expat.Extension {
	cmw := in.CMW
	if cmw == nil {
		cmw = []byte{0xa0}
	}
	e, _ := expat.CMWExtension(in.CMWType, cmw) // cannot fail for 1..65533 bytes
	return e
}

func (in *Input) cmwCode() uint16 { return in.cmwExtension().Type }

// entries are the correct CertificateEntries: the chain, cmw_attestation in
// the first entry if the input has a CMW.
func (in *Input) entries() []Entry {
	es := make([]Entry, len(in.Chain))
	for i, der := range in.Chain {
		es[i].Certificate = der
	}
	if in.CMW != nil {
		es[0].Extensions = []expat.Extension{in.cmwExtension()}
	}
	return es
}

func (in *Input) parts(ctx []byte, es []Entry, opts *Options) (Parts, error) {
	cert, err := Certificate(ctx, es...)
	if err != nil {
		return Parts{}, err
	}
	return AssembleParts(in.Channel, in.Sender, in.Request, cert, in.Key, in.Scheme, opts)
}

func (in *Input) sign(es []Entry, opts *Options) ([]byte, error) {
	p, err := in.parts(in.Request.Context, es, opts)
	if err != nil {
		return nil, err
	}
	return p.Bytes(), nil
}

// withFirst returns the correct entries with the first entry's extensions
// replaced by exts.
func (in *Input) withFirst(exts ...expat.Extension) []Entry {
	es := in.entries()
	es[0].Extensions = exts
	return es
}

// notOffered returns an extension type the request did not offer.
func (in *Input) notOffered() uint16 {
	for _, t := range []uint16{expat.ExtStatusRequest, expat.ExtSCT, 0xfafa} {
		if !in.Request.Offers(t) && t != in.cmwCode() {
			return t
		}
	}
	return 0xfafb
}

// Faults returns the catalogue, in a stable order.
func Faults() []Fault {
	return []Fault{
		{Name: "bad-signature", Description: "one bit of the CertificateVerify signature flipped; the Finished covers the altered message",
			Want: expat.ErrBadSignature, build: func(in *Input) ([]byte, error) {
				return in.sign(in.entries(), &Options{BadSignature: true})
			}},
		{Name: "bad-finished", Description: "one bit of the Finished verify_data flipped",
			Want: expat.ErrBadFinished, build: func(in *Input) ([]byte, error) {
				return in.sign(in.entries(), &Options{BadFinished: true})
			}},
		{Name: "context-mismatch", Description: "the Certificate carries a certificate_request_context other than the request's, correctly signed",
			Want: expat.ErrContextMismatch, build: func(in *Input) ([]byte, error) {
				ctx := bytes.Clone(in.Request.Context)
				if len(ctx) == 0 {
					ctx = []byte{0}
				} else {
					ctx[0] ^= 0xff
				}
				p, err := in.parts(ctx, in.entries(), nil)
				return p.Bytes(), err
			}},
		{Name: "extension-not-offered", Description: "the first CertificateEntry carries an extension the request did not offer",
			Want: expat.ErrExtensionNotOffered, build: func(in *Input) ([]byte, error) {
				es := in.entries()
				es[0].Extensions = append(es[0].Extensions, expat.Extension{Type: in.notOffered()})
				return in.sign(es, nil)
			}},
		{Name: "cmw-not-first-entry", Description: "cmw_attestation in the second CertificateEntry, none in the first",
			Want: expat.ErrCMWNotFirstEntry, build: func(in *Input) ([]byte, error) {
				es := in.withFirst()
				if len(es) == 1 {
					es = append(es, Entry{Certificate: in.Chain[0]})
				}
				es[1].Extensions = append(es[1].Extensions, in.cmwExtension())
				return in.sign(es, nil)
			}},
		{Name: "duplicate-extension", Description: "cmw_attestation twice in the first CertificateEntry",
			Want: expat.ErrDuplicateExtension, build: func(in *Input) ([]byte, error) {
				return in.sign(in.withFirst(in.cmwExtension(), in.cmwExtension()), nil)
			}},
		{Name: "cmw-single-length-prefix", Description: "cmw_attestation extension_data is the bare cmw_data, without its own uint16 length",
			Want: expat.ErrCMWMalformed, needsCMW: true, build: func(in *Input) ([]byte, error) {
				e := in.cmwExtension()
				e.Data = e.Data[2:]
				if _, err := expat.ParseCMWExtension(e.Data); err == nil {
					e.Data = append(e.Data, 0) // its first bytes happened to read as the length
				}
				return in.sign(in.withFirst(e), nil)
			}},
		{Name: "cmw-empty", Description: "cmw_attestation carries a zero-length cmw_data",
			Want: expat.ErrCMWMalformed, needsCMW: true, build: func(in *Input) ([]byte, error) {
				return in.sign(in.withFirst(expat.Extension{Type: in.cmwCode(), Data: []byte{0, 0}}), nil)
			}},
		{Name: "empty-certificate-list", Description: "a Certificate with no entries, followed by a CertificateVerify and Finished",
			Want: expat.ErrEmptyCertificate, build: func(in *Input) ([]byte, error) {
				return in.sign(nil, nil)
			}},
		{Name: "not-x509", Description: "the first cert_data is not an X.509 certificate",
			Want: expat.ErrBadCertificate, build: func(in *Input) ([]byte, error) {
				es := in.entries()
				es[0].Certificate = []byte{0x30, 0x03, 0x01, 0x02, 0x03}
				return in.sign(es, nil)
			}},
		{Name: "unsupported-scheme", Description: "CertificateVerify names rsa_pkcs1_sha256 (0x0401), which TLS 1.3 forbids there",
			Want: expat.ErrUnsupportedScheme, build: func(in *Input) ([]byte, error) {
				cert, err := Certificate(in.Request.Context, in.entries()...)
				if err != nil {
					return nil, err
				}
				return Assemble(in.Channel, in.Sender, in.Request, cert, nil, 0x0401, nil)
			}},
		{Name: "certificate-verify-trailing-data", Description: "a byte after the signature inside CertificateVerify",
			Want: expat.ErrTrailingData, build: func(in *Input) ([]byte, error) {
				return in.sign(in.entries(), &Options{CertificateVerifyTail: []byte{0}})
			}},
		{Name: "trailing-data", Description: "a byte after the Finished",
			Want: expat.ErrTrailingData, build: func(in *Input) ([]byte, error) {
				a, err := in.sign(in.entries(), nil)
				return append(a, 0), err
			}},
		{Name: "wrong-order", Description: "CertificateVerify before Certificate",
			Want: expat.ErrUnexpectedMessage, build: func(in *Input) ([]byte, error) {
				p, err := in.parts(in.Request.Context, in.entries(), nil)
				return Parts{Certificate: p.CertificateVerify, CertificateVerify: p.Certificate, Finished: p.Finished}.Bytes(), err
			}},
		{Name: "missing-certificate-verify", Description: "Certificate followed directly by Finished",
			Want: expat.ErrUnexpectedMessage, build: func(in *Input) ([]byte, error) {
				p, err := in.parts(in.Request.Context, in.entries(), nil)
				return Parts{Certificate: p.Certificate, Finished: p.Finished}.Bytes(), err
			}},
		{Name: "empty-authenticator", Description: "a valid empty authenticator (a refusal) where an identity and attestation were asked for",
			Want: expat.ErrEmptyAuthenticator, build: func(in *Input) ([]byte, error) {
				return expat.AuthenticateEmpty(in.Channel, in.Sender, in.Request)
			}},
	}
}
