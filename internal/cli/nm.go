package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/rootfs"
)

func init() {
	register(&Command{
		Name:    "nm",
		Summary: "call this node's node manager (acquire, bind, create, split, release, query, list, rcaps, pass, reclaim, start, stop, destroy)",
		Run:     runNM,
	})
}

const nmUsage = `usage: orbis nm SUBCOMMAND [--socket PATH] [--json] [INPUT]

INPUT is a JSON object, given as the argument or on standard input
(give no argument, or "-"). Rcaps are secrets: pass them on standard input
rather than as arguments, which other users can see.

  acquire RSPEC                          -> {"rcap": ...}
  bind    {"slice", "rcap", "attrs": {"keys", "initscript", "image"}}
  create  {"slice", "rspec", "attrs"}    -> {"rcap": ...}: acquire (with
                                         create_sliver) and bind in one
                                         call; the rcap is released if
                                         the bind fails
  split   {"rcap", "rspec"}              -> {"rcap": ...}
  release {"rcap"}
  query   {"rcap"}                       -> {"id", "rspec", "slice"}
  list                                   a table; --json for JSON
  rcaps                                  the caller's rcaps; --json adds
                                         the secrets of those it may see
  pass    {"rcap", "to"}                 hand an rcap to slice "to"
  extend  {"rcap", "end"}                move the rcap's end later, in place
  amend   {"rcap", "rspec"}              give the rcap new resources, in place
  reclaim ID or {"id"}                   release any rcap by its ID, whoever
                                         owns it (root; see list)
  start|stop|destroy NAME or {"name"}
`

func runNM(ctx context.Context, env *Env, args []string) error {
	sub, rest, err := subcommand("nm", args, "acquire", "bind", "create", "split", "release", "query", "list", "rcaps", "pass", "extend", "amend", "reclaim", "start", "stop", "destroy")
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("orbis nm "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	socket := fs.String("socket", api.NMSocket, "the node manager's socket")
	asJSON := fs.Bool("json", false, "list: print JSON instead of a table")
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, nmUsage)
			return nil
		}
		return &UsageError{Msg: fmt.Sprintf("orbis nm %s: %v\n%s", sub, err, nmUsage)}
	}
	if fs.NArg() > 1 {
		return &UsageError{Msg: fmt.Sprintf("orbis nm %s: one INPUT at most, got %d (quote the JSON)", sub, fs.NArg())}
	}
	c := api.NewNMClient(*socket)
	switch sub {
	case "list":
		return nmShow(ctx, env, sub, *asJSON, fs.Args(), c.List, printNMList)
	case "rcaps":
		return nmShow(ctx, env, sub, *asJSON, fs.Args(), c.Rcaps, printNMRcaps)
	}
	body, err := nmInput(env.Stdin, sub, fs.Args())
	if err != nil {
		return err
	}
	if sub == "create" {
		return nmCreate(ctx, env, c, body)
	}
	resp, err := c.Raw(ctx, sub, body)
	if err != nil {
		return err
	}
	return printJSON(env.Stdout, resp)
}

// nmInput reads the subcommand's JSON and shapes it into the request body:
// acquire wraps an rspec, and the rcap and sliver calls accept a bare rcap
// or name.
func nmInput(stdin io.Reader, sub string, args []string) ([]byte, error) {
	var in []byte
	if len(args) == 1 && args[0] != "-" {
		in = []byte(args[0])
	} else {
		var err error
		if in, err = io.ReadAll(io.LimitReader(stdin, 1<<20)); err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
	}
	in = bytes.TrimSpace(in)
	if len(in) == 0 {
		return nil, &UsageError{Msg: fmt.Sprintf("orbis nm %s: no input (give JSON as the argument or on standard input)\n%s", sub, nmUsage)}
	}
	if in[0] != '{' {
		switch sub {
		case "release", "query":
			return json.Marshal(api.RcapRequest{Rcap: api.Rcap(in)})
		case "start", "stop", "destroy":
			return json.Marshal(api.SliverRequest{Name: string(in)})
		case "reclaim":
			return json.Marshal(api.ReclaimRequest{ID: string(in)})
		}
	}
	if !json.Valid(in) {
		return nil, fmt.Errorf("nm %s: input is not valid JSON", sub)
	}
	if sub == "acquire" {
		return append(append([]byte(`{"rspec":`), in...), '}'), nil
	}
	return in, nil
}

