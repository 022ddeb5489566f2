// Package server is the seatrx attested receipt server: an HTTP API (HTTP/2
// and HTTP/1.1) on a TLS 1.3 listener where each connection carries its own
// attestation state, and receipts are issued only on attested connections.
package server

import (
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/datagram"
	"github.com/seatrx/seatrx/internal/keystore"
	"github.com/seatrx/seatrx/policy"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Config is the server's configuration (flags and config file map onto it).
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:8443".
	Addr string
	// DTLSAddr, if set, is a UDP address for a DTLS 1.3 listener beside the
	// HTTPS one (docs/PROTOCOL.md §13), e.g. "127.0.0.1:8443"; same
	// certificate, policy, store and receipts.
	DTLSAddr string
	// DTLSTransport tunes the DTLS exchange's retransmissions and step
	// timeout (zero: the datagram package's defaults).
	DTLSTransport datagram.Config
	// DataDir holds keys/, the SQLite store (unless Store says otherwise)
	// and, in dev mode, dev/.
	DataDir string
	// Store is where receipts are stored: a postgres:// or postgresql://
	// URL (shared by every replica of this issuer), or the path of a SQLite
	// file; "" = DATA/seatrx.db.
	Store string
	// KeysReadOnly forbids creating keys: a role missing from the key
	// directory stops the server instead of getting a new key. Replicas
	// run with it, so that none ever mints an identity of its own; the keys
	// are created once, by one server started once without it on the
	// shared key directory.
	KeysReadOnly bool
	// Dev: self-signed TLS certificate, simulated SNP and TDX trusted, a
	// simulated attester for mutual attestation, simulated results accepted.
	Dev bool
	// TLSCertFile and TLSKeyFile are the server's certificate chain and key
	// (PEM); required unless Dev, refused with Dev.
	TLSCertFile, TLSKeyFile string
	// PolicyFile is the appraisal policy (YAML or JSON); "" = policy.Default().
	PolicyFile string
	// TrustSimulated is a simulated PKI directory (evidence/sim) whose roots
	// are trusted in addition to the vendors'. Never set in production;
	// refused with Dev (which trusts its own).
	TrustSimulated string
	// AllowSimulated must be true for a non-dev server to start with
	// TrustSimulated: a production configuration refuses simulated anchors
	// unless forced.
	AllowSimulated bool
	// Attester is the server's own evidence source for mutual attestation:
	// "snp", "tdx", "sim-snp", "sim-tdx", or "" (mutual attestation refused;
	// in Dev, "" means "sim-snp").
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
	// Issuer is the receipt issuer URI (CWT iss), the server's identity in
	// every receipt: required outside Dev, so that it never changes with
	// the listen address or host name; in Dev, "" means DevIssuer.
	Issuer string
	// Profiles are the interop profiles the server accepts from attesting
	// clients, preferred first (the first is also the one it attests in for
	// mutual attestation unless the client asks for another it accepts);
	// nil = tlsbind.DefaultProfile() alone.
	Profiles []tlsbind.Profile
	// KeyDir is the key directory (package keystore), shared by every
	// replica of one issuer; "" = DATA/keys.
	KeyDir string
	// KeyReloadInterval is how often the key directory is polled for a
	// rotation; 0 = DefaultKeyReloadInterval, negative = never (reload with
	// ReloadKeys, e.g. on SIGHUP).
	KeyReloadInterval time.Duration
	// PruneInterval is how often the store is pruned (used contexts past
	// store.DefaultContextRetention, the replay cache, expired
	// authorizations, and receipts past ReceiptRetention); 0 =
	// DefaultPruneInterval, negative = never.
	PruneInterval time.Duration
	// MinFree is the free space on the store's file system under which
	// GET /readyz says not ready (store.disk_full); 0 = MinFreeBytes.
	MinFree int64
	// ReceiptRetention is how long receipts and their execution tokens are
	// kept (store.Options.ReceiptRetention); 0 = forever, the default.
	ReceiptRetention time.Duration
	// Limits. The admission settings (admission.go; 0 = the Default of the
	// same name) bound the connections not yet attested: in total, per
	// source address, in time from accept to attestation, and in concurrent
	// requests; the attested connections in number and idle time; and the
	// request-body bytes in memory at once.
	MaxUnattestedConns   int
	MaxUnattestedPerAddr int
	UnattestedTimeout    time.Duration
	MaxUnattestedStreams int
	MaxAttestedConns     int
	AttestedIdleTimeout  time.Duration
	MaxBodyBuffer        int64
	MaxAttempts          int           // per connection; default tlsbind.DefaultMaxAttempts
	AttestationMaxAge    time.Duration // a receipt needs an attestation at most this old; default receipt.DefaultAttestationMaxAge
	// Auditors are the SHA-256 hashes of the keys (an attested key, or the
	// key of an X.509-SVID the connection presents) that may read every
	// receipt (GET /v1/receipts/{id}); everyone else reads only the
	// receipts issued to its own key (--auditor sha256:HEX).
	Auditors [][]byte
	// MetricsOnMain serves GET /metrics on the main listener, to anyone
	// who connects; off by default (seatrx-server serves metrics on
	// --metrics-addr, a loopback listener of their own).
	MetricsOnMain bool
	// KeyLog, if set, receives every connection's TLS secrets in the NSS
	// key log format (capture.OpenKeyLog; --keylog). It defeats
	// confidentiality: debugging only.
	KeyLog io.Writer
	// Dump, if set, records every connection's exported-authenticator
	// messages, exporter outputs and binders (--dump).
	Dump *capture.Dump
	// Logger; nil = slog.Default().
	Logger *slog.Logger
	// Now is the server's clock; nil = time.Now (tests move it).
	Now func() time.Time
}

