package peersuite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/handshake"
	"github.com/seatrx/seatrx/tlsbind"
)

// problemFor is the refusal sent for an empty authenticator or an answer
// to a request that had to be refused.
func problemFor(j judged) *api.Problem {
	switch j.kind {
	case jEmpty:
		return problemOf(expat.ErrEmptyAuthenticator)
	case jBadEmpty:
		return problemOf(expat.ErrBadFinished)
	}
	return problemOf(fail(CodeAnsweredBadRequest, "this request broke a rule the attester must enforce; it had to be refused, not answered"))
}

// loneFinished reports whether auth is a single Finished message (the form
// of an empty authenticator).
func loneFinished(auth []byte) bool {
	s := cryptobyte.String(auth)
	var typ uint8
	var body cryptobyte.String
	return s.ReadUint8(&typ) && typ == handshake.TypeFinished && s.ReadUint24LengthPrefixed(&body) && s.Empty()
}

// emptyValid checks an empty authenticator against the request bytes sent
// (raw, whatever they were) and their context: HMAC(finished key,
// Hash(handshake context || request || Certificate(ctx, no entries)))
// (RFC 9261 §6).
func (r *rpRun) emptyValid(raw, ctx, auth []byte) bool {
	h, err := r.ch.Hash()
	if err != nil {
		return false
	}
	k, err := handshake.DeriveKeys(r.ch.Export, h, r.peer.String())
	if err != nil {
		return false
	}
	cert, err := handshake.Certificate(ctx, nil)
	if err != nil {
		return false
	}
	fin, err := k.Finished(raw, cert)
	return err == nil && string(fin) == string(auth)
}

// result turns a judgement into a verdict: pass if its kind is one of ok.
func result(j judged, ok ...string) Result {
	res := Result{Verdict: Fail, Observed: j.observed(), Code: j.code()}
	for _, k := range ok {
		if j.kind == k {
			res.Verdict = Pass
		}
	}
	if res.Verdict == Fail && j.err != nil {
		res.Detail = j.err.Error()
	}
	return res
}

// refusals are the reactions that pass where the attester must refuse.
var refusals = []string{jNone, jEmpty}

// unreached is the result of a scenario whose request never reached the
// attester (HTTP: it asked for no challenge).
func unreached(j judged) (Result, bool) {
	if !j.ans.delivered && (j.kind == jNone || j.kind == jOdd) {
		return Result{Verdict: Inconclusive, Observed: j.observed()}, true
	}
	return Result{}, false
}

