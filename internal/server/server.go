// Package server is the seatrx attested receipt server: an HTTP API (HTTP/2
// and HTTP/1.1) on a TLS 1.3 listener where each connection carries its own
// attestation state, and receipts are issued only on attested connections.
package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/seatrx/seatrx/evidence"
	snpattest "github.com/seatrx/seatrx/evidence/attest/snp"
	tdxattest "github.com/seatrx/seatrx/evidence/attest/tdx"
	"github.com/seatrx/seatrx/evidence/ear"
	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Config is the server's configuration (flags and config file map onto it).
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:8443".
	Addr string
	// DataDir holds keys/, the SQLite store and, in dev mode, dev/.
	DataDir string
	// Dev: self-signed TLS certificate, simulated SNP and TDX trusted, a
	// simulated attester for mutual attestation, simulated results accepted.
	Dev bool
	// TLSCertFile and TLSKeyFile are the server's certificate chain and key
	// (PEM); required unless Dev.
	TLSCertFile, TLSKeyFile string
	// PolicyFile is the appraisal policy (YAML or JSON); "" = policy.Default().
	PolicyFile string
	// TrustSimulated is a simulated PKI directory (evidence/sim) whose roots
	// are trusted in addition to the vendors'. Never set in production.
	TrustSimulated string
	// AllowSimulated must be true for a non-dev server to start with
	// TrustSimulated: a production configuration refuses simulated anchors
	// unless forced.
	AllowSimulated bool
	// Attester is the server's own evidence source for mutual attestation:
	// "snp", "tdx", "sim-snp", "sim-tdx", or "" (mutual attestation refused).
	Attester string
	// TDXCollateralDir is a cache of Intel PCS collateral; "" = none.
	TDXCollateralDir string
	// FetchCacheDir enables online collateral fetching (AMD KDS for missing
	// VCEKs, Intel PCS for TDX collateral) through this cache directory
	// (created 0700); "" = fully offline, the default.
	FetchCacheDir string
	// FetchTimeout bounds one KDS/PCS request; 0 = fetch.DefaultTimeout.
	FetchTimeout time.Duration
	// FetchMaxAge bounds how long a fetched response is reused; 0 = fetch.DefaultMaxAge.
	FetchMaxAge time.Duration
	// Issuer is the receipt issuer URI (CWT iss); default "urn:seatrx:issuer:<host>".
	Issuer string
	// Limits.
	MaxUnattestedConns int           // default 256
	MaxAttempts        int           // per connection; default tlsbind.DefaultMaxAttempts
	AttestationMaxAge  time.Duration // a receipt needs an attestation at most this old; default receipt.DefaultAttestationMaxAge
	// Logger; nil = slog.Default().
	Logger *slog.Logger
	// Now is the server's clock; nil = time.Now (tests move it).
	Now func() time.Time
}

// Server is a configured seatrx server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pol      *policy.Policy
	polCBOR  []byte
	checker  *tlsbind.Checker
	prover   *tlsbind.Prover // nil: mutual attestation unavailable
	issuer   *receipt.Signer
	approver *receipt.Signer
	earKey   crypto.Signer
	store    *store.Store
	tlsCfg   *tls.Config
	simPKI   *sim.PKI
	accepted map[string]bool // EAR statuses on which a receipt may be issued
	metrics  *metrics

	unattested atomic.Int64
	connSeq    atomic.Uint64
	http       *http.Server
	ln         net.Listener
}

