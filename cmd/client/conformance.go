package main

import (
	"fmt"
	"io"

	"github.com/seatrx/seatrx/conformance"
)

// runConformance implements "conformance vectors FILE...": one line per case,
// PASS or FAIL with the reason, exit 1 on any failure.
func runConformance(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "vectors" {
		fmt.Fprintln(stderr, "usage: client conformance vectors FILE...")
		return 2
	}
	pass, fail := 0, 0
	for _, path := range args[1:] {
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
		return 1
	}
	return 0
}
