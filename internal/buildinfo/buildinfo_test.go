package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		bi   debug.BuildInfo
		want Info
	}{
		{"stamped and dirty", debug.BuildInfo{GoVersion: "go1.26.0", Path: "github.com/seatrx/seatrx/cmd/server",
			Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "0a170ec"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			Info{Path: "github.com/seatrx/seatrx/cmd/server", Version: "v1.2.3", Revision: "0a170ec", Time: "2026-12-01T10:00:00Z", Modified: true, GoVersion: "go1.26.0"}},
		{"no VCS", debug.BuildInfo{GoVersion: "go1.26.0", Path: "p", Main: debug.Module{Version: "(devel)"}},
			Info{Path: "p", Version: "(devel)", Revision: "unknown", Time: "unknown", GoVersion: "go1.26.0"}},
		{"nothing", debug.BuildInfo{GoVersion: "go1.26.0"},
			Info{Path: "unknown", Version: "unknown", Revision: "unknown", Time: "unknown", GoVersion: "go1.26.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FromBuildInfo(&tc.bi); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	in := Info{Path: "p", Version: "v1.2.3", Revision: "abc", Time: "t", Modified: true, GoVersion: "go1.26.0"}
	if s := in.Format("seatrx"); !strings.HasPrefix(s, "seatrx v1.2.3\n  revision abc+modified (t)\n  built with go1.26.0 ") {
		t.Fatalf("Format: %q", s)
	}
}
