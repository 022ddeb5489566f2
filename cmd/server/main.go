// Command server runs the seatrx attested receipt server.
//
//	server --dev [--addr 127.0.0.1:8443] [--data DIR]
//	server --tls-cert FILE --tls-key FILE --data DIR [--policy FILE] [--attester snp|tdx] ...
//
// Flags override the optional --config file (YAML, same names with
// underscores, e.g. tls_cert: /etc/seatrx/cert.pem).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// fileConfig is the --config file.
type fileConfig struct {
	Addr               string        `yaml:"addr"`
	Data               string        `yaml:"data"`
	Dev                bool          `yaml:"dev"`
	TLSCert            string        `yaml:"tls_cert"`
	TLSKey             string        `yaml:"tls_key"`
	Policy             string        `yaml:"policy"`
	TrustSimulated     string        `yaml:"trust_simulated"`
	AllowSimulated     bool          `yaml:"allow_simulated"`
	Attester           string        `yaml:"attester"`
	TDXCollateral      string        `yaml:"tdx_collateral"`
	FetchCache         string        `yaml:"fetch_cache"`
	FetchTimeout       time.Duration `yaml:"fetch_timeout"`
	Issuer             string        `yaml:"issuer"`
	MaxUnattestedConns int           `yaml:"max_unattested_conns"`
	MaxAttempts        int           `yaml:"max_attempts"`
	AttestationMaxAge  time.Duration `yaml:"attestation_max_age"`
	LogFormat          string        `yaml:"log_format"`
	ShutdownTimeout    time.Duration `yaml:"shutdown_timeout"`
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var fc fileConfig
	cfgFile := fs.String("config", "", "YAML configuration file (flags override it)")
	fs.StringVar(&fc.Addr, "addr", "127.0.0.1:8443", "listen address")
	fs.StringVar(&fc.Data, "data", "", "data directory (keys, SQLite store, dev files); --dev default: a new temp dir")
	fs.BoolVar(&fc.Dev, "dev", false, "development mode: self-signed certificate, SIMULATED SEV-SNP and TDX trusted, simulated attester")
	fs.StringVar(&fc.TLSCert, "tls-cert", "", "server certificate chain (PEM)")
	fs.StringVar(&fc.TLSKey, "tls-key", "", "server private key (PEM)")
	fs.StringVar(&fc.Policy, "policy", "", "appraisal policy file (YAML or JSON); default built-in")
	fs.StringVar(&fc.TrustSimulated, "trust-simulated", "", "ALSO trust the simulated TEE PKI in DIR (testing only; needs --allow-simulated outside --dev)")
	fs.BoolVar(&fc.AllowSimulated, "allow-simulated", false, "permit --trust-simulated on a non-dev server")
	fs.StringVar(&fc.Attester, "attester", "", "server's own evidence for mutual attestation: snp, tdx, sim-snp, sim-tdx")
	fs.StringVar(&fc.TDXCollateral, "tdx-collateral", "", "directory of cached Intel PCS collateral")
	fs.StringVar(&fc.FetchCache, "fetch-cache", "", "enable ONLINE collateral fetching (AMD KDS, Intel PCS) through this cache directory; default offline")
	fs.DurationVar(&fc.FetchTimeout, "fetch-timeout", 10*time.Second, "timeout of one KDS/PCS request")
	fs.StringVar(&fc.Issuer, "issuer", "", "receipt issuer URI (default urn:seatrx:issuer:<host>)")
	fs.IntVar(&fc.MaxUnattestedConns, "max-unattested-conns", 256, "maximum concurrent connections not yet attested")
	fs.IntVar(&fc.MaxAttempts, "max-attempts", 0, "authenticator requests per connection (0 = default 4)")
	fs.DurationVar(&fc.AttestationMaxAge, "attestation-max-age", receipt.DefaultAttestationMaxAge, "a receipt needs an attestation at most this old")
	fs.StringVar(&fc.LogFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&fc.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "time to finish in-flight requests on shutdown")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cfgFile != "" {
		if err := mergeFile(*cfgFile, fs, &fc); err != nil {
			fmt.Fprintf(stderr, "server: %v\n", err)
			return 2
		}
	}
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if fc.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, nil)
	}
	log := slog.New(h)
	if fc.Data == "" {
		if !fc.Dev {
			fmt.Fprintln(stderr, "server: --data is required outside --dev")
			return 2
		}
		d, err := os.MkdirTemp("", "seatrx-dev-")
		if err != nil {
			fmt.Fprintf(stderr, "server: %v\n", err)
			return 1
		}
		fc.Data = d
	}
	srv, err := server.New(server.Config{
		Addr: fc.Addr, DataDir: fc.Data, Dev: fc.Dev, TLSCertFile: fc.TLSCert, TLSKeyFile: fc.TLSKey,
		PolicyFile: fc.Policy, TrustSimulated: fc.TrustSimulated, AllowSimulated: fc.AllowSimulated,
		Attester: fc.Attester, TDXCollateralDir: fc.TDXCollateral, Issuer: fc.Issuer,
		FetchCacheDir: fc.FetchCache, FetchTimeout: fc.FetchTimeout,
		MaxUnattestedConns: fc.MaxUnattestedConns, MaxAttempts: fc.MaxAttempts, AttestationMaxAge: fc.AttestationMaxAge,
		Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	addr, err := srv.Listen()
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n", err)
		return 1
	}
	if fc.Dev {
		fmt.Fprint(stderr, server.DevBanner(fc.Data, addr.String()))
		fmt.Fprintf(stdout, "client files: %s\n", server.DevDir(fc.Data))
	}
	log.Info("seatrx server listening", "addr", addr.String(), "data", fc.Data, "dev", fc.Dev)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		if err != nil {
			log.Error("serve", "err", err)
			return 1
		}
		return 0
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "timeout", fc.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), fc.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Error("shutdown", "err", err)
		return 1
	}
	<-errc
	return 0
}

