package peersuite

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/expattest"
	"github.com/seatrx/seatrx/internal/frame"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

// devServer starts an in-process seatrx dev server accepting profile p.
func devServer(t *testing.T, p ...tlsbind.Profile) (addr string, roots *x509.CertPool, pki *sim.PKI) {
	t.Helper()
	data := t.TempDir()
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, Profiles: p,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	cas, err := keyfile.LoadCertificates(server.DevDir(data) + "/ca.pem")
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cas[0])
	return a.String(), roots, srv.SimulatedPKI()
}

// proverFor is a simulated TEE that the profile can carry: rust-ref carries
// TDX quotes only.
func proverFor(p tlsbind.Profile, pki *sim.PKI) *tlsbind.Prover {
	if p.Container == tlsbind.ContainerRustRef {
		return &tlsbind.Prover{Attester: evidence.NewTDXAttester(pki.TDX.Guest(sim.TDXGuestConfig{}))}
	}
	return &tlsbind.Prover{Attester: evidence.NewSNPAttester(pki.SNP.Guest(sim.SNPGuestConfig{}))}
}

// wantAllPass checks a report: no failure, nothing inconclusive, and the
// skips are exactly skipped (by name).
func wantAllPass(t *testing.T, rep *Report, skipped ...string) {
	t.Helper()
	logReport(t, rep)
	var got []string
	for _, r := range rep.Results {
		switch r.Verdict {
		case Pass:
		case Skip:
			got = append(got, r.Name)
		default:
			t.Errorf("%s", r.Line())
		}
	}
	if strings.Join(got, ",") != strings.Join(skipped, ",") {
		t.Errorf("skipped %v, want %v", got, skipped)
	}
	if !rep.OK() && len(rep.Results) > 0 && rep.Failed == 0 && rep.Unshown == 0 {
		t.Errorf("report not OK: %s", rep.Summary())
	}
}

// The attester suite passes against seatrx's own server in every profile,
// with seatrx's exact codes (StrictCodes): rust-ref with TDX evidence, and
// without the other-key case, which that profile cannot see (it binds no
// key). seatrx's "rust-ref" is RFC 9261 authenticators carrying the Rust
// code's codepoint, record and REPORTDATA; the Rust code's own EA layer is
// not RFC 9261 and is not exercised (docs/PROTOCOL.md §7).
func TestRunAgainstSeatrxServer(t *testing.T) {
	for _, p := range tlsbind.Profiles() {
		t.Run(p.ID, func(t *testing.T) {
			t.Parallel()
			addr, roots, pki := devServer(t, p)
			rep, err := Run(context.Background(), RunConfig{Endpoint: Endpoint{Transport: HTTP, Target: addr, Roots: roots},
				Profile: p, Prover: proverFor(p, pki), StrictCodes: true})
			if err != nil {
				t.Fatal(err)
			}
			var skip []string
			if p.Layout == tlsbind.LayoutExported {
				skip = []string{"evidence-other-key"}
			}
			wantAllPass(t, rep, skip...)
			if len(rep.Results) != len(Cases()) {
				t.Fatalf("%d results for %d cases", len(rep.Results), len(Cases()))
			}
		})
	}
}

// Against a relying party that accepts several profiles, the cases bound as
// another profile says are skipped with the reason: an authenticator that
// is valid in a profile the relying party also accepts is rightly accepted,
// and reporting it as a failure would blame a correct peer.
func TestRunAgainstMultiProfileServer(t *testing.T) {
	p := tlsbind.DefaultProfile()
	addr, roots, pki := devServer(t, tlsbind.Profiles()...)
	rep, err := Run(context.Background(), RunConfig{Endpoint: Endpoint{Transport: HTTP, Target: addr, Roots: roots},
		Profile: p, Prover: proverFor(p, pki), StrictCodes: true,
		Cases: []string{"good", "evidence-other-label", "wrong-container", "evidence-relayed"}})
	if err != nil {
		t.Fatal(err)
	}
	wantAllPass(t, rep, "evidence-other-label", "wrong-container")
	for _, r := range rep.Results {
		if r.Verdict == Skip && !strings.Contains(r.Observed, "run against one that accepts only "+p.ID) {
			t.Errorf("%s: skip without its reason: %q", r.Name, r.Observed)
		}
	}
}