// Scenarios returns every scenario, in the order they run.
func Scenarios() []Scenario {
	one := func(mod func(r *rpRun, s reqSpec) reqSpec, mustRefuse bool, ok ...string) func(context.Context, *rpRun) Result {
		return func(ctx context.Context, r *rpRun) Result {
			j := r.exchange(ctx, mod(r, r.spec()), mustRefuse)
			if res, ok := unreached(j); ok {
				return res
			}
			return result(j, ok...)
		}
	}
	same := func(_ *rpRun, s reqSpec) reqSpec { return s }
	return []Scenario{
		{Name: "well-formed", Ref: "RFC 9261 §5; seat-expat-04 §3, §5",
			Rule:     "an attester answers a well-formed request that offers cmw_attestation with a valid authenticator whose first entry carries evidence bound to this connection, request and key",
			Expected: "a valid authenticator; its evidence verifies and carries this relying party's binder",
			run:      one(same, false, jAccepted)},
		{Name: "binder-label", Ref: "seat-expat-04 §5.1, §5.2",
			Rule:     "REPORTDATA is the binder derived with the profile's exporter label (-04: EXPORTER-cmw-attestation) from the connection's exporter, the request's context and the authenticator key",
			Expected: "REPORTDATA equal to this relying party's derivation; judged on REPORTDATA alone (evidence unverified), so it runs even where the evidence's roots are not trusted here, and names a wrong label or layout",
			run:      func(ctx context.Context, r *rpRun) Result { return r.binderLabel(ctx) }},
		{Name: "cmw-not-offered", Ref: "seat-expat-04 §3.1; RFC 9261 §5.2.1",
			Rule:     "cmw_attestation only in answer to an offer: a Certificate carrying an extension the request did not offer is refused (unsupported_extension)",
			Expected: "no cmw_attestation: a refusal, an empty authenticator, or a valid authenticator without it",
			run:      one(func(r *rpRun, s reqSpec) reqSpec { return s.without(r.prof.CMWType) }, false, jNone, jEmpty, jNoCMW)},
		{Name: "cmw-offer-duplicated", Ref: "RFC 8446 §4.2", Rule: "no two extensions of one type in a block; a receiver aborts (decode_error)",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(r *rpRun, s reqSpec) reqSpec {
				s.exts = append(s.exts, expat.Extension{Type: r.prof.CMWType})
				return s
			}, true, refusals...)},
		{Name: "cmw-offer-not-empty", Ref: "seat-expat-04 §3.1", Rule: "the cmw_attestation offer in a request has empty extension_data",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(r *rpRun, s reqSpec) reqSpec {
				s = s.without(r.prof.CMWType)
				s.exts = append(s.exts, expat.Extension{Type: r.prof.CMWType, Data: []byte{0x00, 0x01, 0xa0}})
				return s
			}, true, refusals...)},
		{Name: "wrong-direction", Ref: "RFC 9261 §4", Rule: "a server sends CertificateRequest (13), a client ClientCertificateRequest (17); the other type is refused",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s.typ = handshake.TypeCertificateRequest + handshake.TypeClientCertificateRequest - s.typ
				return s
			}, true, refusals...)},
		{Name: "not-a-request", Ref: "RFC 9261 §4", Rule: "an authenticator request is a CertificateRequest or ClientCertificateRequest; another handshake message (here a Certificate, type 11) is refused",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s.typ = handshake.TypeCertificate
				return s
			}, true, refusals...)},
		{Name: "no-signature-algorithms", Ref: "RFC 9261 §4; RFC 8446 §4.3.2", Rule: "a request MUST carry signature_algorithms",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run:      one(func(_ *rpRun, s reqSpec) reqSpec { return s.without(expat.ExtSignatureAlgorithms) }, true, refusals...)},
		{Name: "no-usable-scheme", Ref: "RFC 9261 §5.2.2, §6",
			Rule:     "CertificateVerify uses an offered scheme valid in TLS 1.3; offered only rsa_pkcs1_sha256 and rsa_pkcs1_sha1, none is: no authenticator can be made, an empty one may be sent",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s = s.without(expat.ExtSignatureAlgorithms)
				s.exts = append([]expat.Extension{sigAlgs(0x0401, 0x0201)}, s.exts...)
				return s
			}, false, refusals...)},
		{Name: "forbidden-extension", Ref: "RFC 8446 §4.2", Rule: "an extension recognised but not allowed in a CertificateRequest (key_share, 51) is refused (illegal_parameter)",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s.exts = append(s.exts, expat.Extension{Type: 51, Data: []byte{0, 0}})
				return s
			}, true, refusals...)},
		{Name: "unknown-extension", Ref: "RFC 8446 §4.2; RFC 8701", Rule: "unknown extensions in a request are ignored (here GREASE 0x7a7a)",
			Expected: "the same answer as to a well-formed request: a valid, attested, bound authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s.exts = append(s.exts, expat.Extension{Type: 0x7a7a, Data: []byte("grease")})
				return s
			}, false, jAccepted)},
		{Name: "trailing-data", Ref: "RFC 8446 §6.2; RFC 9261 §4", Rule: "a byte after the request message is a decode error",
			Expected: "a refusal or an empty authenticator; never an authenticator",
			run: one(func(_ *rpRun, s reqSpec) reqSpec {
				s.tail = []byte{0}
				return s
			}, true, refusals...)},
		{Name: "context-reuse", Ref: "RFC 9261 §4",
			Rule:     "a certificate_request_context is unique per connection in both directions: a second request with an answered context is not answered again",
			Expected: "the first request answered (accepted); the same request again refused, or an empty authenticator",
			run: func(ctx context.Context, r *rpRun) Result {
				s := r.spec()
				return r.twice(ctx, s, s, true, "same context", refusals...)
			}},
		{Name: "re-attestation", Ref: "seat-expat-04 §7.4",
			Rule:     "re-attestation is a new exchange with a new context: an answer carries evidence bound to the new request, never the earlier evidence",
			Expected: "the second request answered with evidence bound to it, or declined (re-attestation is optional); never a stale or wrongly bound authenticator",
			run: func(ctx context.Context, r *rpRun) Result {
				return r.twice(ctx, r.spec(), r.spec(), false, "new context", jAccepted, jNone, jEmpty)
			}},
	}
}

