package peersuite

import (
	"context"
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/handshake"
	"github.com/seatrx/seatrx/tlsbind"
)

// Scenario is one script the relying party runs on a connection, testing
// how the foreign attester reacts.
type Scenario struct {
	Name     string
	Ref      string // the rule's source, short
	Rule     string // the rule tested
	Expected string // what a conforming attester does: the reactions that pass
	run      func(ctx context.Context, r *rpRun) Result
}

// rpRun is one scenario's connection as the relying party sees it.
type rpRun struct {
	link       rpLink
	prof       tlsbind.Profile
	checker    *tlsbind.Checker
	ch         expat.Channel
	self, peer expat.Role
	dump       *capture.Session
}

// reqSpec is a request to send, well-formed or not.
type reqSpec struct {
	typ  uint8
	ctx  []byte
	exts []expat.Extension
	tail []byte
}

// spec is the well-formed request of this connection's relying party: the
// type its TLS role sends, a fresh 32-byte context, signature_algorithms
// (seatrx's defaults) and the empty cmw_attestation offer.
func (r *rpRun) spec() reqSpec {
	typ := handshake.TypeCertificateRequest
	if r.self == expat.Client {
		typ = handshake.TypeClientCertificateRequest
	}
	ctx := make([]byte, expat.DefaultContextSize)
	rand.Read(ctx)
	var schemes []uint16
	for _, s := range expat.DefaultSchemes {
		schemes = append(schemes, uint16(s))
	}
	return reqSpec{typ: typ, ctx: ctx, exts: []expat.Extension{sigAlgs(schemes...), {Type: r.prof.CMWType}}}
}

func sigAlgs(schemes ...uint16) expat.Extension {
	var b cryptobyte.Builder
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) {
		for _, s := range schemes {
			b.AddUint16(s)
		}
	})
	return expat.Extension{Type: expat.ExtSignatureAlgorithms, Data: b.BytesOrPanic()}
}

// raw encodes the request exactly as specified.
func (s reqSpec) raw() []byte {
	exts := make([]handshake.Extension, len(s.exts))
	for i, e := range s.exts {
		exts[i] = handshake.Extension(e)
	}
	out, err := handshake.Message(s.typ, func(b *cryptobyte.Builder) {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.ctx) })
		handshake.AddExtensions(b, exts)
	})
	if err != nil {
		panic(err) // the specs are small and fixed
	}
	return append(out, s.tail...)
}

// without returns s without extensions of type t.
func (s reqSpec) without(t uint16) reqSpec {
	var out []expat.Extension
	for _, e := range s.exts {
		if e.Type != t {
			out = append(out, e)
		}
	}
	s.exts = out
	return s
}

// What the relying party made of the attester's answer.
const (
	jNone     = "none"     // no authenticator: refused, closed, silent, moved on
	jOdd      = "odd"      // something neither an answer nor a refusal
	jEmpty    = "empty"    // a valid empty authenticator (RFC 9261 §6)
	jBadEmpty = "badempty" // a lone Finished that does not verify
	jAccepted = "accepted" // valid, attested, bound: the check passed
	jNoCMW    = "nocmw"    // a valid authenticator without cmw_attestation
	jRefused  = "refused"  // an authenticator the check refused
	jAnswered = "answered" // a non-empty authenticator to a request it had to refuse
)

type judged struct {
	kind string
	ans  answer
	req  *expat.Request // the request, if well-formed
	res  *tlsbind.Result
	err  error // the check's refusal (jRefused)
}

// observed says in words what the attester did.
func (j judged) observed() string {
	switch j.kind {
	case jNone, jOdd:
		return j.ans.String()
	case jEmpty:
		return "sent a valid empty authenticator (refused, RFC 9261 §6)"
	case jBadEmpty:
		return "sent an empty authenticator whose Finished does not verify"
	case jAccepted:
		return fmt.Sprintf("answered: authenticator valid, %s evidence verified and bound (%s, profile %s)", j.res.Claims.Submod, j.res.Model, j.res.Binder.Profile.ID)
	case jNoCMW:
		return "answered with a valid authenticator without cmw_attestation"
	case jRefused:
		return "answered with an authenticator this relying party refused: " + problemCode(j.err)
	}
	return fmt.Sprintf("answered, with a %d-byte authenticator, a request it had to refuse", len(j.ans.auth))
}

// code is the wire code the relying party sent, if it refused.
func (j judged) code() string {
	switch j.kind {
	case jRefused:
		return problemCode(j.err)
	case jAnswered:
		return (&Error{Code: CodeAnsweredBadRequest}).ProblemCode()
	case jEmpty:
		return expat.ErrEmptyAuthenticator.ProblemCode()
	case jBadEmpty:
		return expat.ErrBadFinished.ProblemCode()
	}
	return ""
}

// exchange sends s, judges the answer and sends the verdict. A request that
// does not parse as well-formed, or one the scenario says must be refused
// (mustRefuse), is not checked: any non-empty authenticator to it is an
// answer it should not have had.
func (r *rpRun) exchange(ctx context.Context, s reqSpec, mustRefuse bool) judged {
	raw := s.raw()
	req, perr := expat.ParseRequest(raw, r.self, r.prof.CMWType)
	if perr != nil {
		req = nil
	}
	j := judged{ans: r.link.exchange(ctx, raw), req: req}
	switch {
	case j.ans.kind == ansMalformed:
		j.kind = jOdd
		return j
	case j.ans.kind != ansAuthenticator:
		j.kind = jNone
		return j
	case loneFinished(j.ans.auth):
		j.kind = jBadEmpty
		if r.emptyValid(raw, s.ctx, j.ans.auth) {
			j.kind = jEmpty
		}
		r.link.decide(verdict{problem: problemFor(j)})
		return j
	case req == nil || mustRefuse:
		j.kind = jAnswered
		r.link.decide(verdict{problem: problemFor(j)})
		return j
	}
	j.res, j.err = r.checker.Check(ctx, r.ch, r.peer, req, j.ans.auth, []tlsbind.Profile{r.prof})
	switch {
	case j.err == nil:
		j.kind = jAccepted
		r.dump.Binder("expected by this relying party and carried by the evidence", j.res.Binder, j.res.Context, j.res.AIK)
		r.link.decide(verdict{ear: j.res.EAR})
		return j
	case problemCode(j.err) == "attest.no_attestation":
		if a, err := expat.Validate(r.ch, r.peer, req, j.ans.auth, &expat.ValidateOptions{CMWType: r.prof.CMWType}); err == nil && a.CMW == nil {
			j.kind = jNoCMW
		} else {
			j.kind = jRefused
		}
	default:
		j.kind = jRefused
	}
	r.dump.Evidence(j.ans.auth, r.peer, []tlsbind.Profile{r.prof})
	r.link.decide(verdict{problem: problemOf(j.err)})
	return j
}
