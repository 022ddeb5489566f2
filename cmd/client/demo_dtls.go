package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
)

// runDemoDTLS is the demo's DTLS 1.3 session: an in-process --dev server
// with a DTLS listener beside HTTPS, one simulated SEV-SNP attestation and
// receipt over DTLS, the receipt verified offline with the keys document
// fetched over HTTPS.
func runDemoDTLS(env *cli.Env, keep string, quiet bool) error {
	stdout := env.Stdout
	data, cleanup, err := demoDataDir(keep)
	if err != nil {
		return err
	}
	defer cleanup()
	srv, addr, stop, err := startDemoServer(server.Config{DTLSAddr: "127.0.0.1:0", DataDir: data}, stdout)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(stdout, "DTLS 1.3 listener on udp %s\n", srv.DTLSAddr())
	roots, pki, err := devFiles(server.DevDir(data))
	if err != nil {
		return err
	}
	att, err := server.NewAttester("sim-snp", pki)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n== session 1: client TEE sim-snp, attestation and receipt over DTLS 1.3 ==")
	o, err := client.Run(context.Background(), client.Flow{
		Server: "https://" + addr.String(), DTLSAddr: srv.DTLSAddr().String(), Roots: roots, Prover: &tlsbind.Prover{Attester: att},
		Requested: map[string]any{"operation": "release-model-weights", "model": "demo-7b", "transport": "dtls"}, AllowSimulated: true, SimulatedPKI: pki,
	})
	if o != nil {
		printSession(stdout, o)
	}
	if err != nil {
		printRefusal(env.Stderr, err)
		return cli.ErrReported
	}
	b, err := receipt.UnmarshalBundle(o.Receipt.Bundle)
	if err != nil {
		return err
	}
	r, err := receipt.ParseReceipt(b.Receipt)
	if err != nil {
		return err
	}
	s := r.ContextSnapshot
	fmt.Fprintf(stdout, "  receipt context snapshot: transport %q, version 0x%04x, binder profile %s\n", s.Transport, s.TLSVersion, s.BinderProfile)
	fmt.Fprintln(stdout, "\nSummary: 1 session over DTLS 1.3 (simulated SEV-SNP), 1 receipt issued and verified offline; its snapshot records the transport.")
	fmt.Fprintln(stdout, "Evidence was SIMULATED: the EAR and the receipt say so.")
	if !quiet {
		js, err := r.JSONWithReport(o.Report)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nReceipt (JSON rendering; the signed form is COSE_Sign1/CBOR):\n%s\n", js)
	}
	if keep != "" {
		path := filepath.Join(keep, "session-dtls.cbor")
		if err := os.WriteFile(path, o.Receipt.Bundle, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(path+".keys", o.KeysDoc, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nKept in %s. Verify the receipt later with:\n  %s receipt verify --bundle %s --keys %s.keys --allow-simulated --trust-simulated %s\n",
			keep, name, path, path, filepath.Join(server.DevDir(keep), "sim-pki"))
	}
	return nil
}
