package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/expat"
	"github.com/seatrx/seatrx/internal/api"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// clock is a movable test clock.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

type env struct {
	srv   *server.Server
	addr  string
	data  string
	roots *x509.CertPool
	pki   *sim.PKI
	clock *clock
}

func start(t testing.TB, mod func(*server.Config)) *env {
	t.Helper()
	data := t.TempDir()
	clk := &clock{}
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	addr, err := srv.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	e := &env{srv: srv, addr: addr.String(), data: cfg.DataDir, pki: srv.SimulatedPKI(), clock: clk, roots: x509.NewCertPool()}
	if cfg.Dev {
		cas, err := keyfile.LoadCertificates(filepath.Join(server.DevDir(cfg.DataDir), "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		e.roots.AddCert(cas[0])
	}
	return e
}

func (e *env) dial(t *testing.T, p *tlsbind.Prover) *client.Conn {
	t.Helper()
	return e.dialIn(t, p, tlsbind.Profile{})
}

// dialIn is dial with the client attesting in prof (zero: the default).
func (e *env) dialIn(t *testing.T, p *tlsbind.Prover, prof tlsbind.Profile) *client.Conn {
	t.Helper()
	checker, err := client.NewChecker(e.pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(context.Background(), client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: p, Checker: checker, Profile: prof})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) snp(cfg sim.SNPGuestConfig) *tlsbind.Prover {
	return &tlsbind.Prover{Attester: evidence.NewSNPAttester(e.pki.SNP.Guest(cfg))}
}

func (e *env) tdx(cfg sim.TDXGuestConfig) *tlsbind.Prover {
	return &tlsbind.Prover{Attester: evidence.NewTDXAttester(e.pki.TDX.Guest(cfg))}
}

// wantProblem asserts err is the server's refusal with code.
func wantProblem(t *testing.T, err error, code string) {
	t.Helper()
	var p *api.Problem
	if !errors.As(err, &p) {
		t.Fatalf("got %v, want a problem %q", err, code)
	}
	if p.Code != code || p.Type != api.ProblemTypePrefix+code {
		t.Fatalf("got problem %q (%s), want %q", p.Code, p.Detail, code)
	}
}

func TestEndToEndMutualSNPAndTDX(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	for name, p := range map[string]*tlsbind.Prover{"snp": e.snp(sim.SNPGuestConfig{}), "tdx": e.tdx(sim.TDXGuestConfig{})} {
		t.Run(name, func(t *testing.T) {
			c := e.dial(t, p)
			if st := c.ConnectionState(); st.Version != tls.VersionTLS13 || st.NegotiatedProtocol != "h2" || st.DidResume {
				t.Fatalf("TLS %x %q resumed=%v", st.Version, st.NegotiatedProtocol, st.DidResume)
			}
			srvRes, err := c.AttestServer(ctx)
			if err != nil {
				t.Fatalf("server attestation: %v", err)
			}
			if !srvRes.Appraisal.Simulated {
				t.Fatal("server evidence not marked simulated")
			}
			earJWT, err := c.Attest(ctx)
			if err != nil {
				t.Fatalf("attest: %v", err)
			}
			if len(earJWT) == 0 {
				t.Fatal("empty EAR")
			}
			rr, err := c.RequestReceipt(ctx, map[string]any{"op": "deploy", "artifact": "sha256:abcd"}, "")
			if err != nil {
				t.Fatalf("receipt: %v", err)
			}
			_, keysDoc, err := c.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := receipt.ParseKeys(keysDoc)
			if err != nil {
				t.Fatal(err)
			}
			for _, mode := range []receipt.Mode{receipt.ModeOnline, receipt.ModeAudit} {
				rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: mode, Now: e.clock.Now(), AllowSimulated: true, SimulatedPKI: e.pki})
				if err != nil || !rep.OK || rep.Status(receipt.CheckTrustAnchors) != receipt.StatusPass {
					t.Fatalf("mode %d: report %+v err %v", mode, rep, err)
				}
			}
			// Simulated roots of another PKI are not these.
			if rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: otherPKI(t)}); err == nil && rep.OK {
				t.Fatal("receipt verified against another simulated PKI")
			}
			// Without explicit trust in simulated evidence the receipt fails.
			if rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit}); err == nil && rep.OK {
				t.Fatal("simulated receipt verified without AllowSimulated")
			}
			r, err := receipt.ParseReceipt(mustBundle(t, rr.Bundle).Receipt)
			if err != nil {
				t.Fatal(err)
			}
			if r.ContextSnapshot == nil || !r.ContextSnapshot.Simulated || len(r.ContextSnapshot.TrustAnchors) == 0 || r.ContextSnapshot.Mutual == nil {
				t.Fatalf("snapshot %+v", r.ContextSnapshot)
			}
			// The snapshot records the endorsement the appraisal relied on and
			// the instance identifiers, from the platform-neutral claims.
			snap := r.ContextSnapshot
			var wantColl string
			var wantDigest [32]byte
			var wantIDs map[string][]byte
			if name == "snp" {
				chip := e.pki.SNP.ChipID()
				wantColl, wantDigest, wantIDs = "vcek", sha256.Sum256(e.pki.SNP.VCEK().Raw), map[string][]byte{"chip_id": chip[:]}
			} else {
				q, err := e.pki.TDX.Guest(sim.TDXGuestConfig{}).Quote([64]byte{})
				if err != nil {
					t.Fatal(err)
				}
				pck, _ := pem.Decode(q[bytes.Index(q, []byte("-----BEGIN CERTIFICATE-----")):]) // the chain's first entry is the PCK leaf
				wantColl, wantDigest = "pck", sha256.Sum256(pck.Bytes)
			}
			if len(snap.Collateral) != 1 || snap.Collateral[0].Name != wantColl || snap.Collateral[0].Digest.Alg != receipt.HashSHA256 ||
				!bytes.Equal(snap.Collateral[0].Digest.Value, wantDigest[:]) {
				t.Fatalf("snapshot collateral %+v, want %s %x", snap.Collateral, wantColl, wantDigest)
			}
			if len(snap.Identifiers) != len(wantIDs) || !bytes.Equal(snap.Identifiers["chip_id"], wantIDs["chip_id"]) {
				t.Fatalf("snapshot identifiers %x, want %x", snap.Identifiers, wantIDs)
			}
			if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
				t.Fatalf("redeem: %v", err)
			}
			_, err = c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
			wantProblem(t, err, "receipt.token_consumed")
			// One receipt per attestation.
			_, err = c.RequestReceipt(ctx, map[string]any{"op": "again"}, "")
			wantProblem(t, err, "server.attestation_used")
			// Re-attest on the same connection, then a second receipt is fine.
			if _, err := c.Attest(ctx); err != nil {
				t.Fatalf("re-attest: %v", err)
			}
			if _, err := c.RequestReceipt(ctx, map[string]any{"op": "again"}, ""); err != nil {
				t.Fatalf("receipt after re-attestation: %v", err)
			}
		})
	}
}

