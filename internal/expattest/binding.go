package expattest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/tlsbind"
)

// Attestation is an Input whose CMW is real evidence, bound as Profile
// derives the binder for this connection, request and key, together with
// what the binding faults need to bind it otherwise: the prover that makes
// evidence for any binder and, for the relay fault, a request the same
// relying party issued on another connection. The authenticator a binding
// fault builds is valid under RFC 9261; only the evidence inside is wrong,
// so a relying party's refusal can only come from its binding check.
type Attestation struct {
	Input
	Profile tlsbind.Profile
	Binder  *tlsbind.Binder // the honest binder of Input.CMW
	SPKI    []byte          // the attestation key's SubjectPublicKeyInfo
	Prover  *tlsbind.Prover
	Relay   *Relay // nil: the relay fault cannot be built
}

// Relay is a request the relying party issued on another connection: that
// connection's exporter and the request's context.
type Relay struct {
	Channel expat.Channel
	Context []byte
}

// NewAttestation prepares the honest attestation that sender gives on ch
// in answer to req in profile prof: a fresh attestation key for the first
// offered scheme it can generate, evidence from p over the binder, and the
// cmw_data prof puts around it.
func NewAttestation(ctx context.Context, ch expat.Channel, sender expat.Role, req *expat.Request, prof tlsbind.Profile, p *tlsbind.Prover) (*Attestation, error) {
	key, err := tlsbind.NewAttestationKey(req.Schemes())
	if err != nil {
		return nil, fmt.Errorf("expattest: %w", err)
	}
	scheme, err := schemeOf(key.Signer)
	if err != nil {
		return nil, err
	}
	b, err := prof.Binder(ch, req.Context, key.SPKI)
	if err != nil {
		return nil, fmt.Errorf("expattest: %w", err)
	}
	_, data, err := p.Evidence(ctx, b, key.SPKI)
	if err != nil {
		return nil, fmt.Errorf("expattest: %w", err)
	}
	return &Attestation{
		Input: Input{Channel: ch, Sender: sender, Request: req, Chain: [][]byte{key.Certificate}, Key: key.Signer,
			Scheme: scheme, CMW: data, CMWType: prof.CMWType},
		Profile: prof, Binder: b, SPKI: key.SPKI, Prover: p,
	}, nil
}

// schemeOf is the scheme NewAttestationKey's key signs with.
func schemeOf(k crypto.Signer) (expat.SignatureScheme, error) {
	switch pub := k.Public().(type) {
	case ed25519.PublicKey:
		return expat.Ed25519, nil
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256():
			return expat.ECDSAWithP256AndSHA256, nil
		case elliptic.P384():
			return expat.ECDSAWithP384AndSHA384, nil
		}
	}
	return 0, fmt.Errorf("expattest: no scheme for a %T attestation key", k.Public())
}

// BindingFault is one way to bind the evidence wrongly, or to leave it
// out, in an otherwise valid authenticator.
type BindingFault struct {
	Name        string // kebab-case, stable
	Description string
	Rule        string // the rule a relying party enforces, with its source
	// Want is the wire code seatrx's relying party gives in profile p on a
	// suite with hash h; "" means p cannot see the fault (rust-ref binds no
	// key): the authenticator is accepted there, so the case does not
	// apply.
	Want  func(p tlsbind.Profile, h crypto.Hash) string
	build func(ctx context.Context, a *Attestation) ([]byte, error)
}

// Build makes a's authenticator with the fault.
func (f BindingFault) Build(ctx context.Context, a *Attestation) ([]byte, error) {
	if a == nil || a.Prover == nil {
		return nil, fmt.Errorf("expattest: fault %s needs an Attestation with a Prover", f.Name)
	}
	out, err := f.build(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("expattest: fault %s: %w", f.Name, err)
	}
	return out, nil
}

// ErrNoRelay is returned by the relay fault for an Attestation without Relay.
var ErrNoRelay = errors.New("no other connection to relay from (Attestation.Relay)")

// rebind answers with evidence made for binder b (by a's prover), in b's
// profile's container, at a's codepoint.
func (a *Attestation) rebind(ctx context.Context, b *tlsbind.Binder, spki []byte) ([]byte, error) {
	_, data, err := a.Prover.Evidence(ctx, b, spki)
	if err != nil {
		return nil, err
	}
	in := a.Input
	in.CMW = data
	return in.Authenticator()
}

// relayWant is the code for evidence whose key (aik_pub_hash) is this
// authenticator's but whose binding is another connection's or context's.
func relayWant(p tlsbind.Profile, h crypto.Hash) string {
	if p.Layout == tlsbind.LayoutSeatrx && h != crypto.SHA256 {
		return "attest.binding_report_data" // SHA-512(binding || aik_pub_hash) hides which part
	}
	return "attest.binding_connection" // cocos: read from the payload binder that agrees with the evidence
}

