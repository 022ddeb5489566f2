package main

import (
	"flag"
	"io"

	"github.com/seatrx/seatrx/internal/capture"
)

// debugFlags are --keylog and --dump, the debugging aids every command that
// opens attested connections has (package capture).
type debugFlags struct {
	keyLogPath, dumpDir string
	keyLog              io.WriteCloser
	dump                *capture.Dump
}

func (d *debugFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&d.keyLogPath, "keylog", "", "DEBUGGING: append the connections' TLS secrets to `FILE` (NSS key log format, as SSLKEYLOGFILE; created 0600); whoever reads it decrypts them")
	fs.StringVar(&d.dumpDir, "dump", "", "DEBUGGING: write every exported-authenticator message, the exporter outputs, binders and REPORTDATA, per connection, under `DIR` (hex files and an index.json)")
}

// open opens what was asked for, warning on warn, and returns the function
// that closes it.
func (d *debugFlags) open(warn io.Writer) (func(), error) {
	if d.keyLogPath != "" {
		kl, err := capture.OpenKeyLog(d.keyLogPath, warn)
		if err != nil {
			return nil, err
		}
		d.keyLog = kl
	}
	if d.dumpDir != "" {
		dump, err := capture.OpenDump(d.dumpDir, warn)
		if err != nil {
			if d.keyLog != nil {
				d.keyLog.Close()
			}
			return nil, err
		}
		d.dump = dump
	}
	return func() {
		if d.keyLog != nil {
			d.keyLog.Close()
		}
	}, nil
}
