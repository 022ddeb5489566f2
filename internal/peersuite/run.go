package peersuite

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/expattest"
	"github.com/seatrx/seatrx/tlsbind"
)

// Case is one authenticator the attester gives the foreign relying party:
// the good one, which it must accept, or one wrong in one way, which it
// must refuse.
type Case struct {
	Name        string
	Ref         string // the rule's source, short
	Rule        string // the rule tested
	Description string // what the authenticator is
	Accept      bool   // the relying party must accept it
	// Want returns the codes seatrx's relying party refuses it with in
	// profile p on a suite with hash h, or nil and why the case does not
	// apply to p.
	Want  func(p tlsbind.Profile, h crypto.Hash) ([]string, string)
	relay bool // needs a second connection to the relying party
	build func(ctx context.Context, a *expattest.Attestation) ([]byte, error)
}

// refs are the short sources of expattest's faults.
var refs = map[string]string{
	"bad-signature": "RFC 9261 §5.2.2", "bad-finished": "RFC 9261 §5.2.3", "context-mismatch": "RFC 9261 §5.2.1",
	"extension-not-offered": "RFC 9261 §5.2.1; seat-expat §3.1", "cmw-not-first-entry": "seat-expat-04 §3",
	"duplicate-extension": "RFC 8446 §4.2", "cmw-single-length-prefix": "seat-expat-04 §3", "cmw-empty": "seat-expat-04 §3",
	"empty-certificate-list": "RFC 9261 §5.2.1", "not-x509": "RFC 9261 §5.2.1", "unsupported-scheme": "RFC 9261 §5.2.2",
	"certificate-verify-trailing-data": "RFC 8446 §6.2", "trailing-data": "RFC 9261 §5; RFC 8446 §6.2",
	"wrong-order": "RFC 9261 §5.2", "missing-certificate-verify": "RFC 9261 §5.2", "empty-authenticator": "RFC 9261 §6",
	"evidence-relayed": "seat-expat-04 §5.1", "evidence-other-context": "seat-expat-04 §5.1; RFC 9261 §4",
	"evidence-other-key": "seat-expat-04 §5.2", "evidence-other-label": "seat-expat-04 §5.1",
	"wrong-container": "profile (PROTOCOL §2)", "no-attestation": "seat-expat-04 §3.1",
}

// alsoWant are codes a relying party that finds the answered request by
// the authenticator's context (as seatrx's session does) gives instead.
var alsoWant = map[string][]string{"context-mismatch": {expat.ErrContextUnknown.ProblemCode()}}

// Cases returns every case, in the order they run: the good one, then
// expattest's faults (RFC 9261 and cmw_attestation message rules), then its
// binding faults (valid authenticators whose evidence is bound wrongly).
func Cases() []Case {
	out := []Case{{Name: "good", Ref: "RFC 9261 §5; seat-expat-04 §3, §5", Accept: true,
		Rule:        "a valid authenticator with cmw_attestation in its first entry, carrying evidence bound to this connection, request and key in the profile, is accepted",
		Description: "the honest attestation",
		Want:        func(tlsbind.Profile, crypto.Hash) ([]string, string) { return []string{}, "" },
		build:       func(_ context.Context, a *expattest.Attestation) ([]byte, error) { return a.Authenticator() }}}
	for _, f := range expattest.Faults() {
		want := append([]string{f.Want.ProblemCode()}, alsoWant[f.Name]...)
		out = append(out, Case{Name: f.Name, Ref: refs[f.Name], Rule: f.Want.Rule, Description: f.Description,
			Want:  func(tlsbind.Profile, crypto.Hash) ([]string, string) { return want, "" },
			build: func(_ context.Context, a *expattest.Attestation) ([]byte, error) { return f.Build(a.Input) }})
	}
	for _, f := range expattest.BindingFaults() {
		out = append(out, Case{Name: f.Name, Ref: refs[f.Name], Rule: f.Rule, Description: f.Description, relay: f.Name == "evidence-relayed",
			Want: func(p tlsbind.Profile, h crypto.Hash) ([]string, string) {
				if w := f.Want(p, h); w != "" {
					return []string{w}, ""
				}
				return nil, fmt.Sprintf("profile %s binds no key (REPORTDATA is the bare exported value), so evidence for another key on this connection is its own", p.ID)
			},
			build: f.Build})
	}
	return out
}

