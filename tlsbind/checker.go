package tlsbind

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/expat"
)

// Attestation models (RFC 9334 §5).
const (
	ModelBackgroundCheck = "background-check"
	ModelPassport        = "passport"
)

// PassportPolicy says which external Verifiers' results are accepted.
type PassportPolicy struct {
	Trusted          []ear.TrustedVerifier
	AcceptedStatuses []string      // default: affirming only
	MaxAge           time.Duration // default: ear.DefaultMaxAge
}

// Checker is the relying party's side: it validates a peer's authenticator,
// then its evidence (background check: verified and appraised here, an EAR
// issued) or its attestation result (passport: an EAR from a trusted
// Verifier), and checks that either is bound to this connection and key.
type Checker struct {
	Verifier *evidence.Verifier // nil refuses evidence
	Issuer   *ear.Issuer        // signs EARs for background-check results
	Passport *PassportPolicy    // nil refuses attestation results
	Profile  Profile
	Now      func() time.Time // nil = time.Now
}

// Result is a successful attestation of the peer.
type Result struct {
	Model         string
	Context       []byte // the request's certificate_request_context
	Binder        *Binder
	AIK           []byte // DER SubjectPublicKeyInfo of the authenticator key
	Authenticator *expat.Authenticator
	CMW           []byte
	// EvidenceDigest is evidence.EvidenceDigest of the CMW's content, for
	// both models: what a receipt records as evidence_digest.
	EvidenceDigest []byte
	Appraisal      *evidence.Appraisal // background check only
	EAR            []byte              // our EAR (background check) or the peer's (passport)
	Claims         *ear.Claims
	At             time.Time
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Check runs every step for an authenticator made by peer in answer to req.
func (c *Checker) Check(ctx context.Context, ch expat.Channel, peer expat.Role, req *expat.Request, auth []byte) (*Result, error) {
	a, err := expat.Validate(ch, peer, req, auth, &expat.ValidateOptions{CMWType: c.Profile.CMWType})
	if err != nil {
		return nil, classify(StepAuthenticator, err)
	}
	if a.CMW == nil {
		return nil, fail(StepCMW, CodeNoAttestation, nil, "the authenticator's first certificate entry carries no cmw_attestation")
	}
	spki := a.Chain[0].RawSubjectPublicKeyInfo
	b, err := ComputeBinder(ch, c.Profile.label(), req.Context, spki)
	if err != nil {
		return nil, classify(StepBinding, err)
	}
	dec, err := evidence.Decode(a.CMW)
	if err != nil {
		return nil, classify(StepCMW, err)
	}
	now := c.now()
	res := &Result{Context: req.Context, Binder: b, AIK: spki, Authenticator: a, CMW: a.CMW, At: now}
	switch dec.Kind {
	case evidence.KindEvidence:
		if c.Verifier == nil || c.Issuer == nil {
			return nil, fail(StepCMW, CodeModelNotAllowed, nil, "this relying party does not verify evidence (background-check model disabled)")
		}
		res.Model = ModelBackgroundCheck
		app, err := c.Verifier.Verify(ctx, a.CMW, evidence.VerifyOptions{Now: now, ReportData: b.ReportData})
		if err != nil {
			return nil, bindingOrEvidence(err, dec, b)
		}
		res.Appraisal, res.EvidenceDigest = app, app.EvidenceDigest
		res.Claims = claimsFor(app, b, spki, now)
		if res.EAR, err = c.Issuer.Issue(*res.Claims); err != nil {
			return nil, classify(StepResult, err)
		}
	case evidence.KindAttestationResult:
		if c.Passport == nil {
			return nil, fail(StepCMW, CodeModelNotAllowed, nil, "this relying party accepts no attestation results (passport model disabled)")
		}
		res.Model = ModelPassport
		claims, err := ear.Verify(dec.EAR, ear.VerifyOptions{
			Trusted: c.Passport.Trusted, ExpectedNonce: b.Binding, ExpectedAKPub: spki, Now: now,
			MaxAge: c.Passport.MaxAge, AcceptedStatuses: c.Passport.AcceptedStatuses,
		})
		if err != nil {
			step := StepResult
			if ce := (*check.Error)(nil); errors.As(err, &ce) && ce.Platform == check.EAR && ce.Check == check.Nonce {
				step = StepBinding
			}
			return nil, classify(step, err)
		}
		if res.EvidenceDigest, err = evidence.EvidenceDigest(dec); err != nil {
			return nil, classify(StepCMW, err)
		}
		res.EAR, res.Claims = dec.EAR, claims
	default:
		return nil, fail(StepCMW, CodeNoAttestation, nil, "CMW kind %q", dec.Kind)
	}
	return res, nil
}

// bindingOrEvidence turns a REPORTDATA failure into a binding error that says
// which part of the binder differs; other failures keep their evidence code.
func bindingOrEvidence(err error, dec *evidence.Decoded, b *Binder) error {
	if ce := (*check.Error)(nil); !errors.As(err, &ce) || ce.Check != check.ReportData {
		return classify(StepEvidence, err)
	}
	got, rerr := dec.UnverifiedReportData()
	if rerr != nil {
		return classify(StepBinding, err)
	}
	switch b.Compare(got) {
	case MismatchBinding:
		return fail(StepBinding, CodeBindingConnection, err, "REPORTDATA binding %x, expected %x: evidence made for another connection, request context or binder label (relay or replay)", got[:len(b.Binding)], b.Binding)
	case MismatchAIKPubHash:
		return fail(StepBinding, CodeBindingKey, err, "REPORTDATA aik_pub_hash %x, expected %x: evidence made for another authenticator key", got[len(b.Binding):], b.AIKPubHash)
	default:
		return fail(StepBinding, CodeBindingUnattributed, err, "REPORTDATA does not match this connection's binder")
	}
}

// claimsFor maps an appraisal to the EAR claims seatrx issues; every
// measurement the platform reports is carried, by name, as hex.
func claimsFor(app *evidence.Appraisal, b *Binder, spki []byte, now time.Time) *ear.Claims {
	m := make(map[string]string, len(app.Measurements))
	for _, v := range app.Measurements {
		m[v.Name] = hex.EncodeToString(v.Value)
	}
	return &ear.Claims{
		Submod: string(app.Platform), Status: app.Status, TrustVector: app.TrustVector,
		Nonce: b.Binding, AKPub: spki, PolicyID: app.PolicyID, PolicyDigest: app.PolicyDigest,
		TrustAnchors: []string{app.TrustAnchor}, Simulated: app.Simulated,
		EvidenceDigest: app.EvidenceDigest, Measurements: m, IssuedAt: now, NotEvaluated: app.NotEvaluated,
	}
}