// mergeFile loads the YAML config and applies every value whose flag was not
// set explicitly on the command line. Unknown keys are errors.
func mergeFile(path string, fs *flag.FlagSet, fc *fileConfig) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var file fileConfig
	dec := yaml.NewDecoder(io.LimitReader(f, 1<<20))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	apply := func(name string, dst, src any) {
		if set[name] {
			return
		}
		switch d := dst.(type) {
		case *string:
			if s := *src.(*string); s != "" {
				*d = s
			}
		case *bool:
			if b := *src.(*bool); b {
				*d = b
			}
		case *int:
			if i := *src.(*int); i != 0 {
				*d = i
			}
		case *time.Duration:
			if v := *src.(*time.Duration); v != 0 {
				*d = v
			}
		}
	}
	apply("addr", &fc.Addr, &file.Addr)
	apply("data", &fc.Data, &file.Data)
	apply("dev", &fc.Dev, &file.Dev)
	apply("tls-cert", &fc.TLSCert, &file.TLSCert)
	apply("tls-key", &fc.TLSKey, &file.TLSKey)
	apply("policy", &fc.Policy, &file.Policy)
	apply("trust-simulated", &fc.TrustSimulated, &file.TrustSimulated)
	apply("allow-simulated", &fc.AllowSimulated, &file.AllowSimulated)
	apply("attester", &fc.Attester, &file.Attester)
	apply("tdx-collateral", &fc.TDXCollateral, &file.TDXCollateral)
	apply("issuer", &fc.Issuer, &file.Issuer)
	apply("fetch-cache", &fc.FetchCache, &file.FetchCache)
	apply("fetch-timeout", &fc.FetchTimeout, &file.FetchTimeout)
	apply("max-unattested-conns", &fc.MaxUnattestedConns, &file.MaxUnattestedConns)
	apply("max-attempts", &fc.MaxAttempts, &file.MaxAttempts)
	apply("attestation-max-age", &fc.AttestationMaxAge, &file.AttestationMaxAge)
	apply("log-format", &fc.LogFormat, &file.LogFormat)
	apply("shutdown-timeout", &fc.ShutdownTimeout, &file.ShutdownTimeout)
	return nil
}
