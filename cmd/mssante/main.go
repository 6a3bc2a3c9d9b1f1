// Command mssante is the MSSanté client platform: content tools (INS, CDA, IHE XDM, PDF/A, MSSanté
// mail), transport to the operators' API LPS, directory search, and servers.
//
// Every subcommand lives in its own file and registers itself with register. This file holds only
// the dispatch and the conventions shared by all subcommands (DESIGN.md "CLI conventions"): JSON on
// stdout, messages on stderr, exit 0 on success, 1 when refused or failed, 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand ("ins check") or one group's leaf.
type command struct {
	// name is the full path of the subcommand, words separated by spaces: "xdm pack".
	name string
	// summary is one line for the list of commands.
	summary string
	// usage is the synopsis printed by --help after "usage: mssante ".
	usage string
	// example is a working invocation printed by --help.
	example string
	// flags declares the flags on fs and returns the function that runs the command once flags and
	// positional arguments are parsed.
	flags func(fs *flag.FlagSet) runFunc
}

// runFunc runs a parsed command. args are the positional arguments.
type runFunc func(ctx context.Context, env *cmdEnv, args []string) error

// cmdEnv is what a command may touch of the process: its standard streams.
type cmdEnv struct {
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
	// stderrTTY: stderr is a terminal, a person reads it (lines for people may go among the
	// JSON logs there, never when a program collects them).
	stderrTTY bool
}

var commands = map[string]*command{}

// register adds c to the command table. It is called from init functions of the files of this
// package, one per subcommand group.
func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("mssante: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// usageError is returned for bad flags or arguments: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	endProfile := startProfile()
	code := run(ctx, &cmdEnv{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, stderrTTY: isTerminal(os.Stderr)}, os.Args[1:])
	endProfile()
	stop()
	os.Exit(code)
}

// isTerminal tells whether f is a character device (a terminal), not a file or a pipe.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// run dispatches args and returns the process exit code.
func run(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(env.stdout, versionLine(debug.ReadBuildInfo()))
		return 0
	}
	c, rest := lookup(args)
	if c == nil {
		if len(args) == 0 || isHelp(args[0]) {
			printCommands(env.stdout, "")
			return 0
		}
		words := groupWords(args)
		prefix := strings.Join(words, " ")
		if prefix != "" && (len(args) == len(words) || hasFlagHelp(args)) {
			printCommands(env.stdout, prefix)
			return 0
		}
		fmt.Fprintf(env.stderr, "mssante: unknown command %q\n", strings.Join(args, " "))
		printCommands(env.stderr, prefix)
		return 2
	}
	fs := flag.NewFlagSet("mssante "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runner := c.flags(fs)
	positional, err := parseInterleaved(fs, rest)
	if cerr := configured(fs, err == nil); err == nil {
		err = cerr // the configuration, once every flag is known
	}
	if errors.Is(err, flag.ErrHelp) {
		printUsage(env.stdout, c, fs)
		return 0
	}
	if err == nil {
		err = runner(ctx, env, positional)
	}
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue) || isFlagError(err):
		fmt.Fprintf(env.stderr, "mssante %s: %v\n", c.name, err)
		fmt.Fprintf(env.stderr, "usage: mssante %s\n(see mssante %s --help)\n", c.usage, c.name)
		return 2
	default:
		fmt.Fprintf(env.stderr, "mssante %s: %v\n", c.name, err)
		return 1
	}
}

// lookup finds the longest registered command name that prefixes args.
func lookup(args []string) (*command, []string) {
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, nil
}

// groupWords returns the leading words of args that name a group of commands.
func groupWords(args []string) []string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		candidate := strings.Join(append(words, a), " ")
		found := false
		for name := range commands {
			if strings.HasPrefix(name, candidate+" ") {
				found = true
				break
			}
		}
		if !found {
			break
		}
		words = append(words, a)
	}
	return words
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" || a == "help" }

func hasFlagHelp(args []string) bool {
	for _, a := range args {
		if isHelp(a) {
			return true
		}
	}
	return false
}

// flagErrorMarker wraps the errors of the flag package so that they map to exit code 2.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// parseInterleaved parses flags that may come before, between or after positional arguments, as
// the CLI contracts put them ("mssante cda pdf IN.xml -o OUT.pdf"). A lone "--" ends the flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &flagError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func printUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: mssante %s\n\n%s\n", c.usage, c.summary)
	if b := flagDefaults(fs); b != "" {
		fmt.Fprintf(w, "\nflags:\n%s", b)
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nexample:\n  %s\n", c.example)
	}
}

// flagDefaults lists the flags as the usage lines spell them, "--name VALUE", with the usage text
// and the default once: flag.PrintDefaults would print "-name" and repeat a default the text
// already states.
func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		value, usage := flag.UnquoteUsage(f)
		if n, ok := f.Value.(interface{ ArgName() string }); ok && value == "value" {
			value = n.ArgName() // a configuration flag: "duration", "string" as flag.Duration would say
		}
		b.WriteString("  --" + f.Name)
		if value != "" {
			b.WriteString(" " + value)
		}
		b.WriteString("\n        " + strings.ReplaceAll(usage, "\n", "\n        "))
		if !strings.Contains(usage, "default") && !zeroDefault(f) {
			if strings.ContainsAny(f.DefValue, " \t") {
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %s)", f.DefValue)
			}
		}
		b.WriteString("\n")
	})
	return b.String()
}

// zeroDefault tells whether f's default is its type's zero value, not worth printing.
func zeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return true
	}
	return false
}

// versionLine is what `mssante --version` prints: the module version and the VCS commit the
// binary was built from (runtime/debug build information), and the Go version.
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "mssante (no build information)"
	}
	version := bi.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var rev, when string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	line := "mssante " + version
	if rev != "" {
		line += " commit " + rev
		if dirty {
			line += " (modified)"
		}
		if when != "" {
			line += " " + when
		}
	} else {
		line += " commit unknown (built without VCS information)"
	}
	return line + " " + bi.GoVersion
}

func printCommands(w io.Writer, prefix string) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		if prefix == "" || strings.HasPrefix(name, prefix+" ") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	fmt.Fprintf(w, "usage: mssante <command> [flags] [arguments]\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(w, "  %-22s %s\n", name, commands[name].summary)
	}
	fmt.Fprintf(w, "\nRun \"mssante <command> --help\" for a command's flags and an example; \"mssante --version\" for the version.\n")
}

// stringList is a repeatable string flag (--to A --to B).
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
