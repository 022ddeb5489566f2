package main

import (
	"os"
	"testing"

	"github.com/seatrx/seatrx/internal/clitest"
)

// seatrx is the built client binary the CLI tests run.
var seatrx string

func TestMain(m *testing.M) {
	os.Exit(clitest.Main(m, func(bin map[string]string) { seatrx = bin["seatrx"] }, "seatrx"))
}
