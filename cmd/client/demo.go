package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/seatrx/seatrx/internal/client"
	"github.com/seatrx/seatrx/internal/server"
	"github.com/seatrx/seatrx/receipt"
	"github.com/seatrx/seatrx/tlsbind"
	"github.com/seatrx/seatrx/verify"
)

// runDemo is the one-command main job on a machine without a TEE: an
// in-process --dev server on a loopback port, mutual attestation with
// simulated SEV-SNP and then TDX, two receipts verified offline, one execution
// token redeemed (and refused the second time), a summary and the receipt.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keep := fs.Bool("keep", false, "keep the demo's data directory (keys, store, bundles)")
	quiet := fs.Bool("quiet", false, "do not print the receipt JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	data, err := os.MkdirTemp("", "seatrx-demo-")
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	if !*keep {
		defer os.RemoveAll(data)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", DataDir: data, Dev: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	addr, err := srv.Listen()
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}()
	fmt.Fprint(stdout, server.DevBanner(data, addr.String()))

	// The client side uses only what the dev server published for clients.
	roots, pki, err := devFiles(server.DevDir(data))
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	checker, err := client.NewChecker(pki, nil)
	if err != nil {
		fmt.Fprintf(stderr, "demo: %v\n", err)
		return 1
	}
	var first *client.Outcome
	for i, tee := range []string{"sim-snp", "sim-tdx"} {
		att, err := server.NewAttester(tee, pki)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\n== session %d: client TEE %s, mutual attestation ==\n", i+1, tee)
		o, err := session(context.Background(), sessionConfig{
			Server: "https://" + addr.String(), Roots: roots, Prover: &tlsbind.Prover{Attester: att}, Checker: checker,
			Mutual: true, Requested: map[string]any{"operation": "release-model-weights", "model": "demo-7b", "session": i + 1},
			Redeem: i == 0, AllowSimulated: true, SimulatedPKI: pki,
		})
		if o != nil {
			printSession(stdout, o)
		}
		if err != nil {
			printRefusal(stderr, err)
			return 1
		}
		if first == nil {
			first = o
		}
	}
	// Audit the first receipt again from its bytes alone, as anyone could later.
	rep, err := verify.Bundle(first.Receipt.Bundle, first.Keys, verify.Options{Mode: receipt.ModeAudit, AllowSimulated: true, SimulatedPKI: pki})
	if err != nil || !rep.OK {
		fmt.Fprintf(stderr, "demo: re-verification failed: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "\nSummary: 2 sessions, mutual attestation (simulated SEV-SNP, then simulated TDX), 2 receipts issued and verified offline,")
	fmt.Fprintln(stdout, "1 execution token redeemed and its second redemption refused. Evidence was SIMULATED: every EAR and receipt says so.")
	if !*quiet {
		b, _ := receipt.UnmarshalBundle(first.Receipt.Bundle)
		r, err := receipt.ParseReceipt(b.Receipt)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
		js, err := r.JSONWithReport(rep)
		if err != nil {
			fmt.Fprintf(stderr, "demo: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nReceipt of session 1 (JSON rendering; the signed form is COSE_Sign1/CBOR):\n%s\n", js)
	}
	if *keep {
		fmt.Fprintf(stdout, "\ndata kept in %s\n", data)
	}
	return 0
}
