// Package cli is the command tree of the seatrx binaries, on the standard
// flag package: each Command has its own flags, usage line, one-line summary
// and subcommands; Run dispatches, prints help in the style of the Go tools
// (-h, --help and "help [COMMAND...]" at every level) and turns usage errors
// into exit status 2 with a message naming the flag or argument at fault.
//
// Adding a subcommand is one Command literal in its parent's Subs:
//
//	{Name: "show", Summary: "print the server's public keys",
//		Usage: "--data DIR [--json]", Required: []string{"data"},
//		Setup: func(fs *flag.FlagSet) cli.Action {
//			data := fs.String("data", "", "the server's data `DIR`")
//			asJSON := fs.Bool("json", false, "print JSON")
//			return func(env *cli.Env, args []string) error {
//				if len(args) > 0 {
//					return cli.Usagef("unexpected argument %q", args[0])
//				}
//				... // write to env.Stdout; return an error to fail (exit 1)
//			}
//		}}
//
// Setup runs once per invocation (and for help), so flags live in the
// closure, never in globals. Required flags are checked before the action
// runs; conditional rules (Conflict, Usagef) belong in the action.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Exit statuses of Run.
const (
	ExitOK    = 0
	ExitFail  = 1 // the command ran and failed (a check, a refusal, an I/O error)
	ExitUsage = 2 // bad command line: unknown command or flag, missing or bad value
)

// Action runs a command with its positional arguments (flags are parsed).
type Action func(env *Env, args []string) error

// Env is what an action writes to.
type Env struct {
	Stdout, Stderr io.Writer
	// Path is the full command, e.g. "seatrx receipt verify", for messages.
	Path string
}

// Command is one node of the tree: a group (Subs and no Setup), a leaf
// (Setup), or both (a root that runs itself and has subcommands, such as
// seatrx-server).
type Command struct {
	// Name selects the command; the root's is the binary's name.
	Name string
	// Summary is one line, lower case, no final period: what it does.
	Summary string
	// Usage follows the command path on the usage line, e.g.
	// "--bundle FILE --keys FILE [flags]"; default "[flags]" for a leaf,
	// "<command> [arguments]" for a group.
	Usage string
	// Doc, if set, is printed in help after the summary.
	Doc string
	// Setup defines the command's flags on fs and returns its action; nil
	// for a pure group.
	Setup func(fs *flag.FlagSet) Action
	// Required names flags (without dashes) that must be given a non-empty value.
	Required []string
	// Subs are the subcommands, listed in help in this order.
	Subs []*Command
}

// UsageError is a bad command line: Run prints it with the command's usage
// line and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ErrReported is returned by an action that has already printed why it
// failed: Run exits 1 and prints nothing more.
var ErrReported = errors.New("cli: failure already reported")

// Conflict returns a usage error if both flags a and b were set on fs.
func Conflict(fs *flag.FlagSet, a, b, why string) error {
	if isSet(fs, a) && isSet(fs, b) {
		return Usagef("--%s and --%s cannot be used together: %s", a, b, why)
	}
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Run runs the command that args select under root and returns the exit
// status. Help goes to stdout; errors and usage errors to stderr.
func Run(root *Command, args []string, stdout, stderr io.Writer) int {
	return run(root, []*Command{root}, args, stdout, stderr)
}

func run(c *Command, path []*Command, args []string, stdout, stderr io.Writer) int {
	fs, action := flags(c, path)
	var version *bool
	if len(path) == 1 && c.sub("version") != nil {
		version = fs.Bool("version", false, "print the version and exit")
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "%s: %s\n", pathName(path), msg)
		fmt.Fprintf(stderr, "usage: %s\n", usageLine(c, path))
		fmt.Fprintf(stderr, "Run '%s' for details.\n", helpCommand(path))
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			help(stdout, c, path)
			return ExitOK
		}
		return usageErr(err.Error())
	}
	if version != nil && *version {
		return run(c.sub("version"), append(path, c.sub("version")), nil, stdout, stderr)
	}
	rest := fs.Args()
	if len(c.Subs) > 0 && len(rest) > 0 {
		if rest[0] == "help" {
			return helpFor(c, path, rest[1:], stdout, stderr)
		}
		if s := c.sub(rest[0]); s != nil {
			if fs.NFlag() > 0 {
				return usageErr(fmt.Sprintf("flags before %q belong to %s, not to %s: put them after the command", rest[0], pathName(path), rest[0]))
			}
			return run(s, append(path, s), rest[1:], stdout, stderr)
		}
		if action == nil || !strings.HasPrefix(rest[0], "-") {
			return usageErr(fmt.Sprintf("unknown command %q (want %s)", rest[0], c.subNames()))
		}
	}
	if action == nil {
		return usageErr(fmt.Sprintf("missing command (want %s)", c.subNames()))
	}
	for _, name := range c.Required {
		if f := fs.Lookup(name); f != nil && f.Value.String() == "" {
			return usageErr(fmt.Sprintf("missing required flag --%s (%s)", name, flagUsage(f)))
		}
	}
	env := &Env{Stdout: stdout, Stderr: stderr, Path: pathName(path)}
	err := action(env, rest)
	var ue *UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return usageErr(ue.Msg)
	case errors.Is(err, ErrReported):
		return ExitFail
	}
	fmt.Fprintf(stderr, "%s: %v\n", pathName(path), err)
	return ExitFail
}