// DevIssuer is the issuer of a dev server without Config.Issuer: fixed, so
// that it does not depend on the listen address.
const DevIssuer = "urn:seatrx:issuer:dev"

// DefaultPruneInterval is Config.PruneInterval's default: the used-contexts
// table then holds at most the attestations of the last
// store.DefaultContextRetention (24 h) plus 10 minutes.
const DefaultPruneInterval = 10 * time.Minute

// ConfigError is a Config that New refuses before it writes anything:
// Settings names the settings at fault by their flag names ("tls-cert"),
// Reason says the rule, Err is the cause when an input file is unusable.
type ConfigError struct {
	Settings []string
	Reason   string
	Err      error
}

func (e *ConfigError) Error() string {
	msg := "server: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(reason string, settings ...string) *ConfigError {
	return &ConfigError{Settings: settings, Reason: reason}
}

// check applies the rules that need nothing but cfg itself.
func (cfg *Config) check() error {
	if cfg.DataDir == "" {
		return configErr("--data is required outside --dev", "data")
	}
	if cfg.Dev {
		switch {
		case cfg.TLSCertFile != "" || cfg.TLSKeyFile != "":
			return configErr("--tls-cert and --tls-key cannot be used with --dev: dev mode makes its own certificate", "tls-cert", "tls-key")
		case cfg.TrustSimulated != "":
			return configErr("--trust-simulated cannot be used with --dev: dev mode trusts its own simulated PKI (DATA/dev/sim-pki)", "trust-simulated")
		}
	} else {
		var missing []string
		for _, m := range []struct{ name, v string }{{"tls-cert", cfg.TLSCertFile}, {"tls-key", cfg.TLSKeyFile}, {"issuer", cfg.Issuer}} {
			if m.v == "" {
				missing = append(missing, m.name)
			}
		}
		if len(missing) > 0 {
			flags := make([]string, len(missing))
			for i, m := range missing {
				flags[i] = "--" + m
			}
			verb := "is"
			if len(flags) > 1 {
				verb = "are"
			}
			return configErr(fmt.Sprintf("%s %s required outside --dev (the issuer is the server's identity in every receipt, e.g. urn:seatrx:issuer:example.org)",
				joinAnd(flags), verb), missing...)
		}
		if cfg.TrustSimulated != "" && !cfg.AllowSimulated {
			return configErr("refusing to trust simulated TEE roots in a production configuration; pass --allow-simulated to force it", "trust-simulated", "allow-simulated")
		}
	}
	if cfg.AllowSimulated && cfg.TrustSimulated == "" {
		return configErr("--allow-simulated has no effect without --trust-simulated DIR", "allow-simulated")
	}
	if cfg.Issuer != "" {
		if u, err := url.Parse(cfg.Issuer); err != nil || u.Scheme == "" || strings.ContainsAny(cfg.Issuer, " \t\n") {
			return configErr(fmt.Sprintf("--issuer %q: want an absolute URI such as urn:seatrx:issuer:example.org or https://seatrx.example.org", cfg.Issuer), "issuer")
		}
	}
	switch cfg.Attester {
	case "", "snp", "tdx":
	case "sim-snp", "sim-tdx":
		if !cfg.Dev && cfg.TrustSimulated == "" {
			return configErr(fmt.Sprintf("--attester %s needs a simulated PKI: --dev, or --trust-simulated DIR --allow-simulated", cfg.Attester), "attester")
		}
	default:
		return configErr(fmt.Sprintf("--attester %q: want snp, tdx, sim-snp or sim-tdx", cfg.Attester), "attester")
	}
	for _, p := range cfg.Profiles {
		if err := p.Validate(); err != nil {
			return configErr(err.Error(), "profiles")
		}
	}
	for _, a := range cfg.Auditors {
		if len(a) != sha256.Size {
			return configErr(fmt.Sprintf("--auditor: a key hash is %d bytes, want %d (SHA-256)", len(a), sha256.Size), "auditor")
		}
	}
	for _, n := range []struct {
		name string
		bad  bool
	}{
		{"max-unattested-conns", cfg.MaxUnattestedConns < 0}, {"max-attempts", cfg.MaxAttempts < 0},
		{"attestation-max-age", cfg.AttestationMaxAge < 0}, {"receipt-retention", cfg.ReceiptRetention < 0}, {"min-free", cfg.MinFree < 0},
		{"max-unattested-per-address", cfg.MaxUnattestedPerAddr < 0}, {"unattested-timeout", cfg.UnattestedTimeout < 0},
		{"max-unattested-streams", cfg.MaxUnattestedStreams < 0}, {"max-attested-conns", cfg.MaxAttestedConns < 0},
		{"attested-idle-timeout", cfg.AttestedIdleTimeout < 0}, {"max-body-buffer", cfg.MaxBodyBuffer < 0},
	} {
		if n.bad {
			return configErr("--"+n.name+" must not be negative", n.name)
		}
	}
	return nil
}

