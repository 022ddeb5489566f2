package tlsbind

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/seatrx/seatrx/expat"
)

// DefaultMaxAttempts bounds the authenticator requests one connection may
// ask for (first attestation plus re-attestations).
const DefaultMaxAttempts = 4

// Session is the attestation state of one TLS connection, on either side:
// the interop profiles this side speaks on it (the one place profile state
// lives), the requests we sent and which contexts are used (via
// expat.Tracker), and the peer's newest successful attestation. Nothing may use the connection
// for application data until Attested returns a result. A failed attestation
// is fatal for the session (draft-fossati-seat-expat: failures SHOULD be
// fatal): the peer must open a new connection. Safe for concurrent use (HTTP/2
// serves requests of one connection concurrently).
type Session struct {
	ch          expat.Channel
	self        expat.Role
	profiles    []Profile // accepted from the peer, preferred first; we attest in profiles[0] unless asked otherwise
	maxAttempts int

	mu       sync.Mutex
	tracker  *expat.Tracker
	pending  map[string]*expat.Request
	attempts int
	peer     *Result
	failed   *Error
}

// NewSession starts the attestation state of a completed TLS 1.3 connection
// on which we play self. profiles are the interop profiles this side accepts
// from the peer, preferred first, and the first is also the one it attests
// in unless RespondAs names another; nil means the default profile alone.
// maxAttempts <= 0 means DefaultMaxAttempts.
func NewSession(cs *tls.ConnectionState, self expat.Role, profiles []Profile, maxAttempts int) (*Session, error) {
	ch, err := Channel(cs)
	if err != nil {
		return nil, err
	}
	return NewChannelSession(ch, self, profiles, maxAttempts)
}

// NewChannelSession is NewSession for a connection given as its channel
// (exporter and cipher suite) rather than a *tls.ConnectionState: a DTLS
// 1.3 connection, whose adapter checked version and resumption before
// making ch. The caller vouches that ch is one completed, fully
// handshaken (D)TLS 1.3 connection.
func NewChannelSession(ch expat.Channel, self expat.Role, profiles []Profile, maxAttempts int) (*Session, error) {
	if len(profiles) == 0 {
		profiles = []Profile{DefaultProfile()}
	}
	for _, p := range profiles {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	if _, err := ch.Hash(); err != nil {
		return nil, classify(StepConnection, err)
	}
	if maxAttempts <= 0 {
		maxAttempts = DefaultMaxAttempts
	}
	return &Session{ch: ch, self: self, profiles: slices.Clone(profiles), maxAttempts: maxAttempts, tracker: expat.NewTracker(), pending: map[string]*expat.Request{}}, nil
}

// Profiles returns the profiles the session accepts, preferred first.
func (s *Session) Profiles() []Profile { return slices.Clone(s.profiles) }

// Channel returns the session's connection view.
func (s *Session) Channel() expat.Channel { return s.ch }

// Challenge makes a new Authenticator Request offering cmw_attestation at
// the codepoint of every accepted profile, recorded as outstanding. It fails
// once the attempts are exhausted or the session has failed.
func (s *Session) Challenge() (*expat.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	if s.attempts >= s.maxAttempts {
		return nil, fail(StepRequest, CodeTooManyAttempts, nil, "%d authenticator requests already issued on this connection", s.attempts)
	}
	cps := codepoints(s.profiles)
	var extra []expat.Extension
	for _, t := range cps[1:] {
		extra = append(extra, expat.Extension{Type: t})
	}
	req, err := expat.NewRequest(s.self, expat.RequestOptions{OfferCMW: true, CMWType: cps[0], Extra: extra})
	if err != nil {
		return nil, classify(StepRequest, err)
	}
	if err := s.tracker.Issue(req.Context); err != nil {
		return nil, classify(StepRequest, err)
	}
	s.attempts++
	s.pending[string(req.Context)] = req
	return req, nil
}

// Accept checks the peer's authenticator against the outstanding request it
// answers (found by its context; a lone empty authenticator is matched to the
// only outstanding request). The request is consumed before checking, so it
// gets exactly one attempt; any failure fails the session.
func (s *Session) Accept(ctx context.Context, c *Checker, auth []byte) (*Result, error) {
	req, err := s.take(auth)
	if err != nil {
		return nil, s.markFailed(err)
	}
	res, err := c.Check(ctx, s.ch, s.self.Peer(), req, auth, s.profiles)
	if err != nil {
		return nil, s.markFailed(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	s.peer = res
	return res, nil
}

func (s *Session) take(auth []byte) (*expat.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed != nil {
		return nil, s.failed
	}
	ctx, err := expat.AuthenticatorContext(auth)
	if errors.Is(err, expat.ErrEmptyAuthenticator) && len(s.pending) == 1 {
		for k := range s.pending {
			ctx = []byte(k)
		}
		err = nil
	}
	if err != nil {
		return nil, classify(StepAuthenticator, err)
	}
	if err := s.tracker.Consume(ctx); err != nil {
		return nil, classify(StepAuthenticator, err)
	}
	req := s.pending[string(ctx)]
	delete(s.pending, string(ctx))
	return req, nil
}

func (s *Session) markFailed(err error) error {
	e := classify(StepAuthenticator, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = e
	}
	return e
}

// Fail marks the session failed for a reason found outside it (for example,
// the server could not durably record the attestation): the peer is no
// longer attested and no further request is issued on this connection.
func (s *Session) Fail(err error) {
	e := classify(StepConnection, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = e
	}
}

// Attested returns the peer's newest successful attestation, or an error
// saying why the connection is not attested.
func (s *Session) Attested() (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failed != nil:
		return nil, fail(StepConnection, CodeNotAttested, s.failed, "attestation failed on this connection")
	case s.peer == nil:
		return nil, fail(StepConnection, CodeNotAttested, nil, "the peer has not attested on this connection")
	}
	return s.peer, nil
}

// Respond answers the peer's Authenticator Request (raw bytes) with
// attestation from p in the session's preferred profile. Each peer request
// is answered at most once, and its context must not collide with any
// context used on this connection.
func (s *Session) Respond(ctx context.Context, p *Prover, raw []byte) (*Proof, error) {
	return s.RespondAs(ctx, p, raw, s.profiles[0].ID)
}

// RespondAs is Respond in the accepted profile id (the peer asked for it); an
// id this session does not accept is a profile mismatch.
func (s *Session) RespondAs(ctx context.Context, p *Prover, raw []byte, id string) (*Proof, error) {
	i := slices.IndexFunc(s.profiles, func(q Profile) bool { return q.ID == id })
	if i < 0 {
		return nil, fail(StepRequest, CodeProfileMismatch, nil, "the peer asked for profile %q; this side attests in %s", id, strings.Join(ProfileIDs(s.profiles), ", "))
	}
	prof := s.profiles[i]
	req, err := expat.ParseRequest(raw, s.self.Peer(), prof.CMWType)
	if err != nil {
		return nil, classify(StepRequest, err)
	}
	if err := s.tracker.Answer(req.Context); err != nil {
		return nil, classify(StepRequest, err)
	}
	return p.Respond(ctx, s.ch, s.self, req, prof)
}
