package server_test

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seatrx/seatrx/internal/server"
)

// Every input New can refuse is refused before anything is written: the
// data directory stays absent, or as empty as it was.
func TestNewRefusesBeforeWritingState(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := serverCert(t, dir)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	badPolicy := write("bad.yaml", "id: x\nsnpp: {}\n")
	approvers := write("approvers.yaml", "id: x\nsnp: {}\nreceipts:\n  approvers:\n    - id: appraiser\n      public_key_pem: |\n        -----BEGIN PUBLIC KEY-----\n        MCowBQYDK2VwAyEAXPZoWkRcMnnupi2xkTxdwq39V81oeVtIfxVeSunfDvI=\n        -----END PUBLIC KEY-----\n")
	garbage := write("garbage.pem", "not a certificate")
	prod := func(mod func(*server.Config)) server.Config {
		c := server.Config{Addr: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile, Issuer: "urn:seatrx:issuer:test"}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		cfg      server.Config
		settings []string
		msg      string
	}{
		{"no TLS, no issuer", server.Config{}, []string{"tls-cert", "tls-key", "issuer"}, "--tls-cert, --tls-key and --issuer are required outside --dev"},
		{"no issuer", prod(func(c *server.Config) { c.Issuer = "" }), []string{"issuer"}, "--issuer is required outside --dev"},
		{"issuer not a URI", prod(func(c *server.Config) { c.Issuer = "my server" }), []string{"issuer"}, `--issuer "my server": want an absolute URI`},
		{"dev with a certificate", server.Config{Dev: true, TLSCertFile: certFile}, []string{"tls-cert", "tls-key"}, "cannot be used with --dev"},
		{"dev with simulated roots", server.Config{Dev: true, TrustSimulated: dir}, []string{"trust-simulated"}, "cannot be used with --dev"},
		{"allow without trust", prod(func(c *server.Config) { c.AllowSimulated = true }), []string{"allow-simulated"}, "no effect without --trust-simulated"},
		{"simulated roots unforced", prod(func(c *server.Config) { c.TrustSimulated = dir }), []string{"trust-simulated", "allow-simulated"}, "pass --allow-simulated"},
		{"unknown attester", prod(func(c *server.Config) { c.Attester = "sgx" }), []string{"attester"}, `--attester "sgx": want snp, tdx, sim-snp or sim-tdx`},
		{"sim attester without sim PKI", prod(func(c *server.Config) { c.Attester = "sim-tdx" }), []string{"attester"}, "needs a simulated PKI"},
		{"negative limit", prod(func(c *server.Config) { c.MaxUnattestedConns = -5 }), []string{"max-unattested-conns"}, "must not be negative"},
		{"bad policy", prod(func(c *server.Config) { c.PolicyFile = badPolicy }), []string{"policy"}, "bad.yaml:2: snpp: unknown key"},
		{"missing policy", prod(func(c *server.Config) { c.PolicyFile = filepath.Join(dir, "none.yaml") }), []string{"policy"}, "none.yaml"},
		{"approver named like the appraiser, no key yet", prod(func(c *server.Config) { c.PolicyFile = approvers }), []string{"policy"}, "no appraiser key yet"},
		{"bad certificate", prod(func(c *server.Config) { c.TLSCertFile = garbage }), []string{"tls-cert", "tls-key"}, "TLS certificate"},
		{"bad simulated PKI", prod(func(c *server.Config) { c.TrustSimulated, c.AllowSimulated = dir, true }), []string{"trust-simulated"}, "--trust-simulated"},
		{"bad collateral", prod(func(c *server.Config) { c.TDXCollateralDir = filepath.Join(dir, "none") }), []string{"tdx-collateral"}, "TDX collateral"},
		{"no TEE device", prod(func(c *server.Config) { c.Attester = "snp" }), []string{"attester"}, "--attester snp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, pre := range []bool{false, true} {
				data := filepath.Join(t.TempDir(), "data")
				if pre {
					os.Mkdir(data, 0o700)
				}
				cfg := tc.cfg
				cfg.DataDir, cfg.Logger = data, slog.New(slog.NewTextHandler(io.Discard, nil))
				_, err := server.New(cfg)
				var ce *server.ConfigError
				if !errors.As(err, &ce) || !slices.Equal(ce.Settings, tc.settings) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("got %v; want a ConfigError for %v saying %q", err, tc.settings, tc.msg)
				}
				ents, statErr := os.ReadDir(data)
				if pre && (statErr != nil || len(ents) != 0) {
					t.Fatalf("the empty data dir was written: %v %v", ents, statErr)
				}
				if !pre && !errors.Is(statErr, os.ErrNotExist) {
					t.Fatalf("a refused start created the data dir (%v)", ents)
				}
			}
		})
	}
}

// The dev issuer does not depend on the listen address.
func TestDevIssuerIsFixed(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		e := start(t, func(c *server.Config) { c.Addr = addr })
		if got := e.srv.Summary().Issuer; got != server.DevIssuer {
			t.Fatalf("dev issuer on %s: %q", addr, got)
		}
	}
}

func TestSummary(t *testing.T) {
	e := start(t, func(c *server.Config) { c.Issuer = "urn:seatrx:issuer:summary" })
	s := e.srv.Summary()
	hex64 := func(v string) bool { return len(v) == 64 && strings.Trim(v, "0123456789abcdef") == "" }
	if s.Addr != e.addr || !s.Dev || s.Issuer != "urn:seatrx:issuer:summary" || !hex64(s.IssuerKID) || !hex64(s.AppraiserKID) ||
		!hex64(s.VerifierKID) || s.IssuerKID == s.AppraiserKID || s.PolicyID != "seatrx-default" ||
		!strings.HasPrefix(s.PolicyDigest, "sha256:") || !hex64(strings.TrimPrefix(s.PolicyDigest, "sha256:")) ||
		len(s.ProductionRoots) != 4 || len(s.SimulatedRoots) != 2 || s.TLSSubject != "CN=localhost" || s.TLSNotAfter.IsZero() ||
		s.Store != filepath.Join(e.data, "seatrx.db") || s.StoreBackend != "sqlite" || s.KeysReadOnly || s.Attester != "sim-snp" || s.GoVersion == "" || s.KeyDir != filepath.Join(e.data, "keys") || !slices.Equal(s.Profiles, []string{"expat-04"}) {
		t.Fatalf("summary %+v", s)
	}
	var keys []string
	for _, a := range s.Attrs() {
		keys = append(keys, a.Key)
	}
	want := []string{"version", "revision", "go", "addr", "dev", "issuer", "issuer_kid", "appraiser_kid", "ear_verifier_kid", "key_dir", "policy_id",
		"policy_digest", "production_roots", "simulated_roots", "tls_subject", "tls_not_after", "store", "store_backend", "keys_readonly", "attester", "profiles", "collateral", "admission"}
	if !slices.Equal(keys, want) {
		t.Fatalf("attributes %v\nwant %v", keys, want)
	}
}
