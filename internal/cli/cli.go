// Package cli implements the orbis command line: one file per verb, each
// registering itself in the verb table. Daemons (node, central, dev) are
// verbs too, but their verbs live in package verbs (internal/cli/verbs),
// which imports them; the daemons import neither.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// A Command is one verb of the command line.
type Command struct {
	Name    string
	Summary string
	// Run runs the verb with the arguments after its name.
	Run func(ctx context.Context, env *Env, args []string) error
	// Hidden keeps the verb out of the usage text.
	Hidden bool
}

// Env is what a verb may use besides its arguments.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

var commands = map[string]*Command{}

func register(c *Command) {
	if _, dup := commands[c.Name]; dup {
		panic("cli: verb registered twice: " + c.Name)
	}
	commands[c.Name] = c
}

// UsageError is a mistake on the command line; it exits with status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// ExitError passes on the non-zero exit status of a command the verb ran
// (as `orbis sliver exec` does); main exits with it and prints nothing.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

// ExitCode maps an error returned by Run to a process exit status, and
// whether main should print the error.
func ExitCode(err error) (code int, print bool) {
	var u *UsageError
	var x *ExitError
	switch {
	case errors.As(err, &x):
		return x.Code, false
	case errors.As(err, &u):
		return 2, true
	}
	return 1, true
}

// Run runs the verb named by args[0].
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("unknown command %q (see 'orbis help')", args[0])}
	}
	return c.Run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: orbis COMMAND [ARGS]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.Hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, n := range names {
		fmt.Fprintf(tw, "  %s\t%s\n", n, commands[n].Summary)
	}
	tw.Flush()
}

// subcommand splits "VERB SUB args..." into SUB and the rest, or fails with
// the list of valid subcommands.
func subcommand(verb string, args []string, valid ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, &UsageError{Msg: fmt.Sprintf("usage: orbis %s %s", verb, strings.Join(valid, "|"))}
	}
	for _, v := range valid {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, &UsageError{Msg: fmt.Sprintf("orbis %s: unknown subcommand %q (want %s)", verb, args[0], strings.Join(valid, ", "))}
}

// Register adds a verb implemented outside this package: the daemons' and
// the root-only node verbs (package verbs), whose daemons this package
// must not import.
func Register(c *Command) { register(c) }