// flags builds c's flag set (silent: Run prints the errors).
func flags(c *Command, path []*Command) (*flag.FlagSet, Action) {
	fs := flag.NewFlagSet(pathName(path), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var action Action
	if c.Setup != nil {
		action = c.Setup(fs)
	}
	return fs, action
}

func (c *Command) sub(name string) *Command {
	for _, s := range c.Subs {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (c *Command) subNames() string {
	var names []string
	for _, s := range c.Subs {
		names = append(names, s.Name)
	}
	names = append(names, "help")
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

func pathName(path []*Command) string {
	var names []string
	for _, c := range path {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

func helpCommand(path []*Command) string {
	if len(path) == 1 {
		return path[0].Name + " help"
	}
	return path[0].Name + " help " + pathName(path[1:])
}

func usageLine(c *Command, path []*Command) string {
	u := c.Usage
	if u == "" {
		if c.Setup == nil {
			u = "<command> [arguments]"
		} else {
			u = "[flags]"
		}
	}
	return pathName(path) + " " + u
}

// helpFor answers "help [COMMAND...]" under c.
func helpFor(c *Command, path []*Command, names []string, stdout, stderr io.Writer) int {
	for i, n := range names {
		s := c.sub(n)
		if s == nil {
			fmt.Fprintf(stderr, "%s help: unknown command %q (want %s)\n", pathName(path), strings.Join(names[:i+1], " "), c.subNames())
			fmt.Fprintf(stderr, "usage: %s help [<command>...]\n", pathName(path))
			fmt.Fprintf(stderr, "Run '%s' for the list.\n", helpCommand(path))
			return ExitUsage
		}
		c, path = s, append(path, s)
	}
	help(stdout, c, path)
	return ExitOK
}

// help prints c's help: usage line, summary, doc, commands, flags.
func help(w io.Writer, c *Command, path []*Command) {
	fmt.Fprintf(w, "usage: %s\n", usageLine(c, path))
	if c.Setup != nil && len(c.Subs) > 0 {
		fmt.Fprintf(w, "       %s <command> [arguments]\n", pathName(path))
	}
	if c.Summary != "" {
		fmt.Fprintf(w, "\n%s.\n", upperFirst(c.Summary))
	}
	if c.Doc != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.Doc, "\n"))
	}
	if len(c.Subs) > 0 {
		fmt.Fprintf(w, "\nCommands:\n")
		width := 0
		for _, s := range c.Subs {
			width = max(width, len(s.Name))
		}
		for _, s := range c.Subs {
			fmt.Fprintf(w, "  %-*s  %s\n", width, s.Name, s.Summary)
		}
	}
	fs, _ := flags(c, path)
	if len(path) == 1 && c.sub("version") != nil {
		fs.Bool("version", false, "print the version and exit")
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		printDefaults(w, fs, c.Required)
	}
	if len(c.Subs) > 0 {
		fmt.Fprintf(w, "\nRun '%s <command>' for details on a command.\n", helpCommand(path))
	}
}

// printDefaults is flag.PrintDefaults with two dashes, as the rest of the
// seatrx messages spell flags, and "(required)" on required flags.
func printDefaults(w io.Writer, fs *flag.FlagSet, required []string) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if t, ok := f.Value.(interface{ Type() string }); ok && name == "value" {
			name = t.Type()
		}
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%s\n    \t%s", line, strings.ReplaceAll(usage, "\n", "\n    \t"))
		switch {
		case slices.Contains(required, f.Name):
			fmt.Fprint(w, " (required)")
		case !isZeroDefault(f):
			if _, ok := f.Value.(interface{ IsBoolFlag() bool }); ok || name != "string" {
				fmt.Fprintf(w, " (default %s)", f.DefValue)
			} else {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
		}
		fmt.Fprintln(w)
	})
}

func isZeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s":
		return true
	}
	return false
}

func flagUsage(f *flag.Flag) string {
	_, u := flag.UnquoteUsage(f)
	return u
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
