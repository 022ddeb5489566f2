// Command server is seatrx-server, the seatrx attested receipt server. Build
// it as "seatrx-server" (the name its help uses):
// go build -o seatrx-server ./cmd/server.
//
//	seatrx-server --dev [--addr 127.0.0.1:8443] [--data DIR]
//	seatrx-server --tls-cert FILE --tls-key FILE --issuer URI --data DIR [--policy FILE] ...
//	seatrx-server --config FILE [flags]
//	seatrx-server keys show|export|rotate --data DIR ...
//	seatrx-server prefill --data DIR --receipts N
//	seatrx-server version | --version
//	seatrx-server help
//
// Every flag is also a key of the --config file (YAML, the flag's name with
// underscores: tls_cert: /etc/seatrx/cert.pem); examples/server.yaml
// documents them all. Flags given on the command line override the file.
// Subcommands are internal/cli.Command literals in tree (see package cli).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seatrx/seatrx/evidence/fetch"
	"github.com/seatrx/seatrx/internal/buildinfo"
	"github.com/seatrx/seatrx/internal/capture"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/fdlimit"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// name is the server binary's name in help and messages.
const name = "seatrx-server"

func main() {
	os.Exit(cli.Run(tree(), os.Args[1:], os.Stdout, os.Stderr))
}

// tree is the server's command tree: the root runs the server.
func tree() *cli.Command {
	return &cli.Command{
		Name:    name,
		Summary: "run the seatrx attested receipt server",
		Usage:   "(--dev | --tls-cert FILE --tls-key FILE --issuer URI --data DIR) [--config FILE] [flags]",
		Doc: `seatrx-server issues signed receipts only to peers that prove, inside a live
TLS 1.3 connection, which TEE (AMD SEV-SNP or Intel TDX) they run in.

--dev runs a development server: a self-signed certificate, simulated SEV-SNP
and TDX trusted (every EAR and receipt says so), issuer ` + server.DevIssuer + `,
data in a new temporary directory unless --data is given.

Otherwise --tls-cert, --tls-key, --issuer and --data are required. The issuer
URI is the server's identity in every receipt; it is never derived from the
listen address, which may change. Every input is checked before anything is
written to --data: a refused start leaves it as it was.

Every flag is also a key of the --config file, spelled with underscores
(tls_cert: /etc/seatrx/tls/server.crt); examples/server.yaml documents each
with its default. Flags on the command line override the file.
On SIGINT or SIGTERM it stops accepting connections and waits up to
--shutdown-timeout for the requests in flight; a second signal, or the
timeout, cuts the connections still open.
Exit status: 0 after a clean shutdown, 1 on a failure while running or
creating state or a shutdown that had to cut connections, 2 on a bad
command line or configuration.`,
		Setup: serve,
		Subs:  []*cli.Command{keysCommand(), prefillCommand(), buildinfo.Command(name)},
	}
}

// options are the server's settings. Each is a flag and, spelled with
// underscores, a configuration file key; defineFlags is the one place that
// names them, gives their defaults and says what values are allowed.
type options struct {
	cfg             server.Config
	configFile      string
	logFormat       string
	shutdownTimeout time.Duration
	keyLog, dump    string // debugging aids (package capture)
	pprof           loopbackAddr
	metricsAddr     loopbackAddr
	memoryLimit     int64
}

