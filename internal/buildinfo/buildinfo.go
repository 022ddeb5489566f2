// Package buildinfo says which seatrx build is running, from the build
// information the Go toolchain embeds (runtime/debug.ReadBuildInfo): module
// version, VCS revision and whether the tree was modified, Go version. The
// binaries print it for --version; the server logs it at startup and exports
// it as the seatrx_build_info metric.
package buildinfo

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/seatrx/seatrx/internal/cli"
)

// Info describes the running binary. Fields the toolchain did not record
// (a build outside a VCS checkout, go run without stamping) are "unknown".
type Info struct {
	Path      string // main package path, e.g. github.com/seatrx/seatrx/cmd/server
	Version   string // main module version: a tag, a pseudo-version or "(devel)"
	Revision  string // VCS revision (commit hash)
	Time      string // VCS commit time, RFC 3339
	Modified  bool   // the working tree had uncommitted changes
	GoVersion string // toolchain, e.g. go1.26.0
}

const unknown = "unknown"

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Path: unknown, Version: unknown, Revision: unknown, Time: unknown, GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	in := Info{Path: bi.Path, Version: bi.Main.Version, Revision: unknown, Time: unknown, GoVersion: bi.GoVersion}
	if in.Version == "" {
		in.Version = unknown
	}
	if in.Path == "" {
		in.Path = unknown
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			in.Modified = s.Value == "true"
		}
	}
	return in
}

// RevisionString is the revision with "+modified" when the tree was dirty.
func (in Info) RevisionString() string {
	if in.Modified {
		return in.Revision + "+modified"
	}
	return in.Revision
}

// Format is the --version text of the binary called name.
func (in Info) Format(name string) string {
	return fmt.Sprintf("%s %s\n  revision %s (%s)\n  built with %s %s/%s\n  %s\n",
		name, in.Version, in.RevisionString(), in.Time, in.GoVersion, runtime.GOOS, runtime.GOARCH, in.Path)
}

// Command is the "version" command of the binary called binary: it prints
// Format(binary) (the tree also answers --version with it).
func Command(binary string) *cli.Command {
	return &cli.Command{Name: "version", Summary: "print the version, VCS revision and Go version of this binary",
		Setup: func(fs *flag.FlagSet) cli.Action {
			return func(env *cli.Env, args []string) error {
				if len(args) > 0 {
					return cli.Usagef("unexpected argument %q", args[0])
				}
				fmt.Fprint(env.Stdout, Read().Format(binary))
				return nil
			}
		}}
}