var (
	otherOnce sync.Once
	other     *sim.PKI
)

func otherPKI(t *testing.T) *sim.PKI {
	otherOnce.Do(func() {
		p, err := sim.Generate(time.Now().Add(-time.Hour))
		if err != nil {
			panic(err)
		}
		other = p
	})
	return other
}

func mustBundle(t *testing.T, b []byte) *receipt.Bundle {
	t.Helper()
	bb, err := receipt.UnmarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return bb
}

// fixedAttester replays captured evidence whatever REPORTDATA it is asked for.
type fixedAttester struct {
	platform evidence.Platform
	cmw      []byte
}

func (f fixedAttester) Platform() evidence.Platform                      { return f.platform }
func (f fixedAttester) Attest(context.Context, [64]byte) ([]byte, error) { return f.cmw, nil }

type remapAttester struct {
	inner evidence.Attester
	remap func([64]byte) [64]byte
}

func (r remapAttester) Platform() evidence.Platform { return r.inner.Platform() }
func (r remapAttester) Attest(ctx context.Context, rd [64]byte) ([]byte, error) {
	return r.inner.Attest(ctx, r.remap(rd))
}

func TestEndToEndAttacks(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()

	t.Run("evidence relayed from another connection", func(t *testing.T) {
		// The victim attests on its own connection; the attacker captures its
		// evidence and presents it, with its own key, on another connection.
		var captured []byte
		victim := e.dial(t, &tlsbind.Prover{Attester: captureAttester{e.snp(sim.SNPGuestConfig{}).Attester, &captured}})
		if _, err := victim.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		attacker := e.dial(t, &tlsbind.Prover{Attester: fixedAttester{evidence.PlatformSNP, captured}})
		_, err := attacker.Attest(ctx)
		// The captured evidence names the victim's key in its aik_pub_hash,
		// which the relying party looks at first: evidence made for another
		// key (a relay that kept the victim's key would be binding_connection).
		wantProblem(t, err, "attest.binding_key")
	})
	t.Run("authenticator relayed from another connection", func(t *testing.T) {
		a, b := e.dial(t, e.snp(sim.SNPGuestConfig{})), e.dial(t, e.snp(sim.SNPGuestConfig{}))
		reqB, err := b.Do(ctx, "POST", api.PathChallenge, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		// The honest client answers B's request, but on connection A's channel.
		sess := newClientSession(t, a)
		proof, err := sess.Respond(ctx, e.snp(sim.SNPGuestConfig{}), reqB)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, proof.Authenticator)
		wantProblem(t, err, "expat.bad_signature")
	})
	t.Run("replayed request context", func(t *testing.T) {
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		req, _ := c.Do(ctx, "POST", api.PathChallenge, "", nil)
		sess := newClientSession(t, c)
		proof, err := sess.Respond(ctx, e.snp(sim.SNPGuestConfig{}), req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, proof.Authenticator); err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, proof.Authenticator)
		wantProblem(t, err, "expat.context_reused")
	})
	t.Run("authenticator without a request", func(t *testing.T) {
		other := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		req, _ := other.Do(ctx, "POST", api.PathChallenge, "", nil)
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		proof, err := newClientSession(t, c).Respond(ctx, e.snp(sim.SNPGuestConfig{}), req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, proof.Authenticator)
		wantProblem(t, err, "expat.context_unknown")
	})
	t.Run("cmw_attestation not offered", func(t *testing.T) {
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		req, err := expatRequestWithoutCMW()
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(ctx, "POST", api.PathAttestServe, api.MediaRequest, req)
		wantProblem(t, err, "attest.cmw_not_offered")
	})
	t.Run("wrong binder label", func(t *testing.T) {
		odd := tlsbind.DefaultProfile()
		odd.ID, odd.Label = "odd-label", "Attestation Binding"
		_, err := e.dialIn(t, e.snp(sim.SNPGuestConfig{}), odd).Attest(ctx)
		wantProblem(t, err, "attest.binding_connection")
	})
	t.Run("REPORTDATA of another key", func(t *testing.T) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		spki, _ := x509.MarshalPKIXPublicKey(k.Public())
		h := sha256.Sum256(spki)
		p := &tlsbind.Prover{Attester: remapAttester{e.snp(sim.SNPGuestConfig{}).Attester, func(rd [64]byte) [64]byte { copy(rd[32:], h[:]); return rd }}}
		_, err := e.dial(t, p).Attest(ctx)
		wantProblem(t, err, "attest.binding_key")
	})
	t.Run("debug TEE", func(t *testing.T) {
		_, err := e.dial(t, e.snp(sim.SNPGuestConfig{Debug: true})).Attest(ctx)
		wantProblem(t, err, "snp.debug")
		_, err = e.dial(t, e.tdx(sim.TDXGuestConfig{Debug: true})).Attest(ctx)
		wantProblem(t, err, "tdx.debug")
	})
	t.Run("receipt on an un-attested connection", func(t *testing.T) {
		_, err := e.dial(t, e.snp(sim.SNPGuestConfig{})).RequestReceipt(ctx, map[string]any{"op": "x"}, "")
		wantProblem(t, err, "attest.not_attested")
	})
	t.Run("request on a second connection of the same client", func(t *testing.T) {
		p := e.snp(sim.SNPGuestConfig{})
		first := e.dial(t, p)
		if _, err := first.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		_, err := e.dial(t, p).RequestReceipt(ctx, map[string]any{"op": "x"}, "")
		wantProblem(t, err, "attest.not_attested")
	})
	t.Run("expired and reused execution token", func(t *testing.T) {
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		if _, err := c.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		rr, err := c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
		if err != nil {
			t.Fatal(err)
		}
		wrong := append([]byte{}, rr.TokenSecret...)
		wrong[0] ^= 1
		_, err = c.Redeem(ctx, rr.ReceiptID, wrong)
		wantProblem(t, err, "receipt.token_mismatch")
		e.clock.Add(time.Hour)
		defer e.clock.Add(-time.Hour)
		_, err = c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
		wantProblem(t, err, "receipt.token_expired")
	})
	t.Run("stale attestation", func(t *testing.T) {
		c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
		if _, err := c.Attest(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Add(10 * time.Minute)
		defer e.clock.Add(-10 * time.Minute)
		_, err := c.RequestReceipt(ctx, map[string]any{"op": "late"}, "")
		wantProblem(t, err, "server.attestation_stale")
	})
	t.Run("session resumption", func(t *testing.T) {
		// The server never issues tickets, so a client that offers to resume
		// still gets a full handshake, and tlsbind refuses resumed sessions.
		cfg := tlsbind.ClientConfig(e.roots, "127.0.0.1")
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
		for i := 0; i < 2; i++ {
			c, err := tls.Dial("tcp", e.addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, io.LimitReader(c, 0))
			if c.ConnectionState().DidResume {
				t.Fatal("session resumed")
			}
			c.Close()
		}
		st := tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, DidResume: true, CipherSuite: tls.TLS_AES_128_GCM_SHA256}
		var te *tlsbind.Error
		if _, err := tlsbind.Channel(&st); !errors.As(err, &te) || te.Code != tlsbind.CodeResumed {
			t.Fatalf("resumed state accepted: %v", err)
		}
	})
}

