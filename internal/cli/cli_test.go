package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// testTree is a root group with a version command, a leaf with a required
// flag and a group with one leaf.
func testTree() *Command {
	return &Command{Name: "tool", Summary: "do tool things", Subs: []*Command{
		{Name: "show", Summary: "show a file", Usage: "FILE", Setup: func(fs *flag.FlagSet) Action {
			return func(env *Env, args []string) error {
				if len(args) != 1 {
					return Usagef("want one FILE, got %d arguments", len(args))
				}
				fmt.Fprintf(env.Stdout, "showing %s\n", args[0])
				return nil
			}
		}},
		{Name: "get", Summary: "get a thing", Usage: "--from URL [flags]", Required: []string{"from"},
			Setup: func(fs *flag.FlagSet) Action {
				from := fs.String("from", "", "where from (`URL`)")
				ca := fs.String("ca", "", "CA `FILE`")
				dev := fs.String("dev", "", "dev `DIR`")
				var n int
				IntVar(fs, &n, "n", 3, 1, 10, "how many")
				return func(env *Env, args []string) error {
					if err := Conflict(fs, "ca", "dev", "--dev brings its own CA"); err != nil {
						return err
					}
					if *from == "fail" {
						return errors.New("it failed")
					}
					fmt.Fprintf(env.Stdout, "got %d from %s%s%s\n", n, *from, *ca, *dev)
					return nil
				}
			}},
		{Name: "keys", Summary: "manage keys", Subs: []*Command{
			{Name: "rotate", Summary: "rotate the keys", Setup: func(fs *flag.FlagSet) Action {
				return func(env *Env, args []string) error { return ErrReported }
			}},
		}},
		{Name: "version", Summary: "print the version", Setup: func(fs *flag.FlagSet) Action {
			return func(env *Env, args []string) error { fmt.Fprintln(env.Stdout, "tool v1"); return nil }
		}},
	}}
}

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		code         int
		stdout       string // substring
		stderr       string // substring
		stdoutAbsent string
	}{
		{nil, 2, "", "tool: missing command (want show, get, keys, version or help)\nusage: tool <command> [arguments]\nRun 'tool help' for details.", ""},
		{[]string{"-h"}, 0, "usage: tool <command> [arguments]\n\nDo tool things.\n\nCommands:\n  show     show a file\n", "", ""},
		{[]string{"--help"}, 0, "Run 'tool help <command>' for details on a command.", "", ""},
		{[]string{"help"}, 0, "  --version\n    \tprint the version and exit\n", "", ""},
		{[]string{"help", "keys", "rotate"}, 0, "usage: tool keys rotate [flags]\n\nRotate the keys.\n", "", "Flags:"},
		{[]string{"help", "nope"}, 2, "", `tool help: unknown command "nope"`, ""},
		{[]string{"keys", "help", "rotate"}, 0, "usage: tool keys rotate", "", ""},
		{[]string{"keys", "--help"}, 0, "usage: tool keys <command> [arguments]", "", ""},
		{[]string{"keys"}, 2, "", "tool keys: missing command (want rotate or help)", ""},
		{[]string{"keys", "rotate"}, 1, "", "", ""},
		{[]string{"nope"}, 2, "", "tool: unknown command \"nope\" (want show, get, keys, version or help)", ""},
		{[]string{"--nope"}, 2, "", "tool: flag provided but not defined: -nope", ""},
		{[]string{"--version"}, 0, "tool v1\n", "", ""},
		{[]string{"version"}, 0, "tool v1\n", "", ""},
		{[]string{"show", "--help"}, 0, "usage: tool show FILE\n\nShow a file.\n", "", "Flags:"},
		{[]string{"show", "x.bin"}, 0, "showing x.bin", "", ""},
		{[]string{"show"}, 2, "", "tool show: want one FILE, got 0 arguments\nusage: tool show FILE\nRun 'tool help show' for details.\n", ""},
		{[]string{"get"}, 2, "", "tool get: missing required flag --from (where from (URL))", ""},
		{[]string{"get", "-h"}, 0, "  --from URL\n    \twhere from (URL) (required)\n  --n N\n    \thow many (default 3)\n", "", ""},
		{[]string{"get", "--from", "a", "--n", "0"}, 2, "", `invalid value "0" for flag -n: want a whole number from 1 to 10`, ""},
		{[]string{"get", "--from", "a", "--ca", "c", "--dev", "d"}, 2, "", "tool get: --ca and --dev cannot be used together: --dev brings its own CA", ""},
		{[]string{"get", "--from", "fail"}, 1, "", "tool get: it failed\n", ""},
		{[]string{"get", "--from", "a", "--n", "5"}, 0, "got 5 from a", "", ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(testTree(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) ||
				(tc.stdoutAbsent != "" && strings.Contains(out.String(), tc.stdoutAbsent)) {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, stdout with %q, stderr with %q", code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
			if tc.code == 2 && out.Len() > 0 {
				t.Fatalf("usage error wrote to stdout: %q", out.String())
			}
		})
	}
}