func joinAnd(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// Server is a configured seatrx server.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pol      *policy.Policy
	polCBOR  []byte
	verifier *evidence.Verifier
	prover   *tlsbind.Prover // nil: mutual attestation unavailable
	// keys holds the keys in force, swapped whole by ReloadKeys.
	keys     atomic.Pointer[keyState]
	keyDir   *keystore.Dir
	reloadMu sync.Mutex
	stopKeys chan struct{} // closed by Shutdown: stops the key watcher and the pruner
	stopOnce sync.Once
	// approverKeys are the policy's approvers' keys, by id.
	approverKeys map[string]approverKey
	// changed wakes long-polls of GET /v1/authorizations/{id}.
	changed  notifier
	store    *store.Store
	tlsCfg   *tls.Config
	cert     *x509.Certificate // the TLS leaf
	simPKI   *sim.PKI
	accepted map[string]bool // EAR statuses on which a receipt may be issued
	metrics  *metrics

	// Inputs read (never written) before any state is.
	tdxCollateral *tdx.Collateral
	passport      *tlsbind.PassportPolicy
	hwAttester    evidence.Attester

	rdy readyState
	adm *admission
	// overloadLog bounds the access-log lines of overload refusals.
	overloadLog *logLimiter
	// connPrefix and connSeq make connection ids ("c" for TLS, "d" for
	// DTLS, then 8 random base32 characters, "-" and a base-36 sequence
	// number, e.g. cK3J4H5G6-1z): unique across restarts and replicas (with
	// overwhelming probability: 40 random bits per process), since they
	// are stored as redeemed_by and logged.
	connPrefix string
	connSeq    atomic.Uint64
	http       *http.Server
	ln         net.Listener
	dtls       *dtlsServer // nil without Config.DTLSAddr
}