// BindingFaults returns the catalogue, in a stable order.
func BindingFaults() []BindingFault {
	return []BindingFault{
		{Name: "evidence-relayed", Description: "evidence made for this key on another connection to the same relying party (a relay): the binder of the other connection's request",
			Rule: "draft-fossati-seat-expat-04 §5.1: the relying party recomputes binding from its own connection's exporter and the request it sent",
			Want: relayWant,
			build: func(ctx context.Context, a *Attestation) ([]byte, error) {
				if a.Relay == nil {
					return nil, ErrNoRelay
				}
				b, err := a.Profile.Binder(a.Relay.Channel, a.Relay.Context, a.SPKI)
				if err != nil {
					return nil, err
				}
				return a.rebind(ctx, b, a.SPKI)
			}},
		{Name: "evidence-other-context", Description: "evidence made for this key on this connection for a request context the relying party did not send (a replayed or precomputed binder)",
			Rule: "draft-fossati-seat-expat-04 §5.1, RFC 9261 §4: the binder's exporter context is the certificate_request_context of the request answered",
			Want: relayWant,
			build: func(ctx context.Context, a *Attestation) ([]byte, error) {
				other := make([]byte, 32)
				if _, err := rand.Read(other); err != nil {
					return nil, err
				}
				b, err := a.Profile.Binder(a.Channel, other, a.SPKI)
				if err != nil {
					return nil, err
				}
				return a.rebind(ctx, b, a.SPKI)
			}},
		{Name: "evidence-other-key", Description: "evidence made on this connection for this request, but for another key than the authenticator's (its REPORTDATA names that key)",
			Rule: "draft-fossati-seat-expat-04 §5.2: the evidence carries AIK_pub_hash, which the relying party recomputes from the end-entity certificate",
			Want: func(p tlsbind.Profile, h crypto.Hash) string {
				switch {
				case p.Layout == tlsbind.LayoutExported:
					return "" // binds no key
				case p.Layout == tlsbind.LayoutSeatrx && h != crypto.SHA256:
					return "attest.binding_report_data"
				}
				return "attest.binding_key"
			},
			build: func(ctx context.Context, a *Attestation) ([]byte, error) {
				other, err := tlsbind.NewAttestationKey([]expat.SignatureScheme{expat.ECDSAWithP256AndSHA256})
				if err != nil {
					return nil, err
				}
				b, err := a.Profile.Binder(a.Channel, a.Request.Context, other.SPKI)
				if err != nil {
					return nil, err
				}
				return a.rebind(ctx, b, other.SPKI)
			}},
		{Name: "evidence-other-label", Description: "evidence bound with another exporter label than the profile's (-03's Attestation for -04 and back; the Rust code's label for rust-ref), everything else as the profile says",
			Rule: "draft-fossati-seat-expat-04 §5.1: exported = TLS-Exporter(\"EXPORTER-cmw-attestation\", certificate_request_context, 32) (-03: \"Attestation\"); a label is a profile",
			Want: func(p tlsbind.Profile, _ crypto.Hash) string {
				if p.Container == tlsbind.ContainerCocos {
					// No known profile pairs cocos's layout with another
					// label; its payload binder says "this key, another
					// binding".
					return "attest.binding_connection"
				}
				return "attest.profile_mismatch"
			},
			build: func(ctx context.Context, a *Attestation) ([]byte, error) {
				q := a.Profile
				q.Label = otherLabel(q)
				b, err := q.Binder(a.Channel, a.Request.Context, a.SPKI)
				if err != nil {
					return nil, err
				}
				return a.rebind(ctx, b, a.SPKI)
			}},
		{Name: "wrong-container", Description: "cmw_data in another known profile's container (cocos's JSON payload for the CMW profiles, a CMW otherwise), bound as that profile says, at this profile's codepoint",
			Rule: "interop profile (docs/PROTOCOL.md §2): cmw_data holds what the agreed profile says; another profile's container is a profile mismatch",
			Want: func(tlsbind.Profile, crypto.Hash) string { return "attest.profile_mismatch" },
			build: func(ctx context.Context, a *Attestation) ([]byte, error) {
				id := tlsbind.ProfileCocos
				if a.Profile.Container != tlsbind.ContainerCMW {
					id = tlsbind.ProfileExpat04
				}
				q, _ := tlsbind.LookupProfile(id)
				q.CMWType = a.Profile.CMWType
				b, err := q.Binder(a.Channel, a.Request.Context, a.SPKI)
				if err != nil {
					return nil, err
				}
				return a.rebind(ctx, b, a.SPKI)
			}},
		{Name: "no-attestation", Description: "a valid authenticator without cmw_attestation, although the request offered it and the relying party requires attestation",
			Rule: "draft-fossati-seat-expat-04 §3.1: the requester offered cmw_attestation to receive attestation; a relying party that requires it refuses an authenticator without it",
			Want: func(tlsbind.Profile, crypto.Hash) string { return "attest.no_attestation" },
			build: func(_ context.Context, a *Attestation) ([]byte, error) {
				in := a.Input
				in.CMW = nil
				return in.Authenticator()
			}},
	}
}

// otherLabel is the label a peer confused about p's would use.
func otherLabel(p tlsbind.Profile) string {
	switch p.Label {
	case tlsbind.LabelExpat04:
		return tlsbind.LabelExpat03
	case tlsbind.LabelRustRef:
		return tlsbind.LabelRustRefCode
	}
	return tlsbind.LabelExpat04
}