// A root that runs itself (seatrx-server) still dispatches subcommands and
// refuses its flags before one.
func TestRootWithAction(t *testing.T) {
	root := &Command{Name: "srv", Summary: "serve", Setup: func(fs *flag.FlagSet) Action {
		var d time.Duration
		DurationVar(fs, &d, "timeout", time.Second, 0, "how long")
		return func(env *Env, args []string) error {
			if len(args) > 0 {
				return Usagef("unexpected argument %q", args[0])
			}
			fmt.Fprintf(env.Stdout, "serving %s\n", d)
			return nil
		}
	}, Subs: []*Command{{Name: "version", Summary: "print the version", Setup: func(fs *flag.FlagSet) Action {
		return func(env *Env, args []string) error { fmt.Fprintln(env.Stdout, "srv v1"); return nil }
	}}}}
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{nil, 0, "serving 1s", ""},
		{[]string{"--timeout", "2s"}, 0, "serving 2s", ""},
		{[]string{"--timeout", "-2s"}, 2, "", `invalid value "-2s" for flag -timeout: want a duration of 0 or more`},
		{[]string{"--version"}, 0, "srv v1", ""},
		{[]string{"--timeout", "2s", "--version"}, 0, "srv v1", ""},
		{[]string{"version"}, 0, "srv v1", ""},
		{[]string{"--timeout", "2s", "version"}, 2, "", `flags before "version" belong to srv`},
		{[]string{"bogus"}, 2, "", `srv: unknown command "bogus" (want version or help)`},
		{[]string{"-h"}, 0, "usage: srv [flags]\n       srv <command> [arguments]\n\nServe.\n", ""},
	} {
		var out, errb bytes.Buffer
		if code := Run(root, tc.args, &out, &errb); code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
			t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s", tc.args, code, out.String(), errb.String())
		}
	}
}

func TestValues(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var b bool
	var e, addr string
	var n int
	var d time.Duration
	BoolVar(fs, &b, "b", false, "")
	EnumVar(fs, &e, "e", "text", []string{"text", "json"}, "")
	IntVar(fs, &n, "n", 1, 1, 100, "")
	DurationVar(fs, &d, "d", time.Second, time.Millisecond, "")
	AddrVar(fs, &addr, "addr", "127.0.0.1:8443", "")
	for _, tc := range []struct {
		flag, value, err string
	}{
		{"b", "yes", "want true or false"},
		{"b", "true", ""},
		{"e", "jsn", "want text or json"},
		{"e", "json", ""},
		{"n", "0", "want a whole number from 1 to 100"},
		{"n", "-5", "want a whole number from 1 to 100"},
		{"n", "x", "want a whole number from 1 to 100"},
		{"n", "100", ""},
		{"d", "-1s", "want a duration of at least 1ms"},
		{"d", "10", "want a duration of at least 1ms"},
		{"d", "1m30s", ""},
		{"addr", "8443", "want HOST:PORT"},
		{"addr", "localhost:http", `port "http": want a number from 0 to 65535`},
		{"addr", "localhost:70000", `port "70000"`},
		{"addr", "a b:1", `host "a b"`},
		{"addr", ":8443", ""},
		{"addr", "[::1]:0", ""},
	} {
		err := fs.Set(tc.flag, tc.value)
		if (tc.err == "") != (err == nil) || (err != nil && err.Error() != tc.err && !strings.HasPrefix(err.Error(), tc.err)) {
			t.Errorf("--%s %q: %v, want %q", tc.flag, tc.value, err, tc.err)
		}
	}
	if !b || e != "json" || n != 100 || d != 90*time.Second || addr != "[::1]:0" {
		t.Fatalf("values %v %q %d %s %q", b, e, n, d, addr)
	}
}

func TestStringsVar(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var got []string
	StringsVar(fs, &got, "keys", "")
	if err := fs.Parse([]string{"--keys", "a", "--keys", "b"}); err != nil || len(got) != 2 || got[1] != "b" || fs.Lookup("keys").Value.String() != "a,b" {
		t.Fatalf("%v %v", got, err)
	}
	if err := fs.Parse([]string{"--keys", ""}); err == nil {
		t.Fatal("empty value accepted")
	}
}

func TestSizeVar(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MiB", 512 << 20, true}, {"1GiB", 1 << 30, true}, {"64 KiB", 64 << 10, true}, {"2GB", 2 << 30, true},
		{"1048576", 1 << 20, true}, {"0", 0, true}, {"1KB", 1 << 10, true},
		{"-1MiB", 0, false}, {"1.5GiB", 0, false}, {"lots", 0, false}, {"9TiB", 0, false}, {"17GiB", 0, false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		var v int64
		SizeVar(fs, &v, "s", 7, 0, 16<<30, "")
		err := fs.Set("s", tc.in)
		if (err == nil) != tc.ok || (tc.ok && v != tc.want) {
			t.Errorf("Set(%q) = %d, %v; want %d ok=%v", tc.in, v, err, tc.want, tc.ok)
		}
		if !tc.ok && err != nil && err.Error() != "want a size from 0 to 16GiB, such as 512MiB or 1GiB" {
			t.Errorf("Set(%q): message %q", tc.in, err)
		}
	}
	if FormatSize(512<<20) != "512MiB" || FormatSize(1500) != "1500" {
		t.Errorf("FormatSize: %s %s", FormatSize(512<<20), FormatSize(1500))
	}
}