// New builds a server from cfg. It first checks everything that can be
// checked without writing (cfg itself, then the policy, TLS certificate,
// simulated roots, collateral, passport and approver keys, an existing
// appraiser key against a policy approver named like it, the attester
// device): a refused start
// leaves DataDir as it was (absent stays absent). Only then does it create
// DataDir, load or create its keys, (in dev mode) the dev certificate
// authority and simulated PKI under DataDir/dev, and open the store.
// Refused inputs are *ConfigError.
func New(cfg Config) (*Server, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.MaxUnattestedConns = cmp.Or(cfg.MaxUnattestedConns, DefaultMaxUnattestedConns)
	cfg.MaxUnattestedPerAddr = cmp.Or(cfg.MaxUnattestedPerAddr, DefaultMaxUnattestedPerAddr)
	cfg.UnattestedTimeout = cmp.Or(cfg.UnattestedTimeout, DefaultUnattestedTimeout)
	cfg.MaxUnattestedStreams = cmp.Or(cfg.MaxUnattestedStreams, DefaultMaxUnattestedStreams)
	cfg.MaxAttestedConns = cmp.Or(cfg.MaxAttestedConns, DefaultMaxAttestedConns)
	cfg.AttestedIdleTimeout = cmp.Or(cfg.AttestedIdleTimeout, DefaultAttestedIdleTimeout)
	cfg.MaxBodyBuffer = cmp.Or(cfg.MaxBodyBuffer, DefaultMaxBodyBuffer)
	if cfg.AttestationMaxAge == 0 {
		cfg.AttestationMaxAge = receipt.DefaultAttestationMaxAge
	}
	if cfg.Dev && cfg.Issuer == "" {
		cfg.Issuer = DevIssuer
	}
	if cfg.Dev && cfg.Attester == "" {
		cfg.Attester = "sim-snp"
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []tlsbind.Profile{tlsbind.DefaultProfile()}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, accepted: map[string]bool{ear.StatusAffirming: true}, connPrefix: rand.Text()[:8] + "-",
		overloadLog: &logLimiter{max: MaxOverloadLogLines}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.readInputs(); err != nil {
		return nil, err
	}
	if err := s.createState(); err != nil {
		if s.store != nil {
			s.store.Close()
		}
		return nil, err
	}
	return s, nil
}

// readInputs loads and checks every input file, writing nothing.
func (s *Server) readInputs() error {
	cfg := &s.cfg
	var err error
	if s.pol, err = loadPolicy(cfg.PolicyFile); err != nil {
		return err
	}
	if s.polCBOR, err = s.pol.CanonicalCBOR(); err != nil {
		return &ConfigError{Settings: []string{"policy"}, Reason: "policy", Err: err}
	}
	if !cfg.Dev {
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return &ConfigError{Settings: []string{"tls-cert", "tls-key"}, Reason: "TLS certificate", Err: err}
		}
		s.tlsCfg = tlsbind.ServerConfig([]tls.Certificate{c}, nil)
		s.cert = c.Leaf
		if cfg.TrustSimulated != "" {
			if s.simPKI, err = sim.Load(cfg.TrustSimulated); err != nil {
				return &ConfigError{Settings: []string{"trust-simulated"}, Reason: "--trust-simulated", Err: err}
			}
		}
	}
	if cfg.TDXCollateralDir != "" {
		if s.tdxCollateral, err = tdx.LoadCollateral(cfg.TDXCollateralDir); err != nil {
			return &ConfigError{Settings: []string{"tdx-collateral"}, Reason: "TDX collateral", Err: err}
		}
	}
	if pp := s.pol.Passport; pp != nil {
		s.passport = &tlsbind.PassportPolicy{AcceptedStatuses: pp.AcceptedStatuses, MaxAge: time.Duration(pp.MaxAge)}
		for _, v := range pp.Verifiers {
			k, err := parsePublicKeyPEM(v.PublicKeyPEM)
			if err != nil {
				return &ConfigError{Settings: []string{"policy"}, Reason: fmt.Sprintf("policy passport verifier %q", v.ID), Err: err}
			}
			s.passport.Trusted = append(s.passport.Trusted, ear.TrustedVerifier{ID: v.ID, Key: k})
		}
	}
	if s.approverKeys, err = approverKeys(s.pol); err != nil {
		return err
	}
	if _, reserved := s.approverKeys[receipt.AppraiserID]; reserved {
		// The policy names an approver as the appraiser: it must be this
		// server's appraiser key, which must therefore exist already (a
		// key New would create now could not be it).
		pub, path, err := existingAppraiserKey(*cfg)
		if errors.Is(err, fs.ErrNotExist) {
			return configErr(fmt.Sprintf("the policy has an approver %q, the id of this server's appraiser, but the server has no appraiser key yet (%s): "+
				"rename that approver, or start the server once without it to create the key and list that key", receipt.AppraiserID, path), "policy")
		}
		if err != nil {
			return err
		}
		if _, err := s.appraiserID(pub); err != nil {
			return err
		}
	}
	if cfg.Attester == "snp" || cfg.Attester == "tdx" {
		if s.hwAttester, err = NewAttester(cfg.Attester, nil); err != nil {
			return &ConfigError{Settings: []string{"attester"}, Reason: "--attester " + cfg.Attester, Err: err}
		}
	}
	return nil
}

