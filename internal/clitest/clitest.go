// Package clitest is the test kit of the command-line tests: it builds the
// seatrx binaries once per test binary and runs them as a user would, so
// that what is tested is what ships (flag parsing, exit status, stdout and
// stderr), not an in-process stand-in.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seatrx/seatrx/internal/cli"
)

// Binaries maps a binary's name to its main package, relative to the
// module root.
var Binaries = map[string]string{
	"seatrx":        "./cmd/client",
	"seatrx-server": "./cmd/server",
}

// Build compiles the named binaries (keys of Binaries) into dir with one go
// build per binary. It builds with -race when the test binary runs with the
// race detector, so the build reuses the packages the test build compiled,
// and with -buildvcs=auto so --version shows the checkout's revision.
func Build(dir string, names ...string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	for _, n := range names {
		pkg, ok := Binaries[n]
		if !ok {
			return fmt.Errorf("clitest: unknown binary %q", n)
		}
		args := []string{"build", "-buildvcs=auto", "-o", filepath.Join(dir, n)}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, pkg)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("clitest: go build %s: %v\n%s", pkg, err, out)
		}
	}
	return nil
}

// moduleRoot is the directory of go.mod above this source file.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("clitest: cannot locate the module")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// ModuleRoot is the module's root directory (for example files).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	r, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Result is one finished run of a binary.
type Result struct {
	Code           int
	Stdout, Stderr string
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin with args (60 s at most) and returns its exit status and
// output.
func Run(t testing.TB, bin string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Env()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return Result{Code: cmd.ProcessState.ExitCode(), Stdout: out.String(), Stderr: errb.String()}
}

// Env is the environment for running a built binary: this process's, with
// the race detector's one-second pause at exit turned off (a -race binary
// otherwise takes a second longer to finish every run).
func Env() []string {
	return append(os.Environ(), "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// Main is a TestMain body: it builds names into a temporary directory,
// calls set with their paths, runs the tests and removes the directory.
func Main(m *testing.M, set func(bin map[string]string), names ...string) int {
	dir, err := os.MkdirTemp("", "seatrx-clitest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := Build(dir, names...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins := map[string]string{}
	for _, n := range names {
		bins[n] = filepath.Join(dir, n)
	}
	set(bins)
	return m.Run()
}

// CommandPaths lists every command of the tree under root that runs
// something ("seatrx receipt verify"), parents before children.
func CommandPaths(root *cli.Command) []string {
	var out []string
	var walk func(c *cli.Command, prefix string)
	walk = func(c *cli.Command, prefix string) {
		path := strings.TrimSpace(prefix + " " + c.Name)
		if c.Setup != nil {
			out = append(out, path)
		}
		for _, s := range c.Subs {
			walk(s, path)
		}
	}
	walk(root, "")
	return out
}

// CheckReadmeTable fails t unless the README's command table has a row
// for every command of root: "| `PATH` | ...".
func CheckReadmeTable(t *testing.T, root *cli.Command) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ModuleRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range CommandPaths(root) {
		if !strings.Contains(string(b), "\n| `"+p+"` | ") {
			t.Errorf("README.md's command table has no row for %s", p)
		}
	}
}
