package tlsbind

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seatrx/seatrx/evidence"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/expat"
)

var (
	pkiOnce sync.Once
	testPKI *sim.PKI
)

func simPKI(t testing.TB) *sim.PKI {
	t.Helper()
	pkiOnce.Do(func() {
		p, err := sim.Generate(time.Now().Add(-time.Hour))
		if err != nil {
			panic(err)
		}
		testPKI = p
	})
	return testPKI
}

// pair returns the client and server ends of a real TLS 1.3 loopback connection.
func pair(t testing.TB) (c, s *tls.Conn) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsbind.test"},
		DNSNames: []string{"tlsbind.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	leaf, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan *tls.Conn, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		sc := tls.Server(raw, ServerConfig([]tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, nil))
		if sc.Handshake() != nil {
			ch <- nil
			return
		}
		ch <- sc
	}()
	c, err = tls.Dial("tcp", ln.Addr().String(), ClientConfig(roots, "tlsbind.test"))
	if err != nil {
		t.Fatal(err)
	}
	if s = <-ch; s == nil {
		t.Fatal("server handshake failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func sessions(t testing.TB) (client, server *Session) { return sessionsIn(t, nil, nil) }

// sessionsIn returns both ends of a new connection, the client speaking cp
// and the server sp (nil: the default profile).
func sessionsIn(t testing.TB, cp, sp []Profile) (client, server *Session) {
	c, s := pair(t)
	cs, ss := c.ConnectionState(), s.ConnectionState()
	var err error
	if client, err = NewSession(&cs, expat.Client, cp, 0); err != nil {
		t.Fatal(err)
	}
	if server, err = NewSession(&ss, expat.Server, sp, 0); err != nil {
		t.Fatal(err)
	}
	return client, server
}

// testPolicy is the appraisal part of seatrx's default policy (SEV-SNP and
// TDX accepted, debug forbidden, every configured root) under a test name
// and digest.
func testPolicy() evidence.AppraisalPolicy {
	return evidence.AppraisalPolicy{ID: "tlsbind-test", Digest: sha256.Sum256([]byte("tlsbind-test")), SNP: &snp.Policy{}, TDX: &tdx.Policy{}}
}

func checker(t testing.TB, trustSim bool, pol evidence.AppraisalPolicy) *Checker {
	t.Helper()
	p := simPKI(t)
	cfg := evidence.Config{SNPRoots: []*snp.Roots{snp.ProductionRoots()}, TDXRoots: []*tdx.Roots{tdx.ProductionRoots()}, Policy: pol}
	if trustSim {
		cfg.SNPRoots = append(cfg.SNPRoots, p.SNP.Roots())
		cfg.TDXRoots = append(cfg.TDXRoots, p.TDX.Roots())
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := ear.NewIssuer(k, "seatrx", "test")
	if err != nil {
		t.Fatal(err)
	}
	return &Checker{Verifier: v, Issuer: iss}
}

func snpProver(t testing.TB, cfg sim.SNPGuestConfig) *Prover {
	return &Prover{Attester: evidence.NewSNPAttester(simPKI(t).SNP.Guest(cfg))}
}

func tdxProver(t testing.TB, cfg sim.TDXGuestConfig) *Prover {
	return &Prover{Attester: evidence.NewTDXAttester(simPKI(t).TDX.Guest(cfg))}
}

func TestAttestSNPAndTDX(t *testing.T) {
	for name, prover := range map[string]*Prover{"snp": snpProver(t, sim.SNPGuestConfig{}), "tdx": tdxProver(t, sim.TDXGuestConfig{})} {
		t.Run(name, func(t *testing.T) {
			client, server := sessions(t)
			if _, err := server.Attested(); !hasCode(err, CodeNotAttested) {
				t.Fatalf("fresh session attested? %v", err)
			}
			req, err := server.Challenge()
			if err != nil {
				t.Fatal(err)
			}
			proof, err := client.Respond(context.Background(), prover, req.Raw)
			if err != nil {
				t.Fatalf("Respond: %v", err)
			}
			res, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator)
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			// Simulated evidence is never "affirming": its hardware claim says
			// there is no hardware protection, so the best it gets is "warning".
			if res.Model != ModelBackgroundCheck || res.Appraisal.Status != "warning" || !res.Appraisal.Simulated ||
				len(res.EAR) == 0 || res.Claims.Status != "warning" || !res.Claims.Simulated {
				t.Fatalf("model %s status %s simulated %v EAR %d bytes", res.Model, res.Appraisal.Status, res.Appraisal.Simulated, len(res.EAR))
			}
			got, err := server.Attested()
			if err != nil || got != res {
				t.Fatalf("Attested() = %v, %v", got, err)
			}
			// The same authenticator again: the request was consumed.
			if _, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator); !errors.Is(err, expat.ErrContextReused) {
				t.Fatalf("replay: %v", err)
			}
		})
	}
}

func TestSessionFail(t *testing.T) {
	client, server := sessions(t)
	req, _ := server.Challenge()
	proof, err := client.Respond(context.Background(), snpProver(t, sim.SNPGuestConfig{}), req.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator); err != nil {
		t.Fatal(err)
	}
	server.Fail(errors.New("store unavailable"))
	if _, err := server.Attested(); !hasCode(err, CodeNotAttested) {
		t.Fatalf("attested after Fail: %v", err)
	}
	if _, err := server.Challenge(); err == nil {
		t.Fatal("challenge after Fail")
	}
}

// A prover with a workload key attests that key on every connection (the
// evidence's aik_pub_hash vouches for it), so the checker sees the same AIK
// twice; without one each attestation has its own key. A workload key that
// fits no offered scheme is refused before any evidence is made.
func TestProverWorkloadKey(t *testing.T) {
	wk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	want, _ := x509.MarshalPKIXPublicKey(wk.Public())
	var aiks [][]byte
	for _, key := range []crypto.Signer{wk, wk, nil} {
		p := snpProver(t, sim.SNPGuestConfig{})
		p.Key = key
		client, server := sessions(t)
		req, err := server.Challenge()
		if err != nil {
			t.Fatal(err)
		}
		proof, err := client.Respond(context.Background(), p, req.Raw)
		if err != nil {
			t.Fatal(err)
		}
		res, err := server.Accept(context.Background(), checker(t, true, testPolicy()), proof.Authenticator)
		if err != nil {
			t.Fatal(err)
		}
		// Accept verified the evidence's binding to res.AIK: that is the
		// vouching.
		aiks = append(aiks, res.AIK)
	}
	if !bytes.Equal(aiks[0], want) || !bytes.Equal(aiks[1], want) || bytes.Equal(aiks[2], want) {
		t.Fatal("the workload key was not the authenticator key on both connections, or a fresh key was not fresh")
	}
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p := snpProver(t, sim.SNPGuestConfig{})
	p.Key = p521
	client, server := sessions(t)
	req, _ := server.Challenge()
	if _, err := client.Respond(context.Background(), p, req.Raw); !errors.Is(err, expat.ErrNoCommonScheme) {
		t.Fatalf("a P-521 workload key: %v", err)
	}
}