func printJSON(w io.Writer, raw json.RawMessage) error {
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return fmt.Errorf("node manager answer: %w", err)
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// nmShow prints what get returns: as JSON with asJSON, else by table.
func nmShow[T any](ctx context.Context, env *Env, sub string, asJSON bool, args []string,
	get func(context.Context) (T, error), table func(io.Writer, T) error) error {
	if len(args) > 0 {
		return &UsageError{Msg: "orbis nm " + sub + ": takes no input"}
	}
	v, err := get(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(env.Stdout, v)
	}
	return table(env.Stdout, v)
}

// printNMRcaps prints the caller's rcaps as an aligned table.
func printNMRcaps(w io.Writer, l api.NMRcaps) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RCAP\tOWNER\tPOOL\tBOUND\tSHARES\tCPU GUAR\tMEM GUAR\tSLIVERS\tEND\tPARENT")
	for _, r := range l.Rcaps {
		rs := r.Rspec
		pool := "-"
		if r.Pool {
			pool = "pool"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", r.ID, dash(r.Owner), pool, dash(r.Bound),
			rs.CPUShares, cpuStr(rs), bytesStr(rs.MemoryGuarantee), rs.Slivers, endStr(rs.End), dash(r.Parent))
	}
	return tw.Flush()
}

// printNMList prints the rcaps, then the slivers, as aligned tables.
func printNMList(w io.Writer, l api.NMList) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RCAP\tSLICE\tSHARES\tCPU GUAR\tMEM MAX\tMEM GUAR\tDISK MAX\tDISK GUAR\tPORTS\tEND\tPARENT")
	for _, r := range l.Rcaps {
		rs := r.Rspec
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, dash(r.Bound), rs.CPUShares,
			cpuStr(rs), bytesStr(rs.MemoryMax), bytesStr(rs.MemoryGuarantee), bytesStr(rs.DiskMax), bytesStr(rs.DiskGuarantee),
			portsStr(rs.Ports), endStr(rs.End), dash(r.Parent))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SLIVER\tSTATE\tPROCS\tRCAP\tUIDS\tIMAGE")
	for _, s := range l.Slivers {
		state := string(s.State)
		if s.Reason != "" {
			state += " (" + s.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d-%d\t%s\n", s.Name, state, s.Procs, s.Rcap,
			s.UIDBase, uint64(s.UIDBase)+uint64(s.UIDCount)-1, s.Image)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// bytesStr shows a size, or "-" for none.
func bytesStr(n int64) string {
	if n == 0 {
		return "-"
	}
	return rootfs.HumanSize(n)
}

func portsStr(ports []api.Port) string {
	if len(ports) == 0 {
		return "-"
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprintf("%s/%d", p.Proto, p.Port)
	}
	return strings.Join(s, ",")
}

func endStr(end int64) string {
	if end == 0 {
		return "never"
	}
	return time.Unix(end, 0).UTC().Format(time.RFC3339)
}

// cpuStr shows a CPU guarantee in thousandths of the node, and whether the
// sliver is capped at it.
func cpuStr(rs api.Rspec) string {
	switch {
	case rs.CPUGuarantee == 0:
		return "-"
	case rs.CPUCap:
		return fmt.Sprintf("%d/1000 capped", rs.CPUGuarantee)
	}
	return fmt.Sprintf("%d/1000", rs.CPUGuarantee)
}
