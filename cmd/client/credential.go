package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/seatrx/seatrx/credential"
	"github.com/seatrx/seatrx/evidence/sim"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/keyfile"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/tlsbind"
)

func credentialCommand() *cli.Command {
	return &cli.Command{Name: "credential", Summary: "obtain and show workload credentials (X.509-SVIDs)", Subs: []*cli.Command{
		credentialRequestCommand(), credentialShowCommand(),
	}}
}

func credentialRequestCommand() *cli.Command {
	return &cli.Command{
		Name:    "request",
		Summary: "attest with the workload key and obtain an X.509-SVID for it",
		Usage:   "--server URL [--dev DIR | --ca FILE] --tee KIND --key FILE --out SVID.pem [--csr] [--bundle FILE]",
		Doc: `Request opens one TLS 1.3 connection to the server, attests with --key as the
authenticator key (the evidence vouches for it), and asks for an X.509-SVID
for that key: the server names the workload by the SPIFFE ID its policy maps
the attested reference values to, or refuses (credential.no_workload_identity).
The certificate chain is written to --out; the key stays where it is. A
missing --key file is generated there (ECDSA P-256; directory 0700, file
0600): run this inside the TEE, where that directory is the workload's own
(in a confidential VM, inside the encrypted guest). --bundle also writes the
server's trust bundle (PEM), e.g. for openssl verify -CAfile.`,
		Required: []string{"server", "tee", "key", "out"},
		Setup: func(fs *flag.FlagSet) cli.Action {
			srvURL := fs.String("server", "", "server base `URL`, e.g. https://localhost:8443")
			dev := fs.String("dev", "", "a dev server's client files (`DIR`, the server's DATA/dev): its CA and the simulated TEE PKI")
			caFile := fs.String("ca", "", "CA certificates (PEM `FILE`) to verify the server; default system roots")
			var tee string
			cli.EnumVar(fs, &tee, "tee", "", []string{"sim-snp", "sim-tdx", "snp", "tdx"}, "evidence source: sim-snp, sim-tdx (simulated; need --dev), snp, tdx")
			keyPath := fs.String("key", "", "the workload key (PEM PKCS#8 `FILE`), generated if missing")
			out := fs.String("out", "", "where to write the SVID's certificate chain (PEM `FILE`)")
			withCSR := fs.Bool("csr", false, "also send a PKCS#10 request signed with the key (the server checks it carries the attested key)")
			bundle := fs.String("bundle", "", "also write the server's trust bundle (PEM `FILE`)")
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				if err := cli.Conflict(fs, "ca", "dev", "--dev already names the dev server's CA"); err != nil {
					return err
				}
				return credentialRequest(env, *srvURL, *dev, *caFile, tee, *keyPath, *out, *bundle, *withCSR)
			}
		},
	}
}

func credentialRequest(env *cli.Env, srvURL, dev, caFile, tee, keyPath, out, bundleOut string, withCSR bool) error {
	if (tee == "sim-snp" || tee == "sim-tdx") && dev == "" {
		return cli.Usagef("--tee %s needs --dev DIR: the simulated TEE PKI comes from the dev server's files", tee)
	}
	cfg := client.Config{Server: srvURL}
	var err error
	var pki *sim.PKI
	if dev != "" {
		if cfg.Roots, pki, err = devFiles(dev); err != nil {
			return err
		}
	}
	if caFile != "" {
		if cfg.Roots, err = loadPool(caFile); err != nil {
			return fmt.Errorf("--ca: %w", err)
		}
	}
	key, created, err := keyfile.LoadOrCreateWorkloadKey(keyPath)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	if created {
		fmt.Fprintf(env.Stdout, "generated a workload key in %s (0600)\n", keyPath)
	}
	attester, err := server.NewAttester(tee, pki)
	if err != nil {
		return fmt.Errorf("--tee: %w", err)
	}
	cfg.Prover = &tlsbind.Prover{Attester: attester, Key: key}
	ctx := context.Background()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	var csr []byte
	if withCSR {
		if csr, err = x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key); err != nil {
			return fmt.Errorf("--csr: %w", err)
		}
	}
	if _, err = c.Attest(ctx); err == nil {
		var chainPEM []byte
		var chain []*x509.Certificate
		if chain, chainPEM, err = c.RequestCredential(ctx, csr); err == nil {
			if err := os.WriteFile(out, chainPEM, 0o644); err != nil {
				return err
			}
			printSVID(env.Stdout, chain[0])
			fmt.Fprintf(env.Stdout, "svid:   %s (the key stays in %s)\n", out, keyPath)
		}
	}
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	if bundleOut != "" {
		b, err := c.Bundle(ctx, true)
		if err != nil {
			printRefusal(env.Stderr, err)
			return cli.ErrReported
		}
		if err := os.WriteFile(bundleOut, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "bundle: %s\n", bundleOut)
	}
	return nil
}