func defineFlags(fs *flag.FlagSet, o *options) {
	c := &o.cfg
	fs.StringVar(&o.configFile, "config", "", "YAML configuration `FILE` (keys: the flags' names with underscores); command-line flags override it")
	cli.AddrVar(fs, &c.Addr, "addr", "127.0.0.1:8443", "listen address")
	cli.AddrVar(fs, &c.DTLSAddr, "dtls", "", "also listen for DTLS 1.3 on this UDP `ADDR`, e.g. 127.0.0.1:8443: attestation and a receipt in one exchange (docs/PROTOCOL.md §13); default off")
	fs.StringVar(&c.DataDir, "data", "", "data `DIR`: keys, SQLite store, dev files (created 0700); --dev default: a new temporary directory")
	cli.BoolVar(fs, &c.Dev, "dev", false, "development mode: self-signed certificate, SIMULATED SEV-SNP and TDX trusted, simulated attester, issuer "+server.DevIssuer)
	fs.StringVar(&c.TLSCertFile, "tls-cert", "", "server certificate chain (PEM `FILE`); required outside --dev")
	fs.StringVar(&c.TLSKeyFile, "tls-key", "", "server private key (PEM `FILE`); required outside --dev")
	fs.StringVar(&c.Issuer, "issuer", "", "receipt issuer `URI`, the server's identity in every receipt, e.g. urn:seatrx:issuer:example.org; required outside --dev")
	fs.StringVar(&c.Store, "store", "", "receipt store: a postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full `URL` (shared by every replica of this issuer) or a SQLite file path; default DATA/seatrx.db")
	cli.BoolVar(fs, &c.KeysReadOnly, "keys-readonly", false, "never create a key: a role missing from the key directory stops the server (replicas: one server started once without it creates the keys in the shared key directory)")
	fs.StringVar(&c.KeyDir, "key-dir", "", "key `DIR` (package keystore: one subdirectory per role with its history manifest), shared by every replica of this issuer; default DATA/keys")
	cli.DurationVar(fs, &c.KeyReloadInterval, "key-reload-interval", server.DefaultKeyReloadInterval, time.Second, "how often to check the key directory for a rotation (SIGHUP checks at once)")
	fs.StringVar(&c.PolicyFile, "policy", "", "appraisal policy `FILE` (YAML or JSON); default built-in (SEV-SNP and TDX, debug forbidden)")
	fs.StringVar(&c.TrustSimulated, "trust-simulated", "", "ALSO trust the simulated TEE PKI in `DIR` (testing only; needs --allow-simulated; not with --dev)")
	cli.BoolVar(fs, &c.AllowSimulated, "allow-simulated", false, "permit --trust-simulated on a non-dev server")
	cli.EnumVar(fs, &c.Attester, "attester", "", []string{"", "snp", "tdx", "sim-snp", "sim-tdx"},
		"server's own evidence for mutual attestation: snp, tdx, sim-snp, sim-tdx; empty: none (--dev: sim-snp)")
	fs.StringVar(&c.TDXCollateralDir, "tdx-collateral", "", "`DIR` of cached Intel PCS collateral (TCB info, QE identity, CRLs)")
	fs.StringVar(&c.FetchCacheDir, "fetch-cache", "", "enable ONLINE collateral fetching (AMD KDS, Intel PCS) through this cache `DIR`; default offline")
	cli.DurationVar(fs, &c.FetchTimeout, "fetch-timeout", fetch.DefaultTimeout, time.Millisecond, "timeout of one KDS/PCS request")
	cli.DurationVar(fs, &c.FetchMaxAge, "fetch-max-age", fetch.DefaultMaxAge, time.Second, "reuse a fetched response at most this long (or until its own expiry, if sooner)")
	c.Profiles = []tlsbind.Profile{tlsbind.DefaultProfile()}
	fs.Var(&profilesValue{&c.Profiles}, "profiles", "interop profiles accepted from attesting clients, comma-separated, preferred first: "+
		strings.Join(tlsbind.ProfileIDs(tlsbind.Profiles()), ", ")+" (docs/PROTOCOL.md)")
	cli.IntVar(fs, &c.MaxUnattestedConns, "max-unattested-conns", server.DefaultMaxUnattestedConns, 1, 1<<20,
		"maximum concurrent connections not yet attested; when reached, a newcomer evicts the oldest of the busiest address, or gets 503 (docs/OPERATIONS.md)")
	cli.IntVar(fs, &c.MaxUnattestedPerAddr, "max-unattested-per-address", server.DefaultMaxUnattestedPerAddr, 1, 1<<20,
		"maximum concurrent connections not yet attested from one source address (IPv6: one /64); more get 503")
	cli.DurationVar(fs, &c.UnattestedTimeout, "unattested-timeout", server.DefaultUnattestedTimeout, 100*time.Millisecond,
		"time from accept for a connection to complete its TLS handshake and attest; then it is closed")
	cli.IntVar(fs, &c.MaxUnattestedStreams, "max-unattested-streams", server.DefaultMaxUnattestedStreams, 1, 100,
		"concurrent requests (HTTP/2 streams) of a connection not yet attested; more get 429")
	cli.IntVar(fs, &c.MaxAttestedConns, "max-attested-conns", server.DefaultMaxAttestedConns, 1, 1<<20,
		"maximum concurrent attested connections; an attestation starting past it gets 503")
	cli.DurationVar(fs, &c.AttestedIdleTimeout, "attested-idle-timeout", server.DefaultAttestedIdleTimeout, time.Second,
		"an attested connection idle this long is closed")
	cli.SizeVar(fs, &c.MaxBodyBuffer, "max-body-buffer", server.DefaultMaxBodyBuffer, 1<<20, 1<<40,
		"request-body bytes held in memory at once, over all requests; a request that would exceed it gets 503")
	cli.IntVar(fs, &c.MaxAttempts, "max-attempts", tlsbind.DefaultMaxAttempts, 1, 64, "authenticator requests (attestation attempts) per connection")
	cli.DurationVar(fs, &c.AttestationMaxAge, "attestation-max-age", receipt.DefaultAttestationMaxAge, time.Second, "a receipt needs an attestation on its connection at most this old")
	cli.DurationVar(fs, &c.PruneInterval, "prune-interval", server.DefaultPruneInterval, time.Second,
		"how often to prune the store: used attestation contexts older than 24 h, the replay cache, expired authorizations, receipts past --receipt-retention")
	cli.DurationVar(fs, &c.ReceiptRetention, "receipt-retention", 0, 0,
		"keep receipts and their execution tokens this long after issue (and after the token expired); 0: forever, the default (the audit record)")
	cli.SizeVar(fs, &c.MinFree, "min-free", server.MinFreeBytes, 0, 1<<50,
		"free space on the store's file system under which GET /readyz answers 503 store.disk_full")
	cli.EnumVar(fs, &o.logFormat, "log-format", "text", []string{"text", "json"}, "log format on stderr: text or json (durations in milliseconds, keys ending in _ms)")
	cli.DurationVar(fs, &o.shutdownTimeout, "shutdown-timeout", 20*time.Second, 0, "time to finish in-flight requests on SIGINT/SIGTERM")
	fs.StringVar(&o.keyLog, "keylog", "", "DEBUGGING: append every connection's TLS secrets to `FILE` (NSS key log format, as SSLKEYLOGFILE; created 0600); whoever reads it decrypts the connections")
	fs.StringVar(&o.dump, "dump", "", "DEBUGGING: write every exported-authenticator message, the exporter outputs, binders and REPORTDATA, per connection, under `DIR` (hex files and an index.json)")
	cli.SizeVar(fs, &o.memoryLimit, "memory-limit", defaultMemoryLimit, 0, 1<<40,
		"soft memory limit of the Go runtime (overrides GOMEMLIMIT); under a limit the GC runs at GOGC=400 unless GOGC is set; 0: no limit, GOGC=100")
	fs.Var(&o.metricsAddr, "metrics-addr", "serve Prometheus metrics at /metrics on this loopback address (plain HTTP), e.g. 127.0.0.1:9464; default off")
	cli.BoolVar(fs, &c.MetricsOnMain, "metrics-on-main", false, "also serve GET /metrics on the main listener, to any peer (for measurements, e.g. seatrx bench)")
	fs.Var(&auditorsValue{&c.Auditors}, "auditor", "key hashes, comma-separated, of auditors who may read every receipt: sha256:HEX of the DER SubjectPublicKeyInfo of the "+
		"auditor's attested key or X.509-SVID key; default none (a receipt is readable only by the peer it was issued to)")
	fs.Var(&o.pprof, "pprof", "serve Go profiles (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6060, for measurements; default off")
}

