package tlsbind

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/check"
	"github.com/seatrx/seatrx/evidence/cocos"
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
// Verifier), and checks that either is bound to this connection and key as
// one of the accepted profiles derives the binder. It holds no profile: the
// connection's Session says which profiles it accepts.
type Checker struct {
	Verifier *evidence.Verifier // nil refuses evidence
	Issuer   *ear.Issuer        // signs EARs for background-check results
	Passport *PassportPolicy    // nil refuses attestation results
	Now      func() time.Time   // nil = time.Now
}

// Result is a successful attestation of the peer. Binder.Profile is the
// profile it was made in.
type Result struct {
	Model         string
	Context       []byte // the request's certificate_request_context
	Binder        *Binder
	AIK           []byte // DER SubjectPublicKeyInfo of the authenticator key
	Authenticator *expat.Authenticator
	CMW           []byte // cmw_data as received
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

// Check runs every step for an authenticator made by peer in answer to req,
// accepting the profiles in accept (nil: the default profile). Which
// accepted profile the peer used is read from the authenticator: the
// codepoint of its cmw_attestation, the container that parses, and among
// profiles that differ only in their binder, the one whose REPORTDATA the
// evidence carries. That choice only says what to check: the evidence must
// then verify with exactly that REPORTDATA.
func (c *Checker) Check(ctx context.Context, ch expat.Channel, peer expat.Role, req *expat.Request, auth []byte, accept []Profile) (*Result, error) {
	if len(accept) == 0 {
		accept = []Profile{DefaultProfile()}
	}
	a, cands, err := validateAny(ch, peer, req, auth, accept)
	if err != nil {
		return nil, err
	}
	spki := a.Chain[0].RawSubjectPublicKeyInfo
	prof, car, alts, err := choose(ch, req.Context, spki, a.CMW, cands, accept)
	if err != nil {
		return nil, err
	}
	b, err := prof.Binder(ch, req.Context, spki)
	if err != nil {
		return nil, classify(StepBinding, err)
	}
	now := c.now()
	res := &Result{Context: req.Context, Binder: b, AIK: spki, Authenticator: a, CMW: a.CMW, At: now}
	switch car.Evidence.Kind {
	case evidence.KindEvidence:
		if c.Verifier == nil || c.Issuer == nil {
			return nil, fail(StepCMW, CodeModelNotAllowed, nil, "this relying party does not verify evidence (background-check model disabled)")
		}
		res.Model = ModelBackgroundCheck
		// The container was decoded once, above, whatever it is (a CMW
		// included), and the evidence digest is canonical: the same report
		// or quote has the same digest in every container.
		app, err := c.Verifier.VerifyRaw(ctx, car.Evidence, evidence.VerifyOptions{Now: now, ReportData: b.ReportData})
		if err != nil {
			return nil, bindingOrEvidence(err, ch, req.Context, spki, car, b, accept)
		}
		if car.Cocos != nil {
			if err := checkCocosBinder(car.Cocos, b); err != nil {
				return nil, classify(StepBinding, err)
			}
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
		// An EAR's nonce is the binding: which of the profiles that share
		// this container the peer used shows only in the verified nonce.
		for i, p := range append([]Profile{prof}, alts...) {
			if i > 0 {
				if b, err = p.Binder(ch, req.Context, spki); err != nil {
					return nil, classify(StepBinding, err)
				}
			}
			var claims *ear.Claims
			claims, err = ear.Verify(car.Evidence.EAR, ear.VerifyOptions{
				Trusted: c.Passport.Trusted, ExpectedNonce: b.Binding, ExpectedAKPub: spki, Now: now,
				MaxAge: c.Passport.MaxAge, AcceptedStatuses: c.Passport.AcceptedStatuses,
			})
			if err == nil {
				res.Binder, res.EAR, res.Claims = b, car.Evidence.EAR, claims
				break
			}
			if !isNonceError(err) {
				break
			}
		}
		if err != nil {
			step := StepResult
			if isNonceError(err) {
				step = StepBinding
			}
			return nil, classify(step, err)
		}
		if res.EvidenceDigest, err = evidence.EvidenceDigest(car.Evidence); err != nil {
			return nil, classify(StepCMW, err)
		}
	default:
		return nil, fail(StepCMW, CodeNoAttestation, nil, "CMW kind %q", car.Evidence.Kind)
	}
	return res, nil
}

func isNonceError(err error) bool {
	ce := (*check.Error)(nil)
	return errors.As(err, &ce) && ce.Platform == check.EAR && ce.Check == check.Nonce
}

// validateAny validates the authenticator (RFC 9261) once per distinct
// cmw_attestation codepoint of the accepted profiles until one finds the
// extension in the first entry, and returns the profiles of that codepoint.
func validateAny(ch expat.Channel, peer expat.Role, req *expat.Request, auth []byte, accept []Profile) (*expat.Authenticator, []Profile, error) {
	for _, t := range codepoints(accept) {
		a, err := expat.Validate(ch, peer, req, auth, &expat.ValidateOptions{CMWType: t})
		if err != nil {
			return nil, nil, classify(StepAuthenticator, err)
		}
		if a.CMW != nil {
			var cands []Profile
			for _, p := range accept {
				if p.CMWType == t {
					cands = append(cands, p)
				}
			}
			return a, cands, nil
		}
	}
	return nil, nil, fail(StepCMW, CodeNoAttestation, nil, "the authenticator's first certificate entry carries no cmw_attestation (codepoints %s)", hexList(codepoints(accept)))
}

// codepoints returns the distinct cmw_attestation codepoints of ps, in order.
func codepoints(ps []Profile) []uint16 {
	var out []uint16
	for _, p := range ps {
		if !slices.Contains(out, p.CMWType) {
			out = append(out, p.CMWType)
		}
	}
	return out
}

func hexList(ts []uint16) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = fmt.Sprintf("0x%04x", t)
	}
	return strings.Join(s, ", ")
}

