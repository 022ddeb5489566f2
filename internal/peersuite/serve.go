package peersuite

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/tlsbind"
)

// ServeConfig configures Serve.
type ServeConfig struct {
	Endpoint
	// Profile is the one interop profile the scenarios run in.
	Profile tlsbind.Profile
	// Checker verifies the attester's evidence (roots, policy).
	Checker *tlsbind.Checker
	// Scenarios are the names to run, in order; nil: all.
	Scenarios []string
	// SimulatedTrusted says, in /.well-known/seatrx, that simulated roots
	// are trusted.
	SimulatedTrusted bool
	// Progress receives each result's line as it completes; nil: none.
	Progress io.Writer
}

// SelectScenarios returns the named scenarios in the given order (nil: all).
func SelectScenarios(names []string) ([]Scenario, error) {
	all := Scenarios()
	if len(names) == 0 {
		return all, nil
	}
	var out []Scenario
	for _, n := range names {
		i := slices.IndexFunc(all, func(s Scenario) bool { return s.Name == n })
		if i < 0 {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, scenarioNames(all))
		}
		if slices.ContainsFunc(out, func(s Scenario) bool { return s.Name == n }) {
			return nil, fmt.Errorf("scenario %q listed twice", n)
		}
		out = append(out, all[i])
	}
	return out, nil
}

// Serve plays the relying party until every selected scenario has a
// conclusive result (pass, fail, or not applicable) or ctx ends; the report
// holds every connection's result, in the order they completed. Dialling
// (Endpoint.Target), the scenarios run one connection each, in order.
// Listening, each connection gets one scenario: over HTTP the one its path
// names (https://HOST:PORT/s/NAME/...), else the next not yet run, then
// those still inconclusive; the raw framings take them in that sequence.
func Serve(ctx context.Context, cfg ServeConfig) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.Checker == nil {
		return nil, errors.New("peersuite: Serve needs a Checker")
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, err
	}
	sel, err := SelectScenarios(cfg.Scenarios)
	if err != nil {
		return nil, err
	}
	rep := newReport("serve", "relying-party", cfg.Transport, cfg.Profile.ID, cfg.peer())
	sched := &schedule{order: sel, handed: map[string]bool{}, running: map[string]int{}, conclusive: map[string]bool{}}
	switch {
	case cfg.Transport == HTTP && cfg.Target != "":
		return nil, errors.New("peersuite: over seatrx's HTTP API the relying party is the TLS server: listen, do not dial")
	case cfg.Transport == HTTP:
		err = cfg.serveHTTP(ctx, sched, rep)
	case cfg.Target != "":
		for _, s := range sel {
			if ctx.Err() != nil {
				break
			}
			c, err := cfg.rawConn(ctx)
			if err != nil {
				rep.add(Result{Name: s.Name, Ref: s.Ref, Rule: s.Rule, Expected: s.Expected, Verdict: Inconclusive, Observed: "no connection: " + err.Error()}, cfg.Progress)
				continue
			}
			rep.add(cfg.runOn(ctx, s, newRawLink(c, &cfg.Endpoint, "serve-"+s.Name)), cfg.Progress)
		}
	default:
		for !sched.complete() && ctx.Err() == nil {
			c, err := cfg.rawConn(ctx)
			if err != nil {
				break
			}
			s, ok := sched.next()
			if !ok {
				c.Close()
				break
			}
			res := cfg.runOn(ctx, s, newRawLink(c, &cfg.Endpoint, "serve-"+s.Name))
			sched.finished(res)
			rep.add(res, cfg.Progress)
		}
	}
	for _, s := range sel {
		if !slices.ContainsFunc(rep.Results, func(r Result) bool { return r.Name == s.Name }) {
			rep.add(Result{Name: s.Name, Ref: s.Ref, Rule: s.Rule, Expected: s.Expected, Verdict: Inconclusive, Observed: "not run to its end: no connection came for it, or the run ended first"}, cfg.Progress)
		}
	}
	rep.finish()
	return rep, err
}

// runOn runs s on link and closes it.
func (cfg *ServeConfig) runOn(ctx context.Context, s Scenario, link rpLink) Result {
	defer link.close()
	res := Result{Verdict: Fail}
	cs := link.state()
	ch, err := tlsbind.Channel(&cs)
	if err != nil {
		res.Observed, res.Code, res.Detail = "the connection cannot carry attestation", problemCode(err), err.Error()
	} else {
		r := &rpRun{link: link, prof: cfg.Profile, checker: cfg.Checker, ch: ch, self: link.role(), peer: link.role().Peer(), dump: link.session()}
		res = s.run(ctx, r)
	}
	res.Name, res.Ref, res.Rule, res.Expected, res.Dump = s.Name, s.Ref, s.Rule, s.Expected, link.session().Dir()
	return res
}

// schedule hands scenarios to connections: each once, in order, then those
// still without a conclusive result.
type schedule struct {
	mu         sync.Mutex
	order      []Scenario
	handed     map[string]bool
	running    map[string]int
	conclusive map[string]bool
}

func (s *schedule) next() (Scenario, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.order {
		if !s.handed[sc.Name] {
			s.handed[sc.Name] = true
			s.running[sc.Name]++
			return sc, true
		}
	}
	for _, sc := range s.order {
		if !s.conclusive[sc.Name] && s.running[sc.Name] == 0 {
			s.running[sc.Name]++
			return sc, true
		}
	}
	return Scenario{}, false
}

func (s *schedule) named(name string) (Scenario, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.order, func(sc Scenario) bool { return sc.Name == name })
	if i < 0 {
		return Scenario{}, false
	}
	s.handed[name] = true
	s.running[name]++
	return s.order[i], true
}