// createState creates the data directory, keys, dev files, fetch cache and
// store, and builds what depends on them.
func (s *Server) createState() error {
	cfg := &s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("server: data dir: %w", err)
	}
	if cfg.Dev {
		certs, err := s.setupDev()
		if err != nil {
			return err
		}
		s.tlsCfg = tlsbind.ServerConfig(certs, nil)
		if s.cert, err = x509.ParseCertificate(certs[0].Certificate[0]); err != nil {
			return fmt.Errorf("server: dev certificate: %w", err)
		}
	}
	if s.simPKI != nil {
		// Simulated evidence is never "affirming" (no hardware protection);
		// trusting it explicitly means accepting its "warning" results.
		s.accepted[ear.StatusWarning] = true
	}
	if err := s.setupVerifier(); err != nil {
		return err
	}
	if err := s.setupAttester(); err != nil {
		return err
	}
	var err error
	if s.store, err = store.OpenWithOptions(context.Background(), s.StorePath(), store.Options{ReceiptRetention: cfg.ReceiptRetention}); err != nil {
		return fmt.Errorf("server: %w", err) // the store's errors name it and the file (a URL without its password)
	}
	// The keys come last among the inputs: whether a missing key may be
	// created depends on what the store already holds.
	if err := s.openKeys(context.Background()); err != nil {
		return err
	}
	if s.pol.Credentials != nil {
		// Optional client certificates: an ordinary client sends none and
		// is unaffected; one that sends a certificate must present an
		// X.509-SVID of the workload CA (checked with the bundle in force
		// at the handshake, again per request), which lets it redeem
		// tokens bound to its key without re-attesting.
		s.tlsCfg.ClientAuth = tls.RequestClientCert
		s.tlsCfg.VerifyConnection = s.verifyClientSVID
	}
	s.stopKeys = make(chan struct{})
	if every := cfg.KeyReloadInterval; every >= 0 {
		if every == 0 {
			every = DefaultKeyReloadInterval
		}
		go s.watchKeys(every, s.stopKeys)
	}
	if every := cfg.PruneInterval; every >= 0 {
		if every == 0 {
			every = DefaultPruneInterval
		}
		go s.pruneEvery(every, s.stopKeys)
	}
	s.metrics = newMetrics()
	s.adm = newAdmission(cfg, s.metrics.reg, s.log)
	s.http = &http.Server{
		Handler:           s.front(s.adm.handler(s.routes())),
		ConnContext:       s.connContext,
		ReadHeaderTimeout: 5 * time.Second, // also bounds the TLS handshake
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		// Off: admission closes idle attested connections itself (see
		// sweepIdle), and un-attested ones end at their deadline.
		IdleTimeout:    -1,
		MaxHeaderBytes: transportHeaderBytes,
		HTTP2: &http.HTTP2Config{MaxConcurrentStreams: http2MaxStreams,
			MaxReceiveBufferPerConnection: http2ConnBuffer, MaxReceiveBufferPerStream: http2StreamBuffer},
		ErrorLog: log.New(errorLogWriter{s.log}, "", 0),
	}
	return nil
}

// StorePath is where the store lives: Config.Store (a PostgreSQL URL, with
// its password, or a SQLite path), or DATA/seatrx.db. Log it through
// store.Redact.
func (s *Server) StorePath() string {
	if s.cfg.Store != "" {
		return s.cfg.Store
	}
	return filepath.Join(s.cfg.DataDir, "seatrx.db")
}

func loadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return policy.Default(), nil
	}
	p, err := policy.Load(path)
	if err != nil {
		return nil, &ConfigError{Settings: []string{"policy"}, Reason: "--policy", Err: err}
	}
	return p, nil
}

// appraiserID returns the approver id under which this server's appraiser
// key signs its approval, which every receipt carries (it vouches for the
// attestation). It is receipt.AppraiserID, the id a verifier gives the keys
// document's appraiser key, unless the policy lists this very key among its
// approvers: then the policy's id for it (a policy written for 1-of-1 with
// the appraiser named keeps meaning that). Another key under the appraiser's
// id would make receipts name two approvers alike: refused.
func (s *Server) appraiserID(pub crypto.PublicKey) (string, error) {
	for _, a := range s.pol.Receipts.Approvers {
		k := s.approverKeys[a.ID]
		if eq, ok := k.Key.(interface{ Equal(crypto.PublicKey) bool }); ok && eq.Equal(pub) {
			return a.ID, nil
		}
	}
	if _, taken := s.approverKeys[receipt.AppraiserID]; taken {
		return "", configErr(fmt.Sprintf("the policy's approver %q is not this server's appraiser key (%s), whose id that is; rename the approver",
			receipt.AppraiserID, keystore.Open(KeyDir(s.cfg)).ManifestPath(keystore.RoleAppraiser)), "policy")
	}
	return receipt.AppraiserID, nil
}