// New builds a server from cfg: loads or creates its keys, opens the store,
// loads the policy and trust anchors, and (in dev mode) creates the dev
// certificate authority and simulated PKI under DataDir/dev.
func New(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: DataDir is required")
	}
	if cfg.MaxUnattestedConns <= 0 {
		cfg.MaxUnattestedConns = 256
	}
	if cfg.AttestationMaxAge <= 0 {
		cfg.AttestationMaxAge = receipt.DefaultAttestationMaxAge
	}
	s := &Server{cfg: cfg, log: cfg.Logger, accepted: map[string]bool{ear.StatusAffirming: true}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	var err error
	if s.pol, err = loadPolicy(cfg.PolicyFile); err != nil {
		return nil, err
	}
	if s.polCBOR, err = s.pol.CanonicalCBOR(); err != nil {
		return nil, fmt.Errorf("server: policy: %w", err)
	}
	if err := s.loadKeys(); err != nil {
		return nil, err
	}
	var certs []tls.Certificate
	if cfg.Dev {
		if certs, err = s.setupDev(); err != nil {
			return nil, err
		}
	} else {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("server: --tls-cert and --tls-key are required outside --dev")
		}
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: TLS certificate: %w", err)
		}
		certs = []tls.Certificate{c}
		if cfg.TrustSimulated != "" {
			if !cfg.AllowSimulated {
				return nil, errors.New("server: refusing to trust simulated TEE roots in a production configuration; pass --allow-simulated to force it")
			}
			if s.simPKI, err = sim.Load(cfg.TrustSimulated); err != nil {
				return nil, fmt.Errorf("server: --trust-simulated: %w", err)
			}
		}
	}
	if s.simPKI != nil {
		// Simulated evidence is never "affirming" (no hardware protection);
		// trusting it explicitly means accepting its "warning" results.
		s.accepted[ear.StatusWarning] = true
	}
	if err := s.setupVerifier(); err != nil {
		return nil, err
	}
	if err := s.setupAttester(); err != nil {
		return nil, err
	}
	if s.store, err = store.OpenSQLite(filepath.Join(cfg.DataDir, "seatrx.db")); err != nil {
		return nil, fmt.Errorf("server: store: %w", err)
	}
	s.tlsCfg = tlsbind.ServerConfig(certs, nil)
	s.metrics = newMetrics()
	s.http = &http.Server{
		Handler:           s.routes(),
		ConnContext:       s.connContext,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func loadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return policy.Default(), nil
	}
	p, err := policy.Load(path)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return p, nil
}

func (s *Server) loadKeys() error {
	dir := filepath.Join(s.cfg.DataDir, "keys")
	iss, err := keyfile.LoadOrCreateP256(filepath.Join(dir, "issuer.pem"))
	if err != nil {
		return err
	}
	appr, err := keyfile.LoadOrCreateP256(filepath.Join(dir, "appraiser.pem"))
	if err != nil {
		return err
	}
	if s.earKey, err = keyfile.LoadOrCreateP256(filepath.Join(dir, "verifier.pem")); err != nil {
		return err
	}
	name := s.cfg.Issuer
	if name == "" {
		host, _, _ := net.SplitHostPort(s.cfg.Addr)
		if host == "" {
			host = "localhost"
		}
		name = "urn:seatrx:issuer:" + host
	}
	if s.issuer, err = receipt.NewSigner(iss, name); err != nil {
		return fmt.Errorf("server: issuer key: %w", err)
	}
	id, err := s.approverID(appr.Public())
	if err != nil {
		return err
	}
	if s.approver, err = receipt.NewSigner(appr, id); err != nil {
		return fmt.Errorf("server: appraiser key: %w", err)
	}
	s.approver = s.approver.WithRole("appraiser")
	return nil
}

// approverID returns the approver id under which this server's appraiser key
// signs approvals. With no approvers in the policy it is receipt.AppraiserID
// (1-of-1), the id a verifier gives the keys document's appraiser key.
// A policy that lists approvers must list this key and need one approval:
// the server cannot collect approvals from remote approvers yet, and issuing
// receipts that a verifier with this policy would reject is worse than not
// starting.
func (s *Server) approverID(pub crypto.PublicKey) (string, error) {
	r := s.pol.Receipts
	if len(r.Approvers) == 0 {
		return receipt.AppraiserID, nil
	}
	for _, a := range r.Approvers {
		k, err := parsePublicKeyPEM(a.PublicKeyPEM)
		if err != nil {
			return "", fmt.Errorf("server: policy approver %q: %w", a.ID, err)
		}
		if eq, ok := k.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(pub) {
			if r.Threshold > 1 {
				return "", fmt.Errorf("server: the policy requires %d approvals but this server can collect only its own (remote approvers are not supported yet)", r.Threshold)
			}
			return a.ID, nil
		}
	}
	return "", fmt.Errorf("server: the policy lists approvers but not this server's appraiser key (%s); add it, or remove the approver list for 1-of-1 by the appraiser",
		filepath.Join(s.cfg.DataDir, "keys", "appraiser.pem"))
}

