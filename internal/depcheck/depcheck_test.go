package depcheck

import (
	"bytes"
	"errors"
	"flag"
	"os/exec"
	"slices"
	"strings"
	"testing"

	// The verifier side: importing it must register no flag (see TestNoGlobalFlags).
	_ "github.com/seatrx/seatrx/evidence"
	_ "github.com/seatrx/seatrx/evidence/check"
	_ "github.com/seatrx/seatrx/evidence/cocos"
	_ "github.com/seatrx/seatrx/evidence/ear"
	_ "github.com/seatrx/seatrx/evidence/fetch"
	_ "github.com/seatrx/seatrx/evidence/rustref"
	_ "github.com/seatrx/seatrx/evidence/sim"
	_ "github.com/seatrx/seatrx/evidence/snp"
	_ "github.com/seatrx/seatrx/evidence/tdx"
	_ "github.com/seatrx/seatrx/expat"
	_ "github.com/seatrx/seatrx/policy"
	_ "github.com/seatrx/seatrx/receipt"
	_ "github.com/seatrx/seatrx/receipt/store"
	_ "github.com/seatrx/seatrx/tlsbind"
	_ "github.com/seatrx/seatrx/verify"
)

const module = "github.com/seatrx/seatrx"

// mayLinkGuestCode are the packages (and their subpackages) allowed to link
// guest device clients: the attesters, the server's attester selection
// (which cmd/client also uses), and the binaries.
var mayLinkGuestCode = []string{
	module + "/evidence/attest",
	module + "/internal/server",
	module + "/cmd",
}

// guestCode are the packages the verifier side must not link (with their
// subpackages unless exact): the guest device clients and configfs-tsm, and
// go-sev-guest's verify package, which registers a global flag (the
// verifier checks VCEK chains itself; verify/trust registers nothing).
var guestCode = []struct {
	path  string
	exact bool
}{
	{"github.com/google/go-sev-guest/client", false},
	{"github.com/google/go-tdx-guest/client", false},
	{"github.com/google/go-configfs-tsm", false},
	{"github.com/google/go-sev-guest/verify", true},
}

func forbidden(dep string) bool {
	for _, g := range guestCode {
		if dep == g.path || (!g.exact && strings.HasPrefix(dep, g.path+"/")) {
			return true
		}
	}
	return false
}

func exempt(pkg string) bool {
	for _, p := range mayLinkGuestCode {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// goList runs `go list -f format` over every package of the module and
// returns one line per package, split into fields.
func goList(t *testing.T, format string) [][]string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list dependencies: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-f", format, module+"/...").Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	var lines [][]string
	for line := range bytes.Lines(out) {
		if fields := strings.Fields(string(line)); len(fields) > 0 {
			lines = append(lines, fields)
		}
	}
	return lines
}

// TestVerifierSideLinksNoGuestCode runs `go list -deps` over every package of
// the module and fails for any verifier-side package that links guest code.
func TestVerifierSideLinksNoGuestCode(t *testing.T) {
	checked, sawAttester := 0, false
	for _, fields := range goList(t, `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`) {
		pkg, deps := fields[0], fields[1:]
		if exempt(pkg) {
			if pkg == module+"/evidence/attest/snp" && containsForbidden(deps) {
				sawAttester = true
			}
			continue
		}
		checked++
		for _, d := range deps {
			if forbidden(d) {
				t.Errorf("%s links %s", pkg, d)
			}
		}
	}
	// The check must have seen the verifier side, and the forbidden list must
	// match what the attester really links, or the test proves nothing.
	if checked < 10 || !sawAttester {
		t.Fatalf("checked %d packages, attester links guest code: %v; the listing is not what this test expects", checked, sawAttester)
	}
}

// lowerLayers are the trees the rest of the module is built on (data flows
// cmd -> internal -> {tlsbind, verify, conformance, policy} -> these). None
// imports another, nor anything above it: a document or rule that spans two
// of them (the policy) is composed above both. sharedLeaves are the module
// packages a lower layer may use besides its own tree: expat's signing and
// MAC primitives, which import nothing of the module.
var (
	lowerLayers  = []string{module + "/expat", module + "/evidence", module + "/receipt"}
	sharedLeaves = []string{module + "/internal/handshake"}
)

func layerOf(pkg string) string {
	for _, l := range lowerLayers {
		if pkg == l || strings.HasPrefix(pkg, l+"/") {
			return l
		}
	}
	return ""
}

// TestLayering fails for any lower-layer package that imports a module
// package outside its own tree (other than a shared leaf), and for a shared
// leaf that imports the module at all. Test files are not part of the graph.
func TestLayering(t *testing.T) {
	seen := map[string]int{}
	for _, fields := range goList(t, `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`) {
		pkg, imports := fields[0], fields[1:]
		layer, leaf := layerOf(pkg), slices.Contains(sharedLeaves, pkg)
		if layer == "" && !leaf {
			continue
		}
		if leaf {
			seen[pkg]++
		} else {
			seen[layer]++
		}
		for _, imp := range imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			switch {
			case leaf:
				t.Errorf("%s (a shared leaf of the lower layers) imports %s", pkg, imp)
			case layerOf(imp) != layer && !slices.Contains(sharedLeaves, imp):
				t.Errorf("%s (%s layer) imports %s", pkg, strings.TrimPrefix(layer, module+"/"), imp)
			}
		}
	}
	// Every layer and leaf must have been listed, or the test proves nothing.
	for _, l := range slices.Concat(lowerLayers, sharedLeaves) {
		if seen[l] == 0 {
			t.Fatalf("no package of %q listed (seen %v); the listing is not what this test expects", l, seen)
		}
	}
}

func containsForbidden(deps []string) bool {
	for _, d := range deps {
		if forbidden(d) {
			return true
		}
	}
	return false
}

// The flags go-sev-guest and go-tdx-guest register on flag.CommandLine when
// their client (and, for the first, verify) packages are linked.
var libraryFlags = []string{
	"sev_guest_device_path", "self_throttle_duration", "self_throttle_burst", "default_vmpl", // go-sev-guest/client
	"workaround_kds_productname", // go-sev-guest/verify
	"tdx_guest_device_path",      // go-tdx-guest/client
}

// TestNoGlobalFlags: with the whole verifier side imported, flag.CommandLine
// holds only the testing package's own flags.
func TestNoGlobalFlags(t *testing.T) {
	for _, name := range libraryFlags {
		if flag.Lookup(name) != nil {
			t.Errorf("flag -%s is registered", name)
		}
	}
	flag.VisitAll(func(f *flag.Flag) {
		if !strings.HasPrefix(f.Name, "test.") {
			t.Errorf("flag -%s is registered (%s)", f.Name, f.Usage)
		}
	})
}
