// Command client is seatrx, the seatrx client: it attests a TEE workload to
// a seatrx server over one TLS 1.3 connection and obtains receipts, verifies
// evidence and receipts offline, and runs conformance vectors. Build it as
// "seatrx" (the name its help uses): go build -o seatrx ./cmd/client.
//
// Usage:
//
//	seatrx demo [--keep DIR] [--quiet]
//	seatrx receipt request|verify|show ...
//	seatrx credential request|show ...
//	seatrx approve --key FILE --server URL [--deny] [--yes] ID
//	seatrx authorization show|list|keygen ...
//	seatrx evidence verify ...
//	seatrx conformance vectors FILE...
//	seatrx bench --server URL (--mode M | --compare A,B) (--duration D | --count N) ...
//	seatrx version | --version
//	seatrx help [COMMAND...]
//
// Commands are a tree of internal/cli.Command values, built by tree below;
// a new subcommand is one literal in its parent's Subs (see package cli).
package main

import (
	"github.com/seatrx/seatrx/internal/bench"
	"io"
	"os"

	"github.com/seatrx/seatrx/internal/buildinfo"
	"github.com/seatrx/seatrx/internal/cli"
	"github.com/seatrx/seatrx/internal/evidencecli"
)

// name is the client binary's name in help and messages.
const name = "seatrx"

func main() {
	if bench.IsAttackerProcess() { // seatrx bench's own attackers (--scenario)
		os.Exit(bench.AttackerMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Run(tree(), args, stdout, stderr)
}

// tree is every client command. Exit statuses: 0 ok, 1 a check or the
// server refused, 2 usage error.
func tree() *cli.Command {
	return &cli.Command{
		Name:    name,
		Summary: "attest to a seatrx server, obtain receipts, and verify receipts and evidence offline",
		Subs: []*cli.Command{
			demoCommand(),
			receiptCommand(),
			credentialCommand(),
			approveCommand(),
			authorizationCommand(),
			evidencecli.Command(),
			benchCommand(),
			conformanceCommand(),
			buildinfo.Command(name),
		},
	}
}
