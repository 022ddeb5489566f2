// Command client is the seatrx client: it attests a TEE workload to a seatrx
// server over one TLS 1.3 connection and obtains receipts, verifies evidence
// and receipts offline, and runs conformance vectors.
//
// Usage:
//
//	client demo
//	client receipt request|verify|show ...
//	client evidence verify ...
//	client conformance vectors FILE...
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/seatrx/seatrx/internal/evidencecli"
)

// command is one subcommand: it returns the process exit code (0 ok, 1 a
// check failed, 2 usage error).
type command func(args []string, stdout, stderr io.Writer) int

var commands = map[string]command{
	"conformance": runConformance,
	"demo":        runDemo,
	"evidence":    evidencecli.Run,
	"receipt":     runReceipt,
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "client: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: client COMMAND [ARGS]

commands:
  demo                          run the whole flow locally on simulated TEEs (no hardware, no network)
  receipt request ...           attest to a server over one TLS 1.3 connection and obtain a receipt
  receipt verify ...            verify a receipt bundle offline (online or audit mode)
  receipt show FILE             render a receipt as JSON and CBOR diagnostic notation
  evidence verify ...           verify SEV-SNP / TDX evidence offline and print the appraisal
  conformance vectors FILE...   run seatrx-vectors files (v2; v1 still read), one PASS/FAIL line per case
`)
}
