package tlsbind

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
)

// Profile holds the attestation settings both peers must agree on out of band
// (the draft defines no negotiation): the binder label and the
// cmw_attestation codepoint.
type Profile struct {
	Label   string // binder exporter label; "" = DefaultLabel
	CMWType uint16 // cmw_attestation codepoint; 0 = expat.DefaultCMWExtensionType
}

func (p Profile) label() string {
	if p.Label == "" {
		return DefaultLabel
	}
	return p.Label
}

// PassportSource obtains an Attestation Result (EAR JWT) for the prover's
// evidence from a Verifier, with eat_nonce = the binding and akpub = the
// authenticator key (passport model, draft-fossati-seat-expat §"Passport").
type PassportSource interface {
	AttestationResult(ctx context.Context, cmw []byte, b *Binder, akpub []byte) ([]byte, error)
}

// Prover answers Authenticator Requests with attestation: a fresh
// authenticator key, evidence over the binder, and an authenticator whose
// first certificate entry carries the CMW.
type Prover struct {
	Attester evidence.Attester
	Passport PassportSource // nil: background-check model (send the evidence itself)
	Profile  Profile
}

// Proof is what Respond made.
type Proof struct {
	Authenticator []byte
	Binder        *Binder
	CMW           []byte
	Certificate   []byte // the AIK's self-issued certificate (DER)
}

// Respond answers req, received on ch, as self. The request must offer
// cmw_attestation. The authenticator key is generated here, for this request
// only, inside the attested process, and is never exported.
func (p *Prover) Respond(ctx context.Context, ch expat.Channel, self expat.Role, req *expat.Request) (*Proof, error) {
	if !req.OffersCMW(p.Profile.CMWType) {
		return nil, fail(StepRequest, CodeNotOffered, nil, "the request does not offer cmw_attestation (0x%04x); refusing to attest without it", cmwType(p.Profile.CMWType))
	}
	key, err := newAIK(req.Schemes())
	if err != nil {
		return nil, classify(StepRequest, err)
	}
	certDER, spki, err := selfIssued(key)
	if err != nil {
		return nil, classify(StepRequest, err)
	}
	b, err := ComputeBinder(ch, p.Profile.label(), req.Context, spki)
	if err != nil {
		return nil, classify(StepBinding, err)
	}
	cmw, err := p.Attester.Attest(ctx, b.ReportData)
	if err != nil {
		return nil, fail(StepEvidence, "", err, "the local attester produced no evidence")
	}
	if p.Passport != nil {
		if cmw, err = p.Passport.AttestationResult(ctx, cmw, b, spki); err != nil {
			return nil, fail(StepResult, "", err, "the passport verifier issued no attestation result")
		}
		if cmw, err = evidence.EncodeEAR(cmw); err != nil {
			return nil, classify(StepResult, err)
		}
	}
	ext, err := expat.CMWExtension(p.Profile.CMWType, cmw)
	if err != nil {
		return nil, classify(StepCMW, err)
	}
	auth, err := expat.Authenticate(ch, self, req, &expat.Identity{
		Chain: [][]byte{certDER}, Signer: key, FirstEntryExtensions: []expat.Extension{ext},
	}, &expat.AuthOptions{CMWType: p.Profile.CMWType})
	if err != nil {
		return nil, classify(StepAuthenticator, err)
	}
	return &Proof{Authenticator: auth, Binder: b, CMW: cmw, Certificate: certDER}, nil
}

func cmwType(t uint16) uint16 {
	if t == 0 {
		return expat.DefaultCMWExtensionType
	}
	return t
}

// newAIK generates a key for the first offered scheme seatrx can generate
// cheaply (Ed25519, ECDSA P-256, ECDSA P-384).
func newAIK(offered []expat.SignatureScheme) (crypto.Signer, error) {
	for _, s := range offered {
		switch s {
		case expat.Ed25519:
			_, k, err := ed25519.GenerateKey(rand.Reader)
			return k, err
		case expat.ECDSAWithP256AndSHA256:
			return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case expat.ECDSAWithP384AndSHA384:
			return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		}
	}
	return nil, fmt.Errorf("%w: no offered scheme in %v has a key type seatrx generates for an attestation key", expat.ErrNoCommonScheme, offered)
}

// selfIssued makes the AIK's certificate: self-issued, short-lived. Its
// trust comes from the evidence that binds its key, not from a CA.
func selfIssued(key crypto.Signer) (der, spki []byte, err error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "seatrx attestation key"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlsbind: AIK certificate: %w", err)
	}
	spki, err = x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("tlsbind: AIK key: %w", err)
	}
	return der, spki, nil
}