// approverKeys parses the policy's approver keys once, by id.
func approverKeys(p *policy.Policy) (map[string]approverKey, error) {
	out := map[string]approverKey{}
	for _, a := range p.Receipts.Approvers {
		k, err := parsePublicKeyPEM(a.PublicKeyPEM)
		if err != nil {
			return nil, &ConfigError{Settings: []string{"policy"}, Reason: fmt.Sprintf("policy approver %q", a.ID), Err: err}
		}
		kid, err := receipt.Thumbprint(k)
		if err != nil {
			return nil, &ConfigError{Settings: []string{"policy"}, Reason: fmt.Sprintf("policy approver %q", a.ID), Err: err}
		}
		out[a.ID] = approverKey{TrustedKey: receipt.TrustedKey{ID: a.ID, Key: k, Role: a.Role}, kid: kid}
	}
	return out, nil
}

// approverKey is a policy approver's key with its thumbprint.
type approverKey struct {
	receipt.TrustedKey
	kid []byte
}

func (s *Server) setupVerifier() error {
	cfg := evidence.Config{
		SNPRoots:      []*snp.Roots{snp.ProductionRoots()},
		TDXRoots:      []*tdx.Roots{tdx.ProductionRoots()},
		Policy:        s.pol.AppraisalPolicy(),
		SNPCache:      snp.NewChainCache(1024),
		TDXCache:      tdx.NewChainCache(1024),
		TDXCollateral: s.tdxCollateral,
	}
	if s.simPKI != nil {
		cfg.SNPRoots = append(cfg.SNPRoots, s.simPKI.SNP.Roots())
		cfg.TDXRoots = append(cfg.TDXRoots, s.simPKI.TDX.Roots())
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
	s.verifier = v
	return nil
}

func (s *Server) setupAttester() error {
	a := s.hwAttester
	if a == nil {
		var err error
		if a, err = NewAttester(s.cfg.Attester, s.simPKI); err != nil || a == nil {
			return err
		}
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
	s.tlsCfg.KeyLogWriter = s.cfg.KeyLog
	if err := s.listenDTLS(); err != nil {
		ln.Close()
		return nil, err
	}
	s.ln = tls.NewListener(&admitListener{Listener: ln, a: s.adm}, s.tlsCfg)
	return ln.Addr(), nil
}

// Serve serves on the listener opened by Listen until Shutdown.
func (s *Server) Serve() error {
	if s.ln == nil {
		return errors.New("server: Serve before Listen")
	}
	if s.dtls != nil {
		go s.dtls.serve()
	}
	err := s.http.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, lets in-flight requests finish
// and idle connections close (bounded by ctx), and closes the store. It
// logs what it found and what it did. When ctx ends first, the remaining
// connections are cut and the error is a *ShutdownError.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.stopKeys != nil {
		s.stopOnce.Do(func() { close(s.stopKeys) })
	}
	u, a, o := s.adm.counts()
	s.log.Info("shutdown: no longer accepting; draining connections", "unattested", u, "attested", a, "over_capacity", o)
	s.adm.held.closeAll()
	err := s.http.Shutdown(ctx)
	if err != nil && ctx.Err() != nil {
		u, a, o = s.adm.counts()
		s.http.Close()
		err = &ShutdownError{Cut: u + a + o, Err: err}
		s.log.Warn("shutdown: connections cut before their requests finished", "cut", u+a+o, "err", ctx.Err())
	} else if err == nil {
		s.log.Info("shutdown: every connection drained")
	}
	if s.dtls != nil {
		s.dtls.close()
	}
	if cerr := s.store.Close(); err == nil {
		err = cerr
	}
	return err
}

// ShutdownError is a shutdown that had to cut connections: its context
// ended (timeout, or a second signal) before they drained.
type ShutdownError struct {
	Cut int   // connections open when they were cut
	Err error // the context's error
}

func (e *ShutdownError) Error() string {
	return fmt.Sprintf("server: shutdown cut %d connection(s): %v", e.Cut, e.Err)
}

func (e *ShutdownError) Unwrap() error { return e.Err }

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// SimulatedPKI returns the simulated PKI the server trusts (nil if none).
func (s *Server) SimulatedPKI() *sim.PKI { return s.simPKI }