// choose picks, among the candidate profiles (same codepoint), the one whose
// container reads cmw_data and, among those, the one whose binder gives the
// REPORTDATA the evidence carries (unverified: verification then checks it);
// alts are the other candidates with that container, in order. cmw_data no
// accepted container reads, but another known profile's does, is named as a
// profile mismatch.
func choose(ch expat.Channel, crc, spki, data []byte, cands, accept []Profile) (prof Profile, car *Carried, alts []Profile, err error) {
	var first error
	tried := map[Container]bool{}
	for _, p := range cands {
		if tried[p.Container] {
			continue
		}
		tried[p.Container] = true
		car, err := p.OpenCMWData(data)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		var same []Profile
		for _, q := range cands {
			if q.Container == p.Container {
				same = append(same, q)
			}
		}
		if len(same) > 1 && car.Evidence.Kind == evidence.KindEvidence {
			if got, err := car.Evidence.UnverifiedReportData(); err == nil {
				for i, q := range same {
					if b, err := q.Binder(ch, crc, spki); err == nil && b.Compare(got) == MismatchNone {
						return q, car, slices.Delete(slices.Clone(same), i, i+1), nil
					}
				}
			}
		}
		return same[0], car, same[1:], nil
	}
	for _, q := range Profiles() {
		if tried[q.Container] {
			continue
		}
		tried[q.Container] = true
		if _, err := q.OpenCMWData(data); err == nil {
			var users []string
			for _, r := range Profiles() {
				if r.Container == q.Container {
					users = append(users, r.ID)
				}
			}
			return Profile{}, nil, nil, fail(StepCMW, CodeProfileMismatch, first,
				"the peer's cmw_data is %v, as profile %s sends it; this relying party accepts %s", q.Container, strings.Join(users, " or "), strings.Join(ProfileIDs(accept), ", "))
		}
	}
	return Profile{}, nil, nil, classify(StepCMW, first)
}

// bindingOrEvidence turns a REPORTDATA failure into a binding error that says
// why it differs (attribute); other failures keep their evidence code.
func bindingOrEvidence(err error, ch expat.Channel, crc, spki []byte, car *Carried, b *Binder, accept []Profile) error {
	if ce := (*check.Error)(nil); !errors.As(err, &ce) || ce.Check != check.ReportData {
		return classify(StepEvidence, err)
	}
	got, rerr := car.Evidence.UnverifiedReportData()
	if rerr != nil {
		return classify(StepBinding, err)
	}
	return attribute(err, ch, crc, spki, got, b, accept, car.Cocos)
}