// serve defines the flags and returns the action that runs the server.
func serve(fs *flag.FlagSet) cli.Action {
	o := &options{}
	defineFlags(fs, o)
	return func(env *cli.Env, args []string) error {
		if len(args) > 0 {
			return cli.Usagef("unexpected argument %q", args[0])
		}
		if o.configFile != "" {
			if err := loadConfig(o.configFile, fs); err != nil {
				return &cli.UsageError{Msg: err.Error()}
			}
		}
		return run(env, o)
	}
}

func run(env *cli.Env, o *options) error {
	log := newLogger(o.logFormat, env.Stderr)
	c := o.cfg
	c.Logger = log
	tempData := false
	if c.Dev && c.DataDir == "" {
		d, err := os.MkdirTemp("", "seatrx-dev-")
		if err != nil {
			return err
		}
		c.DataDir, tempData = d, true
	}
	if o.keyLog != "" {
		kl, err := capture.OpenKeyLog(o.keyLog, env.Stderr)
		if err != nil {
			return &cli.UsageError{Msg: err.Error()}
		}
		defer kl.Close()
		c.KeyLog = kl
		log.Warn("TLS key log enabled: connections can be decrypted by whoever reads it", "keylog", o.keyLog)
	}
	if o.dump != "" {
		d, err := capture.OpenDump(o.dump, env.Stderr)
		if err != nil {
			return &cli.UsageError{Msg: err.Error()}
		}
		c.Dump = d
		log.Warn("exported-authenticator dump enabled", "dump", d.Dir())
	}
	srv, err := server.New(c)
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		if tempData {
			os.Remove(c.DataDir)
		}
		msg := ce.Reason
		if ce.Err != nil {
			msg += ": " + ce.Err.Error()
		}
		return &cli.UsageError{Msg: msg}
	}
	if err != nil {
		return err
	}
	// Catch SIGINT/SIGTERM before saying "started", so that a stop right
	// after the summary is a clean shutdown.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr, err := srv.Listen()
	if err != nil {
		return err
	}
	if c.Dev {
		fmt.Fprint(env.Stderr, server.DevBanner(c.DataDir, addr.String()))
		fmt.Fprintf(env.Stdout, "client files: %s\n", server.DevDir(c.DataDir))
	}
	if o.metricsAddr != "" {
		stopMetrics, err := startMetrics(string(o.metricsAddr), srv.MetricsHandler(), log)
		if err != nil {
			srv.Shutdown(context.Background())
			return err
		}
		defer stopMetrics()
	}
	if o.pprof != "" {
		stopPprof, err := startPprof(string(o.pprof), log)
		if err != nil {
			srv.Shutdown(context.Background())
			return err
		}
		defer stopPprof()
	}
	// Every connection is a file descriptor: take the hard limit, and say
	// when even that is below what the connection bounds allow.
	if soft, _, err := fdlimit.Raise(); err != nil {
		log.Warn("could not raise the open-file limit", "err", err)
	} else if need := uint64(srv.Summary().MaxConns) + 64; soft > 0 && soft < need {
		log.Warn("the open-file limit is below the connection bounds: connections past it fail at accept", "limit", soft, "bounds_need", need)
	}
	memLimit, gcPercent := applyMemory(o.memoryLimit)
	stopFree := make(chan struct{})
	defer close(stopFree)
	go returnFreeMemory(stopFree)
	log.LogAttrs(ctx, slog.LevelInfo, "seatrx-server started", append(srv.Summary().Attrs(),
		slog.Int64("memory_limit", memLimit), slog.Int("gc_percent", gcPercent))...)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-errc:
			if err != nil {
				log.Error("serve", "err", err)
				return cli.ErrReported
			}
			return nil
		case <-hup:
			// A rotation by "keys rotate" or another replica: switch now.
			if changed, err := srv.ReloadKeys(); err != nil {
				log.Error("SIGHUP: key directory", "err", err)
			} else if !changed {
				log.Info("SIGHUP: keys unchanged")
			}
		case <-ctx.Done():
			break wait
		}
	}
	// Listen for the second signal before saying that it cuts: one sent
	// on reading that line went to the first signal's spent channel, and
	// the shutdown waited out its whole timeout.
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	log.Info("shutting down: finishing in-flight requests", "timeout", o.shutdownTimeout, "then", "a second SIGINT or SIGTERM cuts at once")
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	go func() {
		select {
		case sig := <-again:
			log.Warn("second signal: stopping now, cutting the connections still open", "signal", sig.String())
			cancel()
		case <-sctx.Done():
		}
	}()
	err = srv.Shutdown(sctx)
	<-errc
	var se *server.ShutdownError
	if errors.As(err, &se) {
		log.Error("stopped after cutting connections", "cut", se.Cut)
		return cli.ErrReported
	}
	if err != nil {
		log.Error("shutdown", "err", err)
		return cli.ErrReported
	}
	log.Info("stopped")
	return nil
}

