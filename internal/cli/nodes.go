package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// `orbis nodes` manages central's node records. It is plural because
// `orbis node` is the node agent itself (internal/node), which a node runs
// with the token `orbis nodes token` prints.

func init() {
	register(&Command{
		Name:    "nodes",
		Summary: "node records at central (list|show|create|update|delete|token|upgrade)",
		Run:     centralVerb("nodes", nodeSubs),
	})
}

// nodeFields are the flags of nodes create and update.
var nodeFields = []fieldSpec{
	{"hostname", "hostname", kindString, "host name (update: a new name)"},
	{"type", "node_type", kindString, "regular or reservable"},
	{"boot-state", "boot_state", kindString, "boot, safeboot, reinstall or disabled"},
	{"ip", "ip", kindString, "IP address"},
}

var nodeSubs = []*centralSub{
	{name: "list", usage: "list [--site SITE] [--where EXPR] [--sort [-]FIELD] [--json]", maxArgs: 0, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		site := fs.String("site", "", "only the nodes of this site (id or login base)")
		where := fs.String("where", "", "only the nodes that meet this expression: "+api.NodeWhereHelp)
		sort := fs.String("sort", "", "sort by this field of --where (numbers ascending, text in order; -FIELD reverses; nodes without a summary last): load, free_mem...")
		return func(ctx context.Context, c *centralCall) error { return nodeList(ctx, c, *site, *where, *sort) }
	}},
	{name: "show", usage: "show ID|HOSTNAME [--json]", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return nodeShow
	}},
	{name: "create", usage: "create HOSTNAME --site SITE [--type regular|reservable] [--ip IP] [--no-token]", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, nodeFields)
		site := fs.String("site", "", "the node's site (id or login base)")
		noToken := fs.Bool("no-token", false, "do not issue a registration token")
		return func(ctx context.Context, c *centralCall) error { return nodeCreate(ctx, c, ff, *site, *noToken) }
	}},
	{name: "update", usage: "update ID|HOSTNAME [--boot-state S] [--type T] [--hostname H] [--ip IP]", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, nodeFields)
		return func(ctx context.Context, c *centralCall) error {
			return updateRecord(ctx, c, "node", ff, c.client.UpdateNode)
		}
	}},
	{name: "delete", usage: "delete ID|HOSTNAME", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			return deleteRecord(ctx, c, "node", c.client.DeleteNode)
		}
	}},
	{name: "token", usage: "token ID|HOSTNAME (a one-time registration token for the node)", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error { return nodeToken(ctx, c, ref(c.args[0]), c.args[0]) }
	}},
	nodesUpgradeSub,
}

func nodeShow(ctx context.Context, c *centralCall) error {
	n, err := findNode(ctx, c.client, c.args[0])
	if err != nil || c.json {
		return printOr(c, n, err)
	}
	sites, err := siteNames(ctx, c.client)
	if err != nil {
		return err
	}
	extra := [][2]string{{"site", sites[n.SiteID]}}
	if len(n.SliceIDs) > 0 {
		slices, err := c.client.GetSlices(ctx, n.SliceIDs, "slice_id", "name")
		if err != nil {
			return err
		}
		names := make([]string, len(slices))
		for i, s := range slices {
			names[i] = s.Name
		}
		extra = append(extra, [2]string{"slices", strings.Join(names, ", ")})
	}
	return writeRecord(c.env.Stdout, n, extra)
}

func nodeCreate(ctx context.Context, c *centralCall, ff fieldFlags, site string, noToken bool) error {
	if site == "" {
		return &UsageError{Msg: "orbis nodes create: give the node's site with --site SITE"}
	}
	fields, err := ff.values()
	if err != nil {
		return err
	}
	fields["hostname"] = c.args[0]
	id, err := c.client.AddNode(ctx, ref(site), fields)
	if err := printCreated(c, "node", c.args[0], "node_id", id, err); err != nil || noToken {
		return err
	}
	return nodeToken(ctx, c, id, c.args[0])
}

// nodeToken prints a new registration token for a node, and the command
// that registers it.
func nodeToken(ctx context.Context, c *centralCall, node any, name string) error {
	tok, err := c.client.AddNodeToken(ctx, node)
	if err != nil {
		return err
	}
	// The node pins the CA this client verified central by.
	tok = api.JoinToken(tok, caHash(c.client.Verifier()))
	cmd := fmt.Sprintf("orbis node --central %s --token %s", c.client.BaseURL(), tok)
	if c.json {
		return writeJSON(c.env.Stdout, map[string]string{"token": tok, "command": cmd})
	}
	fmt.Fprintf(c.env.Stdout, "registration token for %s (it works once): %s\n", name, tok)
	fmt.Fprintf(c.env.Stdout, "on the node, as root, run:\n  %s\n", cmd)
	return nil
}

// findNode returns the node that arg (an id or hostname) names.
func findNode(ctx context.Context, cc *api.CentralClient, arg string) (*api.Node, error) {
	ns, err := cc.GetNodes(ctx, ref(arg))
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("no node %q (see `orbis nodes list`)", arg)
	}
	return &ns[0], nil
}
