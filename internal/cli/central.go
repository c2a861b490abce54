package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// The verbs that talk to central (login, site, person, key, nodes, slice)
// share one shape: `orbis VERB SUB [ARGS] [FLAGS]`, flags anywhere, each
// with --central, --token and --json. They use central's JSON API through
// api.CentralClient only: this package imports nothing of central's.

// A centralSub is one subcommand of a central verb.
type centralSub struct {
	name string
	// usage follows "orbis VERB ", e.g. "show ID|NAME [--json]".
	usage string
	// minArgs and maxArgs bound the positional arguments (-1: no bound).
	minArgs, maxArgs int
	// setup registers the subcommand's flags and returns what runs it.
	setup func(fs *flag.FlagSet) func(ctx context.Context, c *centralCall) error
}

// centralCall is what a subcommand runs with.
type centralCall struct {
	env    *Env
	client *api.CentralClient
	args   []string
	json   bool
}

// centralVerb returns the Run function of a verb made of subs.
func centralVerb(verb string, subs []*centralSub) func(context.Context, *Env, []string) error {
	return func(ctx context.Context, env *Env, args []string) error {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			fmt.Fprint(env.Stdout, centralUsage(verb, subs))
			return nil
		}
		var sub *centralSub
		for _, s := range subs {
			if s.name == args[0] {
				sub = s
			}
		}
		if sub == nil {
			return &UsageError{Msg: fmt.Sprintf("orbis %s: unknown subcommand %q\n%s", verb, args[0], centralUsage(verb, subs))}
		}
		return runCentralSub(ctx, env, verb, sub, args[1:])
	}
}

func runCentralSub(ctx context.Context, env *Env, verb string, sub *centralSub, args []string) error {
	usage := fmt.Sprintf("usage: orbis %s %s", verb, sub.usage)
	fs := flag.NewFlagSet("orbis "+verb+" "+sub.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	run := sub.setup(fs)
	pos, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(env.Stdout, usage)
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		return nil
	}
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("orbis %s %s: %v\n%s", verb, sub.name, err, usage)}
	}
	if len(pos) < sub.minArgs || (sub.maxArgs >= 0 && len(pos) > sub.maxArgs) {
		return &UsageError{Msg: usage}
	}
	client, err := conn.client()
	if err != nil {
		return err
	}
	err = run(ctx, &centralCall{env: env, client: client, args: pos, json: *asJSON})
	return conn.explain(err)
}

func centralUsage(verb string, subs []*centralSub) string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, s := range subs {
		fmt.Fprintf(&b, "  orbis %s %s\n", verb, s.usage)
	}
	b.WriteString("\nEvery subcommand takes --central URL and --token T (default: the\n" +
		"credentials `orbis login` saved, or $ORBIS_CENTRAL and $ORBIS_TOKEN)\n" +
		"and --json; -h after a subcommand lists its flags.\n")
	return b.String()
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments ("update mit --name MIT"), and returns the
// positional ones. Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// connFlags says which central to call and as whom.
type connFlags struct {
	central, token string
	trust          trustFlags
	// anonymous is set when the client has no token.
	anonymous bool
}

func addConnFlags(fs *flag.FlagSet) *connFlags {
	c := &connFlags{}
	fs.StringVar(&c.central, "central", "", "central's URL (default: $ORBIS_CENTRAL, or the one saved by orbis login)")
	fs.StringVar(&c.token, "token", "", "API token (default: $ORBIS_TOKEN, or the one saved by orbis login)")
	c.trust.add(fs)
	return c
}

// errNotLoggedIn is the answer to a call without credentials.
var errNotLoggedIn = errors.New("not logged in to central: run `orbis login` first")

// client returns a client of the chosen central: flags first, then the
// environment, then the saved credentials (whose token is used only with
// the central it was issued by).
func (c *connFlags) client() (*api.CentralClient, error) {
	central := firstOf(c.central, os.Getenv("ORBIS_CENTRAL"))
	token := firstOf(c.token, os.Getenv("ORBIS_TOKEN"))
	cred, err := loadCredentials()
	if err != nil && (central == "" || token == "" || !c.trust.given()) {
		return nil, err
	}
	if central == "" {
		central = cred.Central
	}
	if token == "" && sameCentral(central, cred.Central) {
		token = cred.Token
	}
	if central == "" {
		return nil, errNotLoggedIn
	}
	if !strings.Contains(central, "://") {
		return nil, &UsageError{Msg: fmt.Sprintf("central %q: want a URL such as https://plc.example.org", central)}
	}
	tr, err := c.trust.trust(central, cred)
	if err != nil {
		return nil, err
	}
	v, err := verifier(central, tr, "or run orbis login first")
	if err != nil {
		return nil, err
	}
	c.anonymous = token == ""
	return api.NewCentralClientTLS(central, token, v), nil
}

// explain turns an authentication fault into what to do about it.
func (c *connFlags) explain(err error) error {
	var ce *api.CentralError
	if !errors.As(err, &ce) || ce.Code != api.FaultAuth {
		return err
	}
	if c.anonymous {
		return fmt.Errorf("%w (%s)", errNotLoggedIn, ce.Message)
	}
	return fmt.Errorf("%w (the token may have expired: run `orbis login` again)", err)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func sameCentral(a, b string) bool {
	return strings.TrimRight(a, "/") == strings.TrimRight(b, "/")
}

// fieldSpec is a flag that sets one field of a record (create, update).
type fieldSpec struct {
	flag, field string
	kind        fieldKind
	help        string
}

type fieldKind int

const (
	kindString fieldKind = iota
	kindInt
	kindBool
	kindFloat
	kindDate // a date or +DURATION, sent as Unix seconds
)

// fieldValue is a fieldSpec's flag.Value: it remembers whether it was set.
type fieldValue struct {
	spec fieldSpec
	raw  string
	set  bool
}

func (v *fieldValue) String() string     { return v.raw }
func (v *fieldValue) Set(s string) error { v.raw, v.set = s, true; return nil }
func (v *fieldValue) IsBoolFlag() bool   { return v.spec.kind == kindBool }

// fieldFlags are the field flags of one subcommand.
type fieldFlags []*fieldValue

func addFieldFlags(fs *flag.FlagSet, specs []fieldSpec) fieldFlags {
	ff := make(fieldFlags, len(specs))
	for i, s := range specs {
		ff[i] = &fieldValue{spec: s}
		fs.Var(ff[i], s.flag, s.help)
	}
	return ff
}

// values returns the fields whose flags were given, converted to their
// kinds.
func (ff fieldFlags) values() (map[string]any, error) {
	out := map[string]any{}
	for _, v := range ff {
		if !v.set {
			continue
		}
		x, err := convertField(v.spec.kind, v.raw)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s %q: %v", v.spec.flag, v.raw, err)}
		}
		out[v.spec.field] = x
	}
	return out, nil
}

// names lists the flags, for "nothing to change" messages.
func (ff fieldFlags) names() string {
	var n []string
	for _, v := range ff {
		n = append(n, "--"+v.spec.flag)
	}
	return strings.Join(n, ", ")
}

// ref is how a command-line argument names a record: a number is an id,
// anything else a name (login_base, email, hostname, slice name).
func ref(s string) any {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" || len(s) > 18 {
		return s
	}
	var id int64
	for _, r := range s {
		id = id*10 + int64(r-'0')
	}
	return id
}

// refs converts several arguments with ref.
func refs(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = ref(a)
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