func (s *schedule) finished(r Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running[r.Name]--
	if r.Verdict != Inconclusive {
		s.conclusive[r.Name] = true
	}
}

func (s *schedule) complete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.order {
		if !s.conclusive[sc.Name] {
			return false
		}
	}
	return true
}

// connKey finds a connection's state in a request's context.
type connKey struct{}

// httpConnState is one connection of Serve's HTTP server.
type httpConnState struct {
	tc       *tls.Conn
	gone     chan struct{}
	goneOnce sync.Once

	mu   sync.Mutex
	name string // the scenario bound to the connection
	link *httpRPLink
}

// serveHTTP runs Serve over seatrx's HTTP API.
func (cfg *ServeConfig) serveHTTP(ctx context.Context, sched *schedule, rep *Report) error {
	results, stop := make(chan Result), make(chan struct{})
	defer close(stop)
	conns := sync.Map{} // net.Conn -> *httpConnState
	var seq atomic.Int64
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			st := &httpConnState{gone: make(chan struct{})}
			st.tc, _ = c.(*tls.Conn)
			conns.Store(c, st)
			return context.WithValue(ctx, connKey{}, st)
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				if v, ok := conns.LoadAndDelete(c); ok {
					st := v.(*httpConnState)
					st.goneOnce.Do(func() { close(st.gone) })
				}
			}
		},
	}
	bind := func(st *httpConnState, name string) (*httpRPLink, *Error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.link != nil {
			if name != "" && name != st.name {
				return nil, fail(CodeScenarioMismatch, "this connection runs scenario %s, not %s: open a new connection", st.name, name)
			}
			return st.link, nil
		}
		var s Scenario
		var ok bool
		if name != "" {
			if s, ok = sched.named(name); !ok {
				return nil, fail(CodeUnknownScenario, "no scenario %q is served (served: %s)", name, scenarioNames(sched.order))
			}
		} else if s, ok = sched.next(); !ok {
			return nil, fail(CodeScenarioDone, "every scenario has run")
		}
		cs := st.tc.ConnectionState()
		l := &httpRPLink{cs: cs, step: cfg.step(), calls: make(chan *call), gone: st.gone, done: make(chan struct{}),
			dump: cfg.Dump.Start(fmt.Sprintf("serve-%s-%d", s.Name, seq.Add(1)), expat.Server, &cs)}
		st.name, st.link = s.Name, l
		go func() {
			res := cfg.runOn(ctx, s, l)
			select {
			case results <- res:
			case <-stop:
			}
		}()
		return l, nil
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := r.Context().Value(connKey{}).(*httpConnState)
		name, rest := splitScenario(r.URL.Path)
		switch {
		case st == nil || st.tc == nil:
			http.Error(w, "TLS only", http.StatusBadRequest)
			return
		case rest == api.PathWellKnown && r.Method == http.MethodGet:
			writeJSON(w, cfg.capabilities())
			return
		case r.Method != http.MethodPost || (rest != api.PathChallenge && rest != api.PathAttest):
			problemReply(ownProblem(http.StatusNotFound, fail(CodeNotServed, "%s %s: the conformance peer serves only %s, POST %s and POST %s",
				r.Method, r.URL.Path, api.PathWellKnown, api.PathChallenge, api.PathAttest))).write(w)
			return
		}
		link, err := bind(st, name)
		if err != nil {
			status := http.StatusNotFound
			if err.Code != CodeUnknownScenario {
				status = http.StatusForbidden
			}
			problemReply(ownProblem(status, err)).write(w)
			return
		}
		c := &call{attest: rest == api.PathAttest}
		if c.attest {
			body, rerr := readBody(r, expat.MaxAuthenticatorSize)
			if rerr != nil {
				problemReply(&api.Problem{Type: api.ProblemTypePrefix + "server.body_too_large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge,
					Detail: rerr.Error(), Code: "server.body_too_large"}).write(w)
				return
			}
			c.body = body
		}
		link.submit(r.Context(), c).write(w)
	})
	tlsCfg := cfg.serverTLS([]string{"h2", "http/1.1"})
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(cfg.Listener, tlsCfg)) }()
	defer srv.Close()
	for !sched.complete() {
		select {
		case res := <-results:
			sched.finished(res)
			rep.add(res, cfg.Progress)
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// splitScenario splits "/s/NAME/rest" into NAME and "/rest"; other paths
// have no scenario name.
func splitScenario(path string) (name, rest string) {
	after, ok := strings.CutPrefix(path, "/s/")
	if !ok {
		return "", path
	}
	name, rest, _ = strings.Cut(after, "/")
	return name, "/" + rest
}

// capabilities is what /.well-known/seatrx says of the conformance peer.
func (cfg *ServeConfig) capabilities() api.Capabilities {
	c := api.Capabilities{
		EvidenceTypes: []string{evidence.MediaTypeSNPReport, evidence.MediaTypeTDXQuote},
		Models:        []string{tlsbind.ModelBackgroundCheck}, CMWExtensionType: cfg.Profile.CMWType, BinderLabel: cfg.Profile.Label,
		Profiles: []api.Profile{api.ProfileOf(cfg.Profile)}, PolicyID: "seatrx-conformance-peer", Issuer: "urn:seatrx:conformance-peer",
		Simulated: cfg.SimulatedTrusted,
	}
	for _, sc := range expat.DefaultSchemes {
		c.SignatureSchemes = append(c.SignatureSchemes, sc.String())
	}
	return c
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := jsonIndent(v)
	w.Write(b)
}