type captureAttester struct {
	inner evidence.Attester
	out   *[]byte
}

func (c captureAttester) Platform() evidence.Platform { return c.inner.Platform() }
func (c captureAttester) Attest(ctx context.Context, rd [64]byte) ([]byte, error) {
	b, err := c.inner.Attest(ctx, rd)
	*c.out = b
	return b, err
}

func TestEndToEndPolicyAndTrust(t *testing.T) {
	ctx := context.Background()
	t.Run("measurement not allowed", func(t *testing.T) {
		pol := filepath.Join(t.TempDir(), "policy.yaml")
		os.WriteFile(pol, []byte("id: strict\nsnp:\n  measurements: ["+repeat("ab", 48)+"]\ntdx: {}\n"), 0o600)
		e := start(t, func(c *server.Config) { c.PolicyFile = pol })
		_, err := e.dial(t, e.snp(sim.SNPGuestConfig{})).Attest(ctx)
		wantProblem(t, err, "snp.measurement")
	})
	t.Run("simulated evidence against a production trust store", func(t *testing.T) {
		dev := start(t, nil) // only to make a simulated PKI and a CA
		dir := t.TempDir()
		certFile, keyFile, roots := serverCert(t, dir)
		prod := start(t, func(c *server.Config) {
			c.Dev = false
			c.TLSCertFile, c.TLSKeyFile, c.Issuer = certFile, keyFile, "urn:seatrx:issuer:test"
		})
		prod.roots, prod.pki = roots, dev.pki
		_, err := prod.dial(t, prod.snp(sim.SNPGuestConfig{})).Attest(ctx)
		wantProblem(t, err, "snp.trust_anchor")
		_, err = prod.dial(t, prod.tdx(sim.TDXGuestConfig{})).Attest(ctx)
		wantProblem(t, err, "tdx.trust_anchor")
	})
	t.Run("production refuses simulated roots unless forced", func(t *testing.T) {
		dev := start(t, nil)
		certFile, keyFile, _ := serverCert(t, t.TempDir())
		_, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), TLSCertFile: certFile, TLSKeyFile: keyFile,
			Issuer: "urn:seatrx:issuer:test", TrustSimulated: filepath.Join(server.DevDir(dev.data), "sim-pki")})
		var ce *server.ConfigError
		if !errors.As(err, &ce) || !slices.Equal(ce.Settings, []string{"trust-simulated", "allow-simulated"}) {
			t.Fatalf("production server with simulated roots: %v", err)
		}
	})
	t.Run("passport model", func(t *testing.T) {
		vk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKIXPublicKey(vk.Public())
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		pol := filepath.Join(t.TempDir(), "policy.yaml")
		os.WriteFile(pol, []byte("id: passport\nsnp: {}\ntdx: {}\npassport:\n  accepted_statuses: [affirming, warning]\n  verifiers:\n    - id: external\n      alg: ES256\n      public_key_pem: |\n"+indent(pemKey, "        ")), 0o600)
		e := start(t, func(c *server.Config) { c.PolicyFile = pol })
		checker, err := client.NewChecker(e.pki, nil)
		if err != nil {
			t.Fatal(err)
		}
		iss, err := ear.NewIssuer(vk, "external", "test")
		if err != nil {
			t.Fatal(err)
		}
		p := e.snp(sim.SNPGuestConfig{})
		p.Passport = &tlsbind.LocalPassport{Verifier: checker.Verifier, Issuer: iss}
		c := e.dial(t, p)
		if _, err := c.Attest(ctx); err != nil {
			t.Fatalf("passport attest: %v", err)
		}
		rr, err := c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
		if err != nil {
			t.Fatalf("receipt: %v", err)
		}
		// The receipt carries the external verifier's EAR; anyone with the
		// server's keys document (which lists the trusted passport verifiers)
		// can verify it offline.
		_, kd, _ := c.Keys(ctx)
		keys, _ := receipt.ParseKeys(kd)
		rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki})
		if err != nil || !rep.OK {
			t.Fatalf("passport receipt does not verify offline: %+v %v", rep, err)
		}
		// An EAR from an unknown verifier is refused.
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		iss2, _ := ear.NewIssuer(other, "rogue", "test")
		p2 := e.snp(sim.SNPGuestConfig{})
		p2.Passport = &tlsbind.LocalPassport{Verifier: checker.Verifier, Issuer: iss2}
		_, err = e.dial(t, p2).Attest(ctx)
		var prob *api.Problem
		if !errors.As(err, &prob) || (prob.Code != ear.CodeKey && prob.Code != ear.CodeSignature) {
			t.Fatalf("rogue verifier: %v", err)
		}
	})
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