func credentialShowCommand() *cli.Command {
	return &cli.Command{
		Name:    "show",
		Summary: "print an X.509-SVID: its SPIFFE ID, window, key and attestation summary",
		Usage:   "[--bundle FILE] SVID.pem",
		Doc: `Show prints the SVID in the PEM file (its first certificate): the SPIFFE ID,
the validity window, the certified key and the attestation summary
extension. With --bundle (the server's trust bundle, PEM or SPIFFE JWKS) it
also verifies the SVID as an X.509-SVID of that trust domain, now, and fails
(exit 1) if it does not verify.`,
		Setup: func(fs *flag.FlagSet) cli.Action {
			bundle := fs.String("bundle", "", "trust bundle (PEM or SPIFFE JWKS `FILE`) to verify the SVID against")
			return func(env *cli.Env, args []string) error {
				if len(args) != 1 {
					return cli.Usagef("want exactly one SVID file")
				}
				return credentialShow(env, args[0], *bundle)
			}
		},
	}
}

func credentialShow(env *cli.Env, path, bundlePath string) error {
	chain, err := keyfile.LoadCertificates(path)
	if err != nil {
		return err
	}
	leaf := chain[0]
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return fmt.Errorf("%s: not an X.509-SVID: %w", path, err)
	}
	printSVID(env.Stdout, leaf)
	if bundlePath == "" {
		return nil
	}
	raw, err := readInput(bundlePath)
	if err != nil {
		return fmt.Errorf("--bundle: %w", err)
	}
	var src x509bundle.Source
	if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
		b, err := spiffebundle.Parse(id.TrustDomain(), raw)
		if err != nil {
			return fmt.Errorf("--bundle: %w", err)
		}
		src = b
	} else {
		b, err := x509bundle.Parse(id.TrustDomain(), raw)
		if err != nil {
			return fmt.Errorf("--bundle: %w", err)
		}
		src = b
	}
	if _, _, err := x509svid.Verify(chain, src, x509svid.WithTime(time.Now())); err != nil {
		fmt.Fprintf(env.Stderr, "FAILED: the SVID does not verify against %s: %v\n", bundlePath, err)
		return cli.ErrReported
	}
	fmt.Fprintf(env.Stdout, "verified: an X.509-SVID of %s, chaining to %s, valid now\n", id.TrustDomain(), bundlePath)
	return nil
}

// printSVID prints what a person needs to know about an SVID.
func printSVID(w io.Writer, c *x509.Certificate) {
	id, _ := x509svid.IDFromCert(c)
	spki := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	fmt.Fprintf(w, "SPIFFE ID: %s\n", id)
	fmt.Fprintf(w, "  serial   %s\n  valid    %s .. %s\n  issuer   %s\n  key      %s, SPKI sha256:%x\n",
		c.SerialNumber.Text(16), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), c.Issuer, keyType(c), spki)
	s, err := credential.SummaryOf(c)
	var ce *credential.Error
	switch {
	case err == nil:
		fmt.Fprintf(w, "  attested %s\n", s)
	case errors.As(err, &ce):
		fmt.Fprintf(w, "  attestation summary: %v\n", err)
	}
}

func keyType(c *x509.Certificate) string {
	switch c.PublicKeyAlgorithm {
	case x509.ECDSA:
		return "ECDSA"
	case x509.Ed25519:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

func loadPool(path string) (*x509.CertPool, error) {
	cas, err := keyfile.LoadCertificates(path)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	for _, c := range cas {
		p.AddCert(c)
	}
	return p, nil
}