// newLogger logs to w as text or JSON, durations in milliseconds.
func newLogger(format string, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{ReplaceAttr: durationsInMillis}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsInMillis replaces a duration attribute "x" by "x_ms", a number
// of milliseconds: slog's default (nanoseconds in JSON, "1.5s" in text) is
// neither what log pipelines expect nor the same in both formats.
func durationsInMillis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key+"_ms", float64(a.Value.Duration())/float64(time.Millisecond))
	}
	return a
}

// profilesValue is --profiles: interop profile ids, comma-separated,
// preferred first, each known and listed once (tlsbind.ParseProfiles).
type profilesValue struct{ p *[]tlsbind.Profile }

func (v *profilesValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return strings.Join(tlsbind.ProfileIDs(*v.p), ",")
}

func (v *profilesValue) Set(s string) error {
	ps, err := tlsbind.ParseProfiles(s)
	if err != nil {
		return err
	}
	*v.p = ps
	return nil
}

func (v *profilesValue) Type() string { return "LIST" }

// auditorsValue is --auditor: sha256:HEX key hashes, comma-separated.
type auditorsValue struct{ p *[][]byte }

func (v *auditorsValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	out := make([]string, len(*v.p))
	for i, h := range *v.p {
		out[i] = "sha256:" + hex.EncodeToString(h)
	}
	return strings.Join(out, ",")
}

func (v *auditorsValue) Set(s string) error {
	var hs [][]byte
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		h, ok := strings.CutPrefix(f, "sha256:")
		b, err := hex.DecodeString(h)
		if !ok || err != nil || len(b) != sha256.Size {
			return fmt.Errorf("%q: want sha256: and 64 hex digits, the SHA-256 of the auditor key's DER SubjectPublicKeyInfo", f)
		}
		hs = append(hs, b)
	}
	*v.p = hs
	return nil
}

func (v *auditorsValue) Type() string { return "LIST" }
