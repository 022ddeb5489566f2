package main

import (
	"flag"
	"fmt"

	"github.com/seatrx/seatrx/conformance"
	"github.com/seatrx/seatrx/internal/cli"
)

func conformanceCommand() *cli.Command {
	return &cli.Command{Name: "conformance", Summary: "run published conformance vectors", Subs: []*cli.Command{{
		Name:    "vectors",
		Summary: "run seatrx-vectors files (v2; v1 still read), one PASS/FAIL line per case",
		Usage:   "FILE...",
		Doc:     "Vectors exits 1 if any case fails. The vectors and their schema are in conformance/.",
		Setup: func(fs *flag.FlagSet) cli.Action {
			return runVectors
		},
	}}}
}

// runVectors implements "conformance vectors FILE...": one line per case,
// PASS or FAIL with the reason, exit 1 on any failure.
func runVectors(env *cli.Env, args []string) error {
	if len(args) == 0 {
		return cli.Usagef("missing FILE: name one or more seatrx-vectors files, e.g. conformance/vectors/*.json")
	}
	stdout := env.Stdout
	pass, fail := 0, 0
	for _, path := range args {
		f, err := conformance.LoadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", path, err)
			fail++
			continue
		}
		for _, r := range f.Run() {
			if r.Err != nil {
				fmt.Fprintf(stdout, "FAIL %s/%s: %v\n", f.Kind, r.Name, r.Err)
				fail++
			} else {
				fmt.Fprintf(stdout, "PASS %s/%s\n", f.Kind, r.Name)
				pass++
			}
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", pass, fail)
	if fail > 0 {
		return cli.ErrReported
	}
	return nil
}