func (s *Server) setupVerifier() error {
	cfg := evidence.Config{
		SNPRoots: []*snp.Roots{snp.ProductionRoots()},
		TDXRoots: []*tdx.Roots{tdx.ProductionRoots()},
		Policy:   s.pol.AppraisalPolicy(),
		SNPCache: snp.NewChainCache(1024),
		TDXCache: tdx.NewChainCache(1024),
	}
	if s.simPKI != nil {
		cfg.SNPRoots = append(cfg.SNPRoots, s.simPKI.SNP.Roots())
		cfg.TDXRoots = append(cfg.TDXRoots, s.simPKI.TDX.Roots())
	}
	if s.cfg.TDXCollateralDir != "" {
		c, err := tdx.LoadCollateral(s.cfg.TDXCollateralDir)
		if err != nil {
			return fmt.Errorf("server: TDX collateral: %w", err)
		}
		cfg.TDXCollateral = c
	}
	if s.cfg.FetchCacheDir != "" {
		g, err := fetch.New(s.cfg.FetchCacheDir, s.cfg.FetchTimeout, s.cfg.FetchMaxAge)
		if err != nil {
			return fmt.Errorf("server: collateral fetch cache: %w", err)
		}
		cfg.Getter = g
	}
	v, err := evidence.NewVerifier(cfg)
	if err != nil {
		return fmt.Errorf("server: verifier: %w", err)
	}
	iss, err := ear.NewIssuer(s.earKey, "seatrx", "seatrx-server")
	if err != nil {
		return fmt.Errorf("server: EAR issuer: %w", err)
	}
	s.checker = &tlsbind.Checker{Verifier: v, Issuer: iss, Now: s.now}
	if pp := s.pol.Passport; pp != nil {
		pol := &tlsbind.PassportPolicy{AcceptedStatuses: pp.AcceptedStatuses, MaxAge: time.Duration(pp.MaxAge)}
		for _, v := range pp.Verifiers {
			k, err := parsePublicKeyPEM(v.PublicKeyPEM)
			if err != nil {
				return fmt.Errorf("server: passport verifier %q: %w", v.ID, err)
			}
			pol.Trusted = append(pol.Trusted, ear.TrustedVerifier{ID: v.ID, Key: k})
		}
		s.checker.Passport = pol
	}
	return nil
}

func (s *Server) setupAttester() error {
	a, err := NewAttester(s.cfg.Attester, s.simPKI)
	if err != nil || a == nil {
		return err
	}
	s.prover = &tlsbind.Prover{Attester: a}
	return nil
}

// NewAttester returns the evidence source named kind ("snp", "tdx", "sim-snp",
// "sim-tdx"; "" = none). Simulated kinds need the simulated PKI.
func NewAttester(kind string, p *sim.PKI) (evidence.Attester, error) {
	switch kind {
	case "":
		return nil, nil
	case "sim-snp", "sim-tdx":
		if p == nil {
			return nil, fmt.Errorf("attester %q needs a simulated PKI (--dev or --trust-simulated)", kind)
		}
		if kind == "sim-snp" {
			return evidence.NewSNPAttester(p.SNP.Guest(sim.SNPGuestConfig{})), nil
		}
		return evidence.NewTDXAttester(p.TDX.Guest(sim.TDXGuestConfig{})), nil
	case "snp":
		a, err := snpattest.OpenAttester()
		if err != nil {
			return nil, fmt.Errorf("SEV-SNP attester: %w", err)
		}
		return evidence.NewSNPAttester(a), nil
	case "tdx":
		a, err := tdxattest.OpenAttester()
		if err != nil {
			return nil, fmt.Errorf("TDX attester: %w", err)
		}
		return evidence.NewTDXAttester(a), nil
	}
	return nil, fmt.Errorf("unknown attester %q (want snp, tdx, sim-snp or sim-tdx)", kind)
}

// Listen opens the TLS listener on cfg.Addr.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	s.ln = tls.NewListener(&limitListener{Listener: ln, s: s}, s.tlsCfg)
	return ln.Addr(), nil
}

// Serve serves on the listener opened by Listen until Shutdown.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("server: Serve before Listen")
	}
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, lets in-flight requests finish
// (bounded by ctx), and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// SimulatedPKI returns the simulated PKI the server trusts (nil if none).
func (s *Server) SimulatedPKI() *sim.PKI { return s.simPKI }