// attribute explains why got, a REPORTDATA that is not b's, differs, as far
// as the data allows: another known profile's derivation on this connection
// and key (profile mismatch); then, for the cocos container, the payload's
// own binder when it agrees with got; then which part of b's layout differs.
// Wherever the data carries an aik_pub_hash it is looked at first (the
// draft, -04 §5.2, requires it in the evidence): another key's hash means
// evidence made for another key; this key's hash with another binding means
// another connection, context or label (relay or replay). got is read from
// evidence that did not verify: this names the refusal, it never accepts.
// cause is the evidence layer's report_data failure, if any.
func attribute(cause error, ch expat.Channel, crc, spki []byte, got [64]byte, b *Binder, accept []Profile, pl *cocos.Payload) *Error {
	if q, ok := Diagnose(ch, crc, spki, got, b.Profile); ok {
		return fail(StepBinding, CodeProfileMismatch, cause, "the evidence is bound to this connection and key as profile %s derives it; this relying party checked %s and accepts %s",
			q.Describe(), b.Profile.ID, strings.Join(ProfileIDs(accept), ", "))
	}
	if pl != nil && sha512.Sum512(pl.Binder.Binding) == got {
		// The evidence agrees with the payload's (unsigned) binder: believe it
		// enough to say which binding the peer's evidence carries. (Its
		// binding differs from ours, or REPORTDATA would match.)
		if !bytes.Equal(pl.Binder.AIKPubHash, b.AIKPubHash) {
			return fail(StepBinding, CodeBindingKey, cause, "the evidence and its payload binder carry binding %x for aik_pub_hash %x; this authenticator key's hash is %x: evidence made for another authenticator key",
				pl.Binder.Binding, pl.Binder.AIKPubHash, b.AIKPubHash)
		}
		return fail(StepBinding, CodeBindingConnection, cause, "the evidence and its payload binder carry this key's aik_pub_hash but binding %x, expected %x: evidence made for another connection, request context or label (relay or replay)",
			pl.Binder.Binding, b.Binding)
	}
	switch b.Compare(got) {
	case MismatchAIKPubHash:
		n := len(b.Binding)
		return fail(StepBinding, CodeBindingKey, cause, "REPORTDATA aik_pub_hash %x, expected %x: evidence made for another authenticator key", got[n:2*n], b.AIKPubHash)
	case MismatchBinding:
		n := min(len(b.Binding), len(got))
		if b.AIKPubHash == nil {
			return fail(StepBinding, CodeBindingConnection, cause, "REPORTDATA binding %x, expected %x: evidence made for another connection, request context or binder label (relay or replay)", got[:n], b.Binding)
		}
		return fail(StepBinding, CodeBindingConnection, cause, "REPORTDATA carries this key's aik_pub_hash but binding %x, expected %x: evidence made for another connection, request context or binder label (relay or replay)", got[:n], b.Binding)
	default:
		return fail(StepBinding, CodeBindingUnattributed, cause, "REPORTDATA does not match this connection's binder (%s: a hashed layout cannot say which part differs)", b.Profile.Layout)
	}
}

// CheckReportData is the binding check alone, on a REPORTDATA someone
// claims (conformance vectors; a tester's tool): it returns the accepted
// profile (nil: the default) whose binder for context crc and key spki on
// ch is got, or the refusal Checker.Check would give for evidence carrying
// got (profile mismatch, binding_connection, binding_key,
// binding_report_data). It verifies no evidence.
func CheckReportData(ch expat.Channel, crc, spki []byte, got [64]byte, accept []Profile) (Profile, error) {
	if len(accept) == 0 {
		accept = []Profile{DefaultProfile()}
	}
	var first *Binder
	for _, p := range accept {
		b, err := p.Binder(ch, crc, spki)
		if err != nil {
			return Profile{}, classify(StepBinding, err)
		}
		if b.Compare(got) == MismatchNone {
			return p, nil
		}
		if first == nil {
			first = b
		}
	}
	return Profile{}, attribute(nil, ch, crc, spki, got, first, accept, nil)
}

// checkCocosBinder compares the cocos payload's unsigned binder with ours,
// after the signed REPORTDATA matched: a payload that disagrees with its own
// evidence is malformed (cocos.format), whatever the evidence says.
func checkCocosBinder(pl *cocos.Payload, b *Binder) error {
	if err := pl.CheckLabel(b.Profile.Label); err != nil {
		return err
	}
	if !bytes.Equal(pl.Binder.Binding, b.Binding) {
		return &check.Error{Platform: check.Cocos, Check: check.Format, Field: "binder.binding",
			Detail: fmt.Sprintf("%x is not this connection's binding %x, although the signed REPORTDATA is", pl.Binder.Binding, b.Binding)}
	}
	if !bytes.Equal(pl.Binder.AIKPubHash, b.AIKPubHash) {
		return &check.Error{Platform: check.Cocos, Check: check.Format, Field: "binder.aik_pub_hash",
			Detail: fmt.Sprintf("%x is not the authenticator key's hash %x", pl.Binder.AIKPubHash, b.AIKPubHash)}
	}
	return nil
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