// RunConfig configures Run.
type RunConfig struct {
	Endpoint
	// Profile is the interop profile the attester attests in.
	Profile tlsbind.Profile
	// Prover makes the evidence (the local or a simulated TEE).
	Prover *tlsbind.Prover
	// Cases are the names to run, in order; nil: all.
	Cases []string
	// StrictCodes also requires each refusal to carry one of the codes
	// seatrx's relying party gives for the case (for relying parties that
	// use seatrx's codes, seatrx itself first).
	StrictCodes bool
	// Progress receives each result's line as it completes; nil: none.
	Progress io.Writer

	// alsoAccepted lists the profiles other than Profile that a seatrx-API
	// relying party said it accepts (set by Run).
	alsoAccepted []string
}

// profileSensitive names the cases whose authenticator is bound as another
// known profile says: a relying party that also accepts that profile is
// right to accept it, so they test the rule only against a relying party
// that accepts this profile alone.
var profileSensitive = map[string]bool{"evidence-other-label": true, "wrong-container": true}

// SelectCases returns the named cases in the given order (nil: all).
func SelectCases(names []string) ([]Case, error) {
	all := Cases()
	if len(names) == 0 {
		return all, nil
	}
	var out []Case
	for _, n := range names {
		i := slices.IndexFunc(all, func(c Case) bool { return c.Name == n })
		if i < 0 {
			var known []string
			for _, c := range all {
				known = append(known, c.Name)
			}
			return nil, fmt.Errorf("unknown case %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Run plays the attester: each case on its own connection (the relay case
// on two), one line per case.
func Run(ctx context.Context, cfg RunConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Prover == nil || cfg.Prover.Attester == nil {
		return nil, errors.New("peersuite: Run needs a Prover with an Attester")
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, err
	}
	cases, err := SelectCases(cfg.Cases)
	if err != nil {
		return nil, err
	}
	if cfg.Transport == HTTP && cfg.Listener != nil {
		return nil, errors.New("peersuite: over seatrx's HTTP API the attester is the TLS client: dial, do not listen")
	}
	if cfg.Transport == HTTP {
		ids, err := cfg.checkAccepted(ctx)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if id != cfg.Profile.ID {
				cfg.alsoAccepted = append(cfg.alsoAccepted, id)
			}
		}
	}
	rep := newReport("run", "attester", cfg.Transport, cfg.Profile.ID, cfg.peer())
	for _, c := range cases {
		if ctx.Err() != nil {
			rep.add(Result{Name: c.Name, Ref: c.Ref, Rule: c.Rule, Verdict: Inconclusive, Observed: "not run: " + ctx.Err().Error()}, cfg.Progress)
			continue
		}
		rep.add(cfg.runCase(ctx, c), cfg.Progress)
	}
	rep.finish()
	return rep, ctx.Err()
}

// checkAccepted asks a seatrx-API relying party which profiles it accepts,
// returns them, and refuses to run in one it does not: every case would
// fail alike.
func (cfg *RunConfig) checkAccepted(ctx context.Context) ([]string, error) {
	l, err := dialHTTP(ctx, &cfg.Endpoint, cfg.Prover, cfg.Profile, "run-capabilities")
	if err != nil {
		return nil, err
	}
	defer l.close()
	caps, err := l.c.Capabilities(ctx)
	if err != nil {
		return nil, fmt.Errorf("GET /.well-known/seatrx: %w", err)
	}
	var ids []string
	for _, p := range caps.Profiles {
		ids = append(ids, p.ID)
	}
	return ids, tlsbind.CheckAccepted(cfg.Profile, ids)
}

// connect opens the next connection to the relying party.
func (cfg *RunConfig) connect(ctx context.Context, name string) (attLink, error) {
	if cfg.Transport == HTTP {
		return dialHTTP(ctx, &cfg.Endpoint, cfg.Prover, cfg.Profile, name)
	}
	c, err := cfg.rawConn(ctx)
	if err != nil {
		return nil, err
	}
	return newRawLink(c, &cfg.Endpoint, name), nil
}

// opened is a connection with the relying party's request on it.
type opened struct {
	link attLink
	ch   expat.Channel
	req  *expat.Request
}

// open connects and takes the relying party's request.
func (cfg *RunConfig) open(ctx context.Context, name string) (*opened, error) {
	l, err := cfg.connect(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	cs := l.state()
	ch, err := tlsbind.Channel(&cs)
	if err != nil {
		l.close()
		return nil, err
	}
	raw, err := l.request(ctx)
	if err != nil {
		l.close()
		return nil, err
	}
	req, err := expat.ParseRequest(raw, l.role().Peer(), cfg.Profile.CMWType)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("the relying party's request is not well-formed: %w", err)
	}
	if !req.OffersCMW(cfg.Profile.CMWType) {
		l.close()
		return nil, fmt.Errorf("the relying party's request does not offer cmw_attestation at 0x%04x (profile %s)", cfg.Profile.CMWType, cfg.Profile.ID)
	}
	return &opened{link: l, ch: ch, req: req}, nil
}

func (cfg *RunConfig) runCase(ctx context.Context, c Case) Result {
	res := Result{Name: c.Name, Ref: c.Ref, Rule: c.Rule, Verdict: Inconclusive, Expected: "refused"}
	if c.Accept {
		res.Expected = "accepted"
	}
	if profileSensitive[c.Name] && len(cfg.alsoAccepted) > 0 {
		res.Verdict = Skip
		res.Observed = fmt.Sprintf("not sent: the relying party also accepts %s, under which this authenticator may be valid; run against one that accepts only %s to test this rule",
			strings.Join(cfg.alsoAccepted, ", "), cfg.Profile.ID)
		return res
	}
	o, err := cfg.open(ctx, "run-"+c.Name)
	if err != nil {
		res.Observed = err.Error()
		if problemCode(err) != "" {
			res.Verdict = Fail // the relying party's own request breaks a rule
		}
		return res
	}
	defer o.link.close()
	res.Dump = o.link.session().Dir()
	h, _ := o.ch.Hash()
	want, why := c.Want(cfg.Profile, h)
	res.WantCodes = want
	if want == nil {
		res.Verdict, res.Observed = Skip, "not sent: "+why
		return res
	}
	a, err := expattest.NewAttestation(ctx, o.ch, o.link.role(), o.req, cfg.Profile, cfg.Prover)
	if err != nil {
		res.Observed = "seatrx could not attest: " + err.Error()
		return res
	}
	o.link.session().Binder("the honest binder for this request (case "+c.Name+" may bind otherwise)", a.Binder, o.req.Context, a.SPKI)
	if c.relay {
		other, err := cfg.open(ctx, "run-"+c.Name+"-source")
		if err != nil {
			res.Observed = "no second connection to relay from: " + err.Error()
			return res
		}
		defer other.link.close()
		a.Relay = &expattest.Relay{Channel: other.ch, Context: other.req.Context}
	}
	auth, err := c.build(ctx, a)
	if err != nil {
		res.Observed = "could not build the authenticator: " + err.Error()
		return res
	}
	out := o.link.answer(ctx, auth)
	if out.err != nil {
		res.Observed = "no verdict: " + out.err.Error()
		return res
	}
	res.Code = out.code
	switch {
	case out.accepted:
		res.Observed = "accepted: " + out.how
	case out.code != "":
		res.Observed = "refused: " + out.how + " (" + out.code + ")"
	default:
		res.Observed = "refused: " + out.how
	}
	res.Verdict = Fail
	if out.accepted == c.Accept {
		res.Verdict = Pass
	}
	if cfg.StrictCodes && !c.Accept && !out.accepted && !slices.Contains(want, out.code) {
		res.Verdict, res.Detail = Fail, "seatrx's relying party refuses it with "+codeList(want)
	}
	if res.Verdict == Fail && out.accepted && !c.Accept {
		res.Detail = "accepted an authenticator it must refuse (" + c.Description + ")"
	}
	return res
}