// twice runs two exchanges on the connection: the first must be accepted
// for the second, the one judged, to mean anything.
func (r *rpRun) twice(ctx context.Context, first, second reqSpec, mustRefuse bool, what string, ok ...string) Result {
	j1 := r.exchange(ctx, first, false)
	if j1.kind != jAccepted {
		return Result{Verdict: Inconclusive, Observed: "first request: " + j1.observed(), Detail: "the scenario needs the first request accepted"}
	}
	j := r.exchange(ctx, second, mustRefuse)
	if !j.ans.delivered {
		return Result{Verdict: Inconclusive, Observed: "second request: " + j.observed(),
			Detail: "the attester asked for no second challenge (HTTP: re-attest on the same connection to run this scenario)"}
	}
	res := result(j, ok...)
	res.Observed = "first accepted; second (" + what + "): " + res.Observed
	return res
}

// binderLabel judges the binder alone, from the evidence's unverified
// REPORTDATA, after the full check has given the attester its verdict.
func (r *rpRun) binderLabel(ctx context.Context) Result {
	j := r.exchange(ctx, r.spec(), false)
	if res, ok := unreached(j); ok {
		return res
	}
	res := Result{Verdict: Fail, Observed: j.observed(), Code: j.code()}
	if j.req == nil || j.ans.kind != ansAuthenticator || j.kind == jEmpty || j.kind == jBadEmpty {
		res.Detail = "no evidence to judge"
		return res
	}
	a, err := expat.Validate(r.ch, r.peer, j.req, j.ans.auth, &expat.ValidateOptions{CMWType: r.prof.CMWType})
	if err != nil {
		res.Code, res.Detail = problemCode(err), "no binder to judge: "+err.Error()
		return res
	}
	if a.CMW == nil {
		res.Detail = "no cmw_attestation, so no binder to judge"
		return res
	}
	car, err := r.prof.OpenCMWData(a.CMW)
	if err != nil {
		res.Code, res.Detail = problemCode(err), "cmw_data does not open as profile "+r.prof.ID+" says: "+err.Error()
		return res
	}
	if car.Evidence.Kind != evidence.KindEvidence {
		return Result{Verdict: Skip, Observed: "an attestation result (passport model): its nonce is judged by well-formed, not here"}
	}
	rd, err := car.Evidence.UnverifiedReportData()
	if err != nil {
		res.Code, res.Detail = problemCode(err), err.Error()
		return res
	}
	spki := a.Chain[0].RawSubjectPublicKeyInfo
	if _, err := tlsbind.CheckReportData(r.ch, j.req.Context, spki, rd, []tlsbind.Profile{r.prof}); err != nil {
		res.Code, res.Observed, res.Detail = problemCode(err), "REPORTDATA is not this connection's binder in profile "+r.prof.ID, err.Error()
		var te *tlsbind.Error
		if errors.As(err, &te) {
			res.Detail = te.Detail
		}
		return res
	}
	return Result{Verdict: Pass, Observed: fmt.Sprintf("REPORTDATA is the binder with label %q (%s layout), as profile %s derives it", r.prof.Label, r.prof.Layout, r.prof.ID)}
}

// scenarioNames lists names, for messages.
func scenarioNames(ss []Scenario) string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return strings.Join(n, ", ")
}