// A relying party that accepts what it must refuse fails the suite: the
// suite is not a formality. Here a seatrx server in profile expat-04 is
// given rust-ref-layout attestations: the suite runs in a profile whose
// binder the server does not check as such, so the good case fails.
func TestRunReportsFailures(t *testing.T) {
	p := tlsbind.DefaultProfile()
	addr, roots, pki := devServer(t, p)
	odd := p
	odd.Label = "EXPORTER-seatrx-test-other-label" // a binder the server never derives
	rep, err := Run(context.Background(), RunConfig{Endpoint: Endpoint{Transport: HTTP, Target: addr, Roots: roots},
		Profile: odd, Prover: proverFor(p, pki), Cases: []string{"good", "bad-signature"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Results[0].Verdict != Fail || rep.Results[0].Code != "attest.binding_connection" || rep.Results[1].Verdict != Pass {
		t.Fatalf("%+v", rep.Results)
	}
}

// selfSigned is a listener with an ephemeral certificate, and the pool that
// trusts it.
func listener(t *testing.T) (net.Listener, *x509.CertPool, Endpoint) {
	t.Helper()
	cert, anchor, err := EphemeralCertificate(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(anchor)
	return ln, pool, Endpoint{Listener: ln, Certificate: cert}
}

// simChecker verifies simulated evidence of pki.
func simChecker(t *testing.T, pki *sim.PKI) *tlsbind.Checker {
	t.Helper()
	c, err := client.NewChecker(pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testPKI(t *testing.T) *sim.PKI {
	t.Helper()
	p, err := sim.Generate(time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The relying-party suite passes against seatrx's own client and prover
// over seatrx's HTTP API in every profile: each scenario on its own
// connection, chosen by its path (https://HOST/s/NAME), the client attesting
// once and, where accepted, once more (re-attestation on the connection).
func TestServeAgainstSeatrxClient(t *testing.T) {
	pki := testPKI(t)
	for _, p := range tlsbind.Profiles() {
		t.Run(p.ID, func(t *testing.T) {
			t.Parallel()
			ln, pool, ep := listener(t)
			ep.Transport = HTTP
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			go func() {
				for _, s := range Scenarios() {
					c, err := client.Dial(ctx, client.Config{Server: "https://" + ln.Addr().String() + "/s/" + s.Name, Roots: pool, Prover: proverFor(p, pki), Profile: p})
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := c.Attest(ctx); err == nil {
						c.Attest(ctx)
					}
					c.Close()
				}
			}()
			rep, err := Serve(ctx, ServeConfig{Endpoint: ep, Profile: p, Checker: simChecker(t, pki)})
			if err != nil {
				t.Fatal(err)
			}
			wantAllPass(t, rep)
		})
	}
}

// Without a path, HTTP connections take the scenarios in sequence.
func TestServeHTTPSequence(t *testing.T) {
	pki := testPKI(t)
	p := tlsbind.DefaultProfile()
	ln, pool, ep := listener(t)
	ep.Transport = HTTP
	names := []string{"well-formed", "cmw-not-offered", "context-reuse"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		for range names {
			c, err := client.Dial(ctx, client.Config{Server: "https://" + ln.Addr().String(), Roots: pool, Prover: proverFor(p, pki)})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := c.Attest(ctx); err == nil {
				c.Attest(ctx)
			}
			c.Close()
		}
	}()
	rep, err := Serve(ctx, ServeConfig{Endpoint: ep, Profile: p, Checker: simChecker(t, pki), Scenarios: names})
	if err != nil {
		t.Fatal(err)
	}
	wantAllPass(t, rep)
	for i, r := range rep.Results {
		if r.Name != names[i] {
			t.Fatalf("result %d is %s, want %s", i, r.Name, names[i])
		}
	}
}

// rawAttester is seatrx's prover on a raw-framing connection: it answers
// each request in profile p (refusing, as tlsbind.Session does, what it
// must refuse) until the relying party closes or refuses.
func rawAttester(l *rawLink, prover *tlsbind.Prover, p tlsbind.Profile) {
	defer l.close()
	cs := l.state()
	sess, err := tlsbind.NewSession(&cs, l.role(), []tlsbind.Profile{p}, 0)
	if err != nil {
		return
	}
	f := l.tr.framing()
	for {
		fr, err := l.read(time.Minute)
		if err != nil {
			return
		}
		switch fr.Type {
		case frame.TypeResult:
			continue
		case frame.TypeRequest:
		default:
			return
		}
		proof, err := sess.RespondAs(context.Background(), prover, fr.Payload, p.ID)
		if err != nil {
			l.refuse(err)
			return
		}
		if f.Write(l.c, frame.TypeAuthenticator, proof.Authenticator) != nil {
			return
		}
	}
}

// rawRP is seatrx's relying party on a raw-framing connection, as its
// server is over HTTP: one challenge, the authenticator checked by a
// tlsbind.Session, a result or an error (cocos's framing: silence or close).
func rawRP(l *rawLink, checker *tlsbind.Checker, p tlsbind.Profile, sent chan<- struct{}) {
	defer l.close()
	cs := l.state()
	sess, err := tlsbind.NewSession(&cs, l.role(), []tlsbind.Profile{p}, 0)
	if err != nil {
		return
	}
	req, err := sess.Challenge()
	if err != nil || l.write(frame.TypeRequest, req.Raw) != nil {
		return
	}
	close(sent)
	fr, err := l.read(time.Minute)
	if err != nil || fr.Type != frame.TypeAuthenticator {
		return
	}
	res, err := sess.Accept(context.Background(), checker, fr.Payload)
	if err != nil {
		l.decide(verdict{problem: problemOf(err)})
		return
	}
	l.decide(verdict{ear: res.EAR})
	l.read(200 * time.Millisecond) // let the attester read the verdict before closing
}

// The relying-party suite over the raw framings against seatrx's prover:
// seatrx-raw/1 with the relying party listening and dialling, and cocos's
// framing with the relying party dialling (as cocos's client does).
func TestServeRaw(t *testing.T) {
	pki := testPKI(t)
	p := tlsbind.DefaultProfile()
	for _, tc := range []struct {
		tr   Transport
		dial bool
	}{{SeatrxRaw, false}, {SeatrxRaw, true}, {Cocos, true}} {
		name := string(tc.tr) + map[bool]string{true: "/rp-dials", false: "/rp-listens"}[tc.dial]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, pool, ep := listener(t)
			ep.Transport = tc.tr
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			// The attester's endpoint: the other side of ep.
			att := Endpoint{Transport: tc.tr, Target: ln.Addr().String(), Roots: pool}
			if tc.dial {
				att = ep
				ep = Endpoint{Transport: tc.tr, Target: ln.Addr().String(), Roots: pool}
			}
			go func() {
				for ctx.Err() == nil {
					c, err := att.rawConn(ctx)
					if err != nil {
						return
					}
					go rawAttester(newRawLink(c, &att, "attester"), proverFor(p, pki), p)
					if att.Listener == nil {
						// A dialling attester waits for its connection to end.
						time.Sleep(10 * time.Millisecond)
					}
				}
			}()
			if !tc.dial {
				// The attester dials once per scenario.
				att.Listener = nil
			}
			rep, err := Serve(ctx, ServeConfig{Endpoint: ep, Profile: p, Checker: simChecker(t, pki)})
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			wantAllPass(t, rep)
		})
	}
}

// The attester suite over the raw framings against seatrx's relying party:
// seatrx-raw/1 dialling a listening relying party, and cocos's framing
// listening for a dialling one (cocos's direction), both with seatrx's codes
// where the framing carries them.
func TestRunRaw(t *testing.T) {
	pki := testPKI(t)
	p := tlsbind.DefaultProfile()
	checker := simChecker(t, pki)
	for _, tr := range []Transport{SeatrxRaw, Cocos} {
		t.Run(string(tr), func(t *testing.T) {
			t.Parallel()
			ln, pool, ep := listener(t)
			ep.Transport = tr
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			cfg := RunConfig{Profile: p, Prover: proverFor(p, pki), StrictCodes: tr == SeatrxRaw}
			if tr == SeatrxRaw {
				// The relying party listens; the suite dials.
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						c, err := ep.rawConn(ctx)
						if err != nil {
							return
						}
						go rawRP(newRawLink(c, &ep, "rp"), checker, p, make(chan struct{}))
					}
				}()
				cfg.Endpoint = Endpoint{Transport: tr, Target: ln.Addr().String(), Roots: pool}
			} else {
				// The relying party dials, keeping one connection waiting
				// ahead (the relay case takes two at once).
				rp := Endpoint{Transport: tr, Target: ln.Addr().String(), Roots: pool}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						c, err := rp.rawConn(ctx)
						if err != nil {
							return
						}
						sent := make(chan struct{})
						go rawRP(newRawLink(c, &rp, "rp"), checker, p, sent)
						select {
						case <-sent:
						case <-ctx.Done():
							return
						}
					}
				}()
				ep.VerdictWait = 150 * time.Millisecond
				cfg.Endpoint = ep
			}
			rep, err := Run(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			wantAllPass(t, rep)
		})
	}
}

func logReport(t *testing.T, rep *Report) {
	t.Helper()
	for _, r := range rep.Results {
		t.Log(r.Line())
	}
	t.Log(rep.Summary())
}

// sloppyAttester answers every request: with attestation where it can
// (cmw_attestation whether offered or not, and again for a context it
// already answered), with junk where the request does not parse.
func sloppyAttester(l *rawLink, prover *tlsbind.Prover, p tlsbind.Profile) {
	defer l.close()
	cs := l.state()
	ch, _ := tlsbind.Channel(&cs)
	for {
		fr, err := l.read(time.Minute)
		if err != nil {
			return
		}
		if fr.Type != frame.TypeRequest {
			continue
		}
		auth := []byte{11, 0, 0, 4, 0, 0, 0, 0} // a Certificate with no entries, alone
		if req, err := expat.ParseRequest(fr.Payload, l.role().Peer(), p.CMWType); err == nil {
			if a, err := expattest.NewAttestation(context.Background(), ch, l.role(), req, p, prover); err == nil {
				auth, _ = a.Authenticator()
			}
		}
		if l.write(frame.TypeAuthenticator, auth) != nil {
			return
		}
	}
}

// An attester that answers what it must refuse fails those scenarios, with
// the reason; what it does right still passes.
func TestServeReportsFailures(t *testing.T) {
	pki := testPKI(t)
	p := tlsbind.DefaultProfile()
	ln, pool, ep := listener(t)
	ep.Transport = SeatrxRaw
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	att := Endpoint{Transport: SeatrxRaw, Target: ln.Addr().String(), Roots: pool}
	go func() {
		for ctx.Err() == nil {
			c, err := att.rawConn(ctx)
			if err != nil {
				return
			}
			sloppyAttester(newRawLink(c, &att, "sloppy"), proverFor(p, pki), p)
		}
	}()
	rep, err := Serve(ctx, ServeConfig{Endpoint: ep, Profile: p, Checker: simChecker(t, pki)})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, rep)
	want := map[string]string{
		"well-formed": Pass, "binder-label": Pass, "unknown-extension": Pass, "re-attestation": Pass,
		"cmw-not-offered": Fail + " expat.extension_not_offered", "no-usable-scheme": Fail + " expat.unexpected_message", "context-reuse": Fail + " conformance.answered_bad_request",
	}
	for _, r := range rep.Results {
		w, ok := want[r.Name]
		if !ok {
			w = Fail + " conformance.answered_bad_request"
		}
		got := r.Verdict
		if r.Verdict == Fail {
			got += " " + r.Code
		}
		if got != w {
			t.Errorf("%s: %s, want %s", r.Name, got, w)
		}
	}
	if rep.OK() {
		t.Fatal("a sloppy attester passed")
	}
}

// Over HTTP an authenticator before any challenge is refused
// (conformance.unsolicited_authenticator) and fails the scenario; a
// scenario nobody connects for is reported as not run.
func TestServeHTTPUnsolicited(t *testing.T) {
	pki := testPKI(t)
	p := tlsbind.DefaultProfile()
	ln, pool, ep := listener(t)
	ep.Transport = HTTP
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	codes := make(chan string, 1)
	go func() {
		c, err := client.Dial(ctx, client.Config{Server: "https://" + ln.Addr().String() + "/s/well-formed", Roots: pool, Prover: proverFor(p, pki)})
		if err != nil {
			codes <- err.Error()
			return
		}
		defer c.Close()
		_, err = c.Do(ctx, "POST", "/v1/attest", "application/vnd.seatrx.authenticator", []byte{20, 0, 0, 0})
		codes <- problemCode(err)
	}()
	rep, err := Serve(ctx, ServeConfig{Endpoint: ep, Profile: p, Checker: simChecker(t, pki), Scenarios: []string{"well-formed", "trailing-data"}})
	if err != nil {
		t.Fatal(err)
	}
	logReport(t, rep)
	if code := <-codes; code != "conformance.unsolicited_authenticator" {
		t.Fatalf("the attester was told %q", code)
	}
	if len(rep.Results) != 2 || rep.Results[0].Verdict != Fail || rep.Results[1].Verdict != Inconclusive || rep.OK() {
		t.Fatalf("%+v", rep.Results)
	}
}
