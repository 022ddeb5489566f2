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
)

// command is one subcommand: it returns the process exit code (0 ok, 1 a
// check failed, 2 usage error).
type command func(args []string, stdout, stderr io.Writer) int

var commands = map[string]command{
	"conformance": runConformance,
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
  conformance vectors FILE...   run seatrx-vectors/v1 files, one PASS/FAIL line per case
`)
}
