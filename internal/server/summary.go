package server

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"time"

	"github.com/seatrx/seatrx/evidence/snp"
	"github.com/seatrx/seatrx/evidence/tdx"
	"github.com/seatrx/seatrx/internal/buildinfo"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/receipt/store"
	"github.com/seatrx/seatrx/tlsbind"
)

// Summary is what an operator checks when the server starts: which build,
// where it listens, under which identity and keys, which policy, which
// roots it trusts, which interop profiles it accepts, its TLS certificate
// and where its state is.
type Summary struct {
	Version, Revision, GoVersion string
	Addr                         string // the bound address once listening, else the configured one
	Dev                          bool
	Issuer                       string
	// Key ids (hex RFC 9679 thumbprints, as kid in receipts and approvals)
	// of the current keys, and the key directory holding their history.
	IssuerKID, AppraiserKID, VerifierKID string
	KeyDir                               string
	PolicyID                             string
	PolicyDigest                         string // "sha256:" + hex of the canonical CBOR policy
	// Root fingerprints ("sha256:" + hex of the root certificate) the
	// verifier chains evidence to; the policy's trust_anchors may narrow them.
	ProductionRoots, SimulatedRoots []string
	TLSSubject                      string
	TLSNotAfter                     time.Time
	Store                           string   // the SQLite file, or the PostgreSQL URL without its password
	StoreBackend                    string   // "sqlite" or "postgres"
	KeysReadOnly                    bool     // keys are never created (replicas)
	Attester                        string   // own evidence for mutual attestation; "" = none
	Profiles                        []string // interop profiles accepted, preferred first
	Collateral                      string   // where TDX collateral and missing VCEKs come from
	// Credentials: the trust domain and number of workload identities the
	// policy maps ("" and 0: no credentials issued).
	TrustDomain string
	Workloads   int
	// Admission is the connection bounds in force, as "name=value" pairs
	// (admission.go); MaxConns is the most connections they let be open
	// at once.
	Admission []string
	MaxConns  int
}

// Summary returns the server's startup summary.
func (s *Server) Summary() Summary {
	bi := buildinfo.Read()
	ks := s.keyState()
	sum := Summary{
		Version: bi.Version, Revision: bi.RevisionString(), GoVersion: bi.GoVersion,
		Addr: s.cfg.Addr, Dev: s.cfg.Dev, Issuer: ks.issuer.Name(), KeyDir: s.keyDir.Path(),
		IssuerKID: hex.EncodeToString(ks.issuer.KeyID()), AppraiserKID: hex.EncodeToString(ks.approver.KeyID()),
		PolicyID: s.pol.ID, Store: store.Redact(s.StorePath()), StoreBackend: s.store.Backend(), KeysReadOnly: s.cfg.KeysReadOnly, Attester: s.cfg.Attester, Profiles: tlsbind.ProfileIDs(s.cfg.Profiles),
	}
	if s.ln != nil {
		sum.Addr = s.ln.Addr().String()
	}
	if kid, err := receipt.Thumbprint(ks.earKey.Public()); err == nil {
		sum.VerifierKID = hex.EncodeToString(kid)
	}
	d := s.pol.Digest()
	sum.PolicyDigest = "sha256:" + hex.EncodeToString(d[:])
	sum.ProductionRoots = append(snp.ProductionRoots().Fingerprints(), tdx.ProductionRoots().Fingerprints()...)
	if p := s.simPKI; p != nil {
		sum.SimulatedRoots = append(p.SNP.Roots().Fingerprints(), p.TDX.Roots().Fingerprints()...)
	}
	if s.cert != nil {
		sum.TLSSubject, sum.TLSNotAfter = s.cert.Subject.String(), s.cert.NotAfter.UTC()
	}
	if cr := s.pol.Credentials; cr != nil {
		sum.TrustDomain, sum.Workloads = cr.TrustDomain, len(cr.Workloads)
	}
	c := &s.cfg
	sum.Admission = []string{
		fmt.Sprintf("max_unattested_conns=%d", c.MaxUnattestedConns), fmt.Sprintf("max_unattested_per_address=%d", c.MaxUnattestedPerAddr),
		fmt.Sprintf("unattested_timeout=%s", c.UnattestedTimeout), fmt.Sprintf("max_unattested_streams=%d", c.MaxUnattestedStreams),
		fmt.Sprintf("max_attested_conns=%d", c.MaxAttestedConns), fmt.Sprintf("attested_idle_timeout=%s", c.AttestedIdleTimeout),
		fmt.Sprintf("max_body_buffer=%d", c.MaxBodyBuffer),
	}
	sum.MaxConns = c.MaxUnattestedConns + maxOverflowConns + c.MaxAttestedConns
	switch {
	case s.cfg.FetchCacheDir != "":
		sum.Collateral = fmt.Sprintf("online: AMD KDS and Intel PCS through cache %s", s.cfg.FetchCacheDir)
	case s.cfg.TDXCollateralDir != "":
		sum.Collateral = fmt.Sprintf("offline: TDX collateral from %s", s.cfg.TDXCollateralDir)
	default:
		sum.Collateral = "offline: none (SNP reports must carry their VCEK; TDX without collateral)"
	}
	return sum
}

// Attrs renders the summary as one log line's attributes.
func (sum Summary) Attrs() []slog.Attr {
	a := []slog.Attr{
		slog.String("version", sum.Version), slog.String("revision", sum.Revision), slog.String("go", sum.GoVersion),
		slog.String("addr", sum.Addr), slog.Bool("dev", sum.Dev), slog.String("issuer", sum.Issuer),
		slog.String("issuer_kid", sum.IssuerKID), slog.String("appraiser_kid", sum.AppraiserKID), slog.String("ear_verifier_kid", sum.VerifierKID),
		slog.String("key_dir", sum.KeyDir),
		slog.String("policy_id", sum.PolicyID), slog.String("policy_digest", sum.PolicyDigest),
		slog.Any("production_roots", sum.ProductionRoots),
	}
	if len(sum.SimulatedRoots) > 0 {
		a = append(a, slog.Any("simulated_roots", sum.SimulatedRoots))
	}
	a = append(a,
		slog.String("tls_subject", sum.TLSSubject), slog.Time("tls_not_after", sum.TLSNotAfter),
		slog.String("store", sum.Store), slog.String("store_backend", sum.StoreBackend), slog.Bool("keys_readonly", sum.KeysReadOnly), slog.String("attester", sum.Attester), slog.Any("profiles", sum.Profiles),
		slog.String("collateral", sum.Collateral), slog.Any("admission", sum.Admission))
	if sum.TrustDomain != "" {
		a = append(a, slog.String("credentials_trust_domain", sum.TrustDomain), slog.Int("credentials_workloads", sum.Workloads))
	}
	return a
}