func indent(s, pre string) string {
	out := ""
	for _, line := range splitLines(s) {
		out += pre + line + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		out = append(out, s[:i])
		if i < len(s) {
			i++
		}
		s = s[i:]
	}
	return out
}

// serverCert writes a CA-signed certificate for 127.0.0.1 and returns the files and the CA pool.
func serverCert(t *testing.T, dir string) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	ca, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: bigOne(), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caT.Subject.CommonName = "test CA"
	caDER, _ := x509.CreateCertificate(rand.Reader, caT, caT, ca.Public(), ca)
	caCert, _ := x509.ParseCertificate(caDER)
	lT := &x509.Certificate{SerialNumber: bigOne(), DNSNames: []string{"localhost"}, IPAddresses: ipLoopback(),
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	lDER, _ := x509.CreateCertificate(rand.Reader, lT, caCert, leaf.Public(), ca)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	keyfile.WriteCertificate(certFile, lDER)
	keyfile.WriteKey(keyFile, leaf)
	roots = x509.NewCertPool()
	roots.AddCert(caCert)
	return certFile, keyFile, roots
}

// Concurrent receipt requests on one attested HTTP/2 connection: exactly
// one attestation, so exactly one receipt.
func TestEndToEndOneReceiptPerAttestationUnderConcurrency(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := c.RequestReceipt(ctx, map[string]any{"op": "race", "i": i}, "")
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		if err == nil {
			ok++
			continue
		}
		wantProblem(t, err, "server.attestation_used")
	}
	if ok != 1 {
		t.Fatalf("%d receipts from one attestation, want 1", ok)
	}
}

