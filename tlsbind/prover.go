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
	"slices"
	"strings"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
)

// PassportSource obtains an Attestation Result (EAR JWT) for the prover's
// evidence from a Verifier, with eat_nonce = the binding and akpub = the
// authenticator key (passport model, draft-fossati-seat-expat §"Passport").
type PassportSource interface {
	AttestationResult(ctx context.Context, cmw []byte, b *Binder, akpub []byte) ([]byte, error)
}

// Prover answers Authenticator Requests with attestation: an authenticator
// key (fresh per request by default), evidence over the binder, and an
// authenticator whose first certificate entry carries it in cmw_data. It
// holds no profile: each Respond says which one to attest in.
type Prover struct {
	Attester evidence.Attester
	Passport PassportSource // nil: background-check model (send the evidence itself)
	// Key, if set, is a long-lived workload key used as the authenticator
	// key of every request, instead of a fresh one: the evidence's
	// aik_pub_hash then vouches for it, so a credential issued for it
	// (POST /v1/credentials) names a key that outlives the connection. It
	// must be generated and kept inside the TEE. nil (the default for
	// receipts) generates a key per request that is never stored.
	Key crypto.Signer
}

// Proof is what Respond made. Binder.Profile is the profile it was made in.
type Proof struct {
	Authenticator []byte
	Binder        *Binder
	CMW           []byte // seatrx's own CMW, before the profile's container
	CMWData       []byte // what went into cmw_data
	Certificate   []byte // the AIK's self-issued certificate (DER)
}

// Respond answers req, received on ch, as self, in profile prof. The request
// must offer prof's cmw_attestation codepoint; one that offers only another
// known profile's is a profile mismatch. The authenticator key is p.Key, or
// else generated here, for this request only, inside the attested process,
// and never exported.
func (p *Prover) Respond(ctx context.Context, ch expat.Channel, self expat.Role, req *expat.Request, prof Profile) (*Proof, error) {
	if err := prof.Validate(); err != nil {
		return nil, fail(StepRequest, CodeProfileUnsupported, err, "")
	}
	if !req.OffersCMW(prof.CMWType) {
		return nil, notOffered(req, prof)
	}
	key, err := p.attestationKey(req.Schemes())
	if err != nil {
		return nil, classify(StepRequest, err)
	}
	b, err := prof.Binder(ch, req.Context, key.SPKI)
	if err != nil {
		return nil, classify(StepBinding, err)
	}
	cmw, data, err := p.Evidence(ctx, b, key.SPKI)
	if err != nil {
		return nil, err
	}
	ext, err := expat.CMWExtension(prof.CMWType, data)
	if err != nil {
		return nil, classify(StepCMW, err)
	}
	auth, err := expat.Authenticate(ch, self, req, &expat.Identity{
		Chain: [][]byte{key.Certificate}, Signer: key.Signer, FirstEntryExtensions: []expat.Extension{ext},
	}, &expat.AuthOptions{CMWType: prof.CMWType})
	if err != nil {
		return nil, classify(StepAuthenticator, err)
	}
	return &Proof{Authenticator: auth, Binder: b, CMW: cmw, CMWData: data, Certificate: key.Certificate}, nil
}

// attestationKey is the authenticator key for a request offering schemes:
// p.Key with a fresh self-issued certificate, or a fresh key.
func (p *Prover) attestationKey(offered []expat.SignatureScheme) (*AttestationKey, error) {
	if p.Key == nil {
		return NewAttestationKey(offered)
	}
	if !slices.ContainsFunc(offered, func(s expat.SignatureScheme) bool { return s.Fits(p.Key.Public()) }) {
		return nil, fmt.Errorf("%w: the workload key (%T) fits none of the offered schemes %v", expat.ErrNoCommonScheme, p.Key.Public(), offered)
	}
	der, spki, err := selfIssued(p.Key)
	if err != nil {
		return nil, err
	}
	return &AttestationKey{Signer: p.Key, Certificate: der, SPKI: spki}, nil
}

// Evidence makes the attestation for binder b and authenticator key spki:
// the local attester's evidence over b.ReportData (the passport model: the
// EAR a Verifier issued for it, as an EAR record), and what b.Profile puts
// in cmw_data for it. cmw is seatrx's own CMW, before the container.
func (p *Prover) Evidence(ctx context.Context, b *Binder, spki []byte) (cmw, cmwData []byte, err error) {
	prof := b.Profile
	if p.Passport != nil && prof.Container != ContainerCMW {
		return nil, nil, fail(StepRequest, CodeProfileUnsupported, nil, "profile %s has no passport model (its cmw_data carries platform evidence only)", prof.ID)
	}
	cmw, err = p.Attester.Attest(ctx, b.ReportData)
	if err != nil {
		return nil, nil, fail(StepEvidence, "", err, "the local attester produced no evidence")
	}
	if p.Passport != nil {
		if cmw, err = p.Passport.AttestationResult(ctx, cmw, b, spki); err != nil {
			return nil, nil, fail(StepResult, "", err, "the passport verifier issued no attestation result")
		}
		if cmw, err = evidence.EncodeEAR(cmw); err != nil {
			return nil, nil, classify(StepResult, err)
		}
	}
	data, err := prof.CMWData(cmw, b)
	if err != nil {
		return nil, nil, err
	}
	return cmw, data, nil
}

// notOffered explains a request without prof's codepoint: a profile
// mismatch when it offers another known profile's, else cmw_not_offered.
func notOffered(req *expat.Request, prof Profile) error {
	var others []string
	for _, q := range Profiles() {
		if q.CMWType != prof.CMWType && req.Offers(q.CMWType) {
			others = append(others, fmt.Sprintf("0x%04x (%s)", q.CMWType, q.ID))
		}
	}
	if len(others) > 0 {
		return fail(StepRequest, CodeProfileMismatch, nil, "the request offers cmw_attestation at %s; this attester uses profile %s (0x%04x)", strings.Join(others, ", "), prof.ID, prof.CMWType)
	}
	return fail(StepRequest, CodeNotOffered, nil, "the request does not offer cmw_attestation (0x%04x, profile %s); refusing to attest without it", prof.CMWType, prof.ID)
}

// AttestationKey is an authenticator key (the AIK) and its self-issued
// certificate. Its trust comes from the evidence that binds SPKI, never from
// a CA.
type AttestationKey struct {
	Signer      crypto.Signer
	Certificate []byte // DER, self-issued, valid for an hour
	SPKI        []byte // DER SubjectPublicKeyInfo of Signer's public key
}

// NewAttestationKey generates a key for the first offered scheme seatrx can
// generate cheaply (Ed25519, ECDSA P-256, ECDSA P-384) and self-issues its
// certificate. Without a workload key the Prover makes one per request and
// never lets it out.
func NewAttestationKey(offered []expat.SignatureScheme) (*AttestationKey, error) {
	key, err := newAIK(offered)
	if err != nil {
		return nil, err
	}
	der, spki, err := selfIssued(key)
	if err != nil {
		return nil, err
	}
	return &AttestationKey{Signer: key, Certificate: der, SPKI: spki}, nil
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