func TestEndToEndLimitsMetricsWellKnown(t *testing.T) {
	e := start(t, func(c *server.Config) { c.MaxUnattestedConns = 2; c.MetricsOnMain = true })
	ctx := context.Background()
	// Two un-attested connections fill the limit; a third (from the same
	// address: nothing to evict) is answered 503 and closed.
	a := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	b := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	third, err := client.Dial(ctx, client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: e.snp(sim.SNPGuestConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	_, err = third.Attest(ctx)
	wantProblem(t, err, "server.too_many_connections")
	third.Close()
	// Attesting frees a slot.
	if _, err := a.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The default profile is draft-fossati-seat-expat-04's.
	if caps.CMWExtensionType != 0xFF00 || caps.BinderLabel != "EXPORTER-cmw-attestation" || !caps.Simulated || !caps.ServerAttester ||
		len(caps.Profiles) != 1 || caps.Profiles[0] != (api.Profile{ID: "expat-04", ExporterLabel: "EXPORTER-cmw-attestation", ExportedLength: 32, CMWExtensionType: 0xFF00, CMWData: "cmw", ReportData: "binding-aik"}) {
		t.Fatalf("capabilities %+v", caps)
	}
	_, _ = b.Attest(ctx)
	if _, err := e.dial(t, e.snp(sim.SNPGuestConfig{Debug: true})).Attest(ctx); err == nil {
		t.Fatal("debug guest attested")
	}
	m, err := c.Do(ctx, "GET", "/metrics", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`seatrx_attestations_total{model="background-check",reason="",result="ok"} 2`,
		`seatrx_attestations_total{model="",reason="snp.debug",result="refused"} 1`,
		`seatrx_admission_refusals_total{reason="unattested_cap"} 1`,
		`seatrx_connections{state="attested"} 2`,
		`seatrx_attestation_duration_seconds_count 3`,
		`seatrx_build_info{goversion="` + runtime.Version() + `",revision="`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if h, err := c.Do(ctx, "GET", "/healthz", "", nil); err != nil || string(h) != "ok\n" {
		t.Fatalf("healthz %q %v", h, err)
	}
}

func TestEndToEndHTTP1(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	checker, err := client.NewChecker(e.pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Config{Server: "https://" + e.addr, Roots: e.roots, Prover: e.tdx(sim.TDXGuestConfig{}), Checker: checker, ForceHTTP1: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Fatalf("ALPN %q", p)
	}
	if _, err := c.AttestServer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "h1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret); err != nil {
		t.Fatal(err)
	}
	_, err = c.RequestReceipt(ctx, map[string]any{"op": "h1"}, "")
	wantProblem(t, err, "server.attestation_used")
}

func pemPublic(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// Approvers and threshold come from the verifier's policy, never from the
// receipt. A policy written for 1-of-1 with the appraiser's key named keeps
// its meaning: the receipt at once, its approval under the policy's id.
func TestEndToEndPolicyApprovers(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	appr, err := keyfile.LoadOrCreateP256(filepath.Join(data, "keys", "appraiser.pem"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	writePolicy := func(approvers map[string]any, threshold int) string {
		y := "id: approvers\nsnp: {}\ntdx: {}\nreceipts:\n  threshold: " + fmt.Sprint(threshold) + "\n  approvers:\n"
		for id, k := range approvers {
			y += "    - id: " + id + "\n      public_key_pem: |\n" + indent(pemPublic(t, k), "        ")
		}
		p := filepath.Join(t.TempDir(), "policy.yaml")
		os.WriteFile(p, []byte(y), 0o600)
		return p
	}
	good := writePolicy(map[string]any{"security-officer": appr.Public(), "cfo": other.Public()}, 1)
	e := start(t, func(c *server.Config) { c.DataDir = data; c.PolicyFile = good })
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, kd, _ := c.Keys(ctx)
	keys, _ := receipt.ParseKeys(kd)
	pol, err := policy.Load(good)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: e.pki, Policy: pol})
	if err != nil || !rep.OK {
		t.Fatalf("verify under the policy: %+v %v", rep, err)
	}
	if r, _ := receipt.ParseReceipt(mustBundle(t, rr.Bundle).Receipt); len(r.ApproverIdentities) != 1 || r.ApproverIdentities[0].ID != "security-officer" {
		t.Fatalf("approver identities %+v", r.ApproverIdentities)
	}
	// A verifier whose policy trusts only another approver rejects it.
	strict, _ := policy.Load(writePolicy(map[string]any{"cfo": other.Public()}, 1))
	if rep, err := verify.Bundle(rr.Bundle, keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, Policy: strict}); err == nil && rep.OK {
		t.Fatal("receipt verified without an approval from the policy's approvers")
	}
	// A policy needing more than the appraiser: the fast path refuses and
	// names the way (a pending authorization).
	more := writePolicy(map[string]any{"security-officer": appr.Public(), "cfo": other.Public()}, 2)
	e2 := start(t, func(c *server.Config) { c.DataDir = t.TempDir(); c.PolicyFile = more })
	c2 := e2.dial(t, e2.snp(sim.SNPGuestConfig{}))
	if _, err := c2.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = c2.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
	wantProblem(t, err, "authz.approval_required")
	// The attestation was not used up by the refusal.
	if v, err := c2.CreateAuthorization(ctx, map[string]any{"op": "x"}, ""); err != nil || v.State != "pending" {
		t.Fatalf("authorization after the refusal: %+v %v", v, err)
	}
	// An approver under the appraiser's id with another key is refused.
	if _, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true,
		PolicyFile: writePolicy(map[string]any{receipt.AppraiserID: other.Public()}, 1)}); err == nil {
		t.Fatal("server started with another key under the appraiser's id")
	}
}

// A storage failure during redemption is the server's fault: 500
// server.internal, never server.token_unknown (404) or a receipt.token_*
// refusal (403). An unknown receipt
// id stays a clear 404.
func TestEndToEndRedeemStorageFailureIsInternal(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	rr, err := c.RequestReceipt(ctx, map[string]any{"op": "x"}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Redeem(ctx, []byte("no-such-receipt!"), rr.TokenSecret)
	wantProblem(t, err, "server.token_unknown")

	db, err := sql.Open("sqlite", filepath.Join(e.data, "seatrx.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, breakIt := range []string{`DROP TABLE execution_tokens`, `ALTER TABLE receipts RENAME TO receipts_gone`} {
		if _, err := db.Exec(breakIt); err != nil {
			t.Fatal(err)
		}
		_, err = c.Redeem(ctx, rr.ReceiptID, rr.TokenSecret)
		wantProblem(t, err, "server.internal")
		var p *api.Problem
		if errors.As(err, &p); p.Status != 500 || !strings.Contains(p.Detail, "reference ") || strings.Contains(p.Detail, "execution_tokens") || strings.Contains(p.Detail, "receipts") {
			t.Fatalf("after %q: status %d detail %q", breakIt, p.Status, p.Detail)
		}
	}
}

// The HTTP layer's own refusals use the server namespace, each with its status.
func TestEndToEndServerProblems(t *testing.T) {
	e := start(t, nil)
	ctx := context.Background()
	c := e.dial(t, e.snp(sim.SNPGuestConfig{}))
	status := func(err error) int {
		var p *api.Problem
		if errors.As(err, &p) {
			return p.Status
		}
		return 0
	}
	_, err := c.Do(ctx, "POST", api.PathAttest, api.MediaAuthenticator, make([]byte, expat.MaxAuthenticatorSize+1))
	wantProblem(t, err, "server.body_too_large")
	if status(err) != 413 {
		t.Fatalf("status %d", status(err))
	}
	if _, err := c.Attest(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, method, path, ctype, body, code string
		status                                int
	}{
		{"receipt id not hex", "GET", "/v1/receipts/zz", "", "", "server.bad_receipt_id", 400},
		{"no such receipt", "GET", "/v1/receipts/00", "", "", "server.receipt_not_found", 404},
		{"receipt request of another media type", "POST", api.PathReceipts, "text/plain", `{}`, "server.bad_receipt_request", 400},
		{"redemption not JSON", "POST", api.PathRedeem, "application/json", `[`, "server.bad_redeem_request", 400},
		{"redemption of an unknown receipt", "POST", api.PathRedeem, "application/json",
			`{"receipt_id":"00","secret":"` + strings.Repeat("00", receipt.TokenSecretSize) + `"}`, "server.token_unknown", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Do(ctx, tc.method, tc.path, tc.ctype, []byte(tc.body))
			wantProblem(t, err, tc.code)
			if status(err) != tc.status {
				t.Fatalf("status %d, want %d", status(err), tc.status)
			}
		})
	}
}
