package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

func init() {
	register(&Command{
		Name:    "slice",
		Summary: "slices at central (list|show|create|update|delete|add-nodes|push|remove-nodes|add-user|remove-user|renew|tag|tags|untag)",
		Run:     centralVerb("slice", sliceSubs),
	})
}

// sliceFields are the flags of slice create and update.
var sliceFields = []fieldSpec{
	{"description", "description", kindString, "what the slice is for (needed to renew it)"},
	{"url", "url", kindString, "the slice's web page (needed to renew it)"},
	{"max-nodes", "max_nodes", kindInt, "most nodes the slice may be on"},
	{"instantiation", "instantiation", kindString, "plc-instantiated, not-instantiated, delegated or nm-controller"},
	{"expires", "expires", kindDate, "expiry: YYYY-MM-DD or +N[wdhm]"},
	{"shares", "shares", kindInt, "the slice's share of each node"},
}

var sliceSubs = []*centralSub{
	{name: "list", usage: "list [--site SITE] [--json]", maxArgs: 0, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		site := fs.String("site", "", "only the slices of this site (id or login base)")
		return func(ctx context.Context, c *centralCall) error { return sliceList(ctx, c, *site) }
	}},
	{name: "show", usage: "show ID|NAME [--json]", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return sliceShow
	}},
	{name: "create", usage: "create SITE_NAME [--description D] [--url U] [--max-nodes N] [--expires DATE|+4w] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, sliceFields)
		return func(ctx context.Context, c *centralCall) error {
			if _, err := api.ParseSliceName(c.args[0]); err != nil {
				return &UsageError{Msg: "orbis slice create: " + err.Error()}
			}
			fields, err := ff.values()
			if err != nil {
				return err
			}
			fields["name"] = c.args[0]
			id, err := c.client.AddSlice(ctx, fields)
			return printCreated(c, "slice", c.args[0], "slice_id", id, err)
		}
	}},
	{name: "update", usage: "update ID|NAME [--description D] [--url U] [--max-nodes N] ...", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		ff := addFieldFlags(fs, sliceFields)
		return func(ctx context.Context, c *centralCall) error {
			return updateRecord(ctx, c, "slice", ff, c.client.UpdateSlice)
		}
	}},
	{name: "delete", usage: "delete ID|NAME", minArgs: 1, maxArgs: 1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error {
			return deleteRecord(ctx, c, "slice", c.client.DeleteSlice)
		}
	}},
	{name: "add-nodes", usage: "add-nodes SLICE HOSTNAME... [--wait 60s] [--no-wait]", minArgs: 2, maxArgs: -1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		wait := fs.Duration("wait", 60*time.Second, "how long to wait for the slivers to run")
		noWait := fs.Bool("no-wait", false, "do not wait for the slivers")
		return func(ctx context.Context, c *centralCall) error {
			if *noWait {
				*wait = 0
			}
			return sliceAddNodes(ctx, c, *wait)
		}
	}},
	slicePushSub,
	{name: "remove-nodes", usage: "remove-nodes SLICE HOSTNAME...", minArgs: 2, maxArgs: -1, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return sliceRemoveNodes
	}},
	{name: "add-user", usage: "add-user SLICE EMAIL", minArgs: 2, maxArgs: 2, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error { return sliceUser(ctx, c, true) }
	}},
	{name: "remove-user", usage: "remove-user SLICE EMAIL", minArgs: 2, maxArgs: 2, setup: func(*flag.FlagSet) func(context.Context, *centralCall) error {
		return func(ctx context.Context, c *centralCall) error { return sliceUser(ctx, c, false) }
	}},
	{name: "renew", usage: "renew SLICE --expires YYYY-MM-DD|+4w", minArgs: 1, maxArgs: 1, setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		expires := fs.String("expires", "", "the new expiry: YYYY-MM-DD (the end of that day, UTC) or +N[wdhm] from now")
		return func(ctx context.Context, c *centralCall) error { return sliceRenew(ctx, c, *expires) }
	}},
	sliceTagSub,
	sliceTagsSub,
	sliceUntagSub,
}

func sliceList(ctx context.Context, c *centralCall, site string) error {
	var filter any
	if site != "" {
		s, err := findSite(ctx, c.client, site)
		if err != nil {
			return err
		}
		if len(s.SliceIDs) == 0 {
			return printSlices(c, nil)
		}
		filter = s.SliceIDs
	}
	slices, err := c.client.GetSlices(ctx, filter)
	if err != nil {
		return err
	}
	return printSlices(c, slices)
}

func printSlices(c *centralCall, slices []api.Slice) error {
	if c.json {
		return writeJSON(c.env.Stdout, slices)
	}
	rows := make([][]string, len(slices))
	for i, s := range slices {
		rows[i] = []string{
			strconv.FormatInt(s.SliceID, 10), s.Name, strconv.Itoa(len(s.NodeIDs)), strconv.Itoa(len(s.PersonIDs)),
			strconv.FormatInt(s.Shares, 10), formatTime(s.Expires), orDash(s.Instantiation),
		}
	}
	return writeTable(c.env.Stdout, []string{"ID", "NAME", "NODES", "USERS", "SHARES", "EXPIRES", "INSTANTIATION"}, rows)
}

func sliceShow(ctx context.Context, c *centralCall) error {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil || c.json {
		return printOr(c, s, err)
	}
	emails, err := personEmails(ctx, c.client, s.PersonIDs)
	if err != nil {
		return err
	}
	hosts, err := nodeHostnames(ctx, c.client, s.NodeIDs)
	if err != nil {
		return err
	}
	reports, err := c.client.GetSliverReports(ctx, map[string]any{"name": s.Name})
	if err != nil {
		return err
	}
	extra := [][2]string{{"users", idNames(s.PersonIDs, emails)}, {"nodes", idNames(s.NodeIDs, hosts)}}
	for _, r := range reports {
		extra = append(extra, [2]string{"sliver " + idNames([]int64{r.NodeID}, hosts), reportText(r)})
	}
	return writeRecord(c.env.Stdout, s, extra)
}

// reportText shows a node's report on a sliver.
func reportText(r api.SliverReportRow) string {
	s := string(r.State)
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s + " (reported " + formatAgo(r.Updated, time.Now()) + ")"
}

func sliceRemoveNodes(ctx context.Context, c *centralCall) error {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return err
	}
	nodes, err := findNodes(ctx, c.client, c.args[1:])
	if err != nil {
		return err
	}
	if err := c.client.DeleteSliceFromNodes(ctx, s.SliceID, nodeIDs(nodes)); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "removed slice %s from %s\n", s.Name, strings.Join(c.args[1:], ", "))
	return nil
}

func sliceUser(ctx context.Context, c *centralCall, add bool) error {
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return err
	}
	p, err := findPerson(ctx, c.client, c.args[1])
	if err != nil {
		return err
	}
	if add {
		err = c.client.AddPersonToSlice(ctx, p.PersonID, s.SliceID)
	} else {
		err = c.client.DeletePersonFromSlice(ctx, p.PersonID, s.SliceID)
	}
	if err != nil {
		return err
	}
	verb := "added %s to slice %s\n"
	if !add {
		verb = "removed %s from slice %s\n"
	}
	fmt.Fprintf(c.env.Stdout, verb, p.Email, s.Name)
	return nil
}

func sliceRenew(ctx context.Context, c *centralCall, expires string) error {
	if expires == "" {
		return &UsageError{Msg: "orbis slice renew: give the new expiry with --expires YYYY-MM-DD or --expires +4w"}
	}
	when, err := parseWhen(expires, time.Now())
	if err != nil {
		return &UsageError{Msg: "orbis slice renew: " + err.Error()}
	}
	s, err := findSlice(ctx, c.client, c.args[0])
	if err != nil {
		return err
	}
	if err := c.client.RenewSlice(ctx, s.SliceID, when); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "slice %s now expires %s\n", s.Name, formatTime(when))
	return nil
}

// findSlice returns the live slice that arg (an id or name) names.
func findSlice(ctx context.Context, cc *api.CentralClient, arg string) (*api.Slice, error) {
	ss, err := cc.GetSlices(ctx, ref(arg))
	if err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, fmt.Errorf("no slice %q (see `orbis slice list`; expired slices are gone)", arg)
	}
	return &ss[0], nil
}

// findNodes returns the nodes that args (ids or hostnames) name, in
// order, or says which are unknown.
func findNodes(ctx context.Context, cc *api.CentralClient, args []string) ([]api.Node, error) {
	found, err := cc.GetNodes(ctx, refs(args), "node_id", "hostname", "last_contact")
	if err != nil {
		return nil, err
	}
	var out []api.Node
	var missing []string
	for _, a := range args {
		i := indexNode(found, a)
		if i < 0 {
			missing = append(missing, a)
			continue
		}
		out = append(out, found[i])
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no node %s (see `orbis nodes list`)", strings.Join(missing, ", "))
	}
	return out, nil
}

func indexNode(nodes []api.Node, arg string) int {
	for i, n := range nodes {
		if n.Hostname == arg || strconv.FormatInt(n.NodeID, 10) == arg {
			return i
		}
	}
	return -1
}

func nodeIDs(nodes []api.Node) []any {
	ids := make([]any, len(nodes))
	for i, n := range nodes {
		ids[i] = n.NodeID
	}
	return ids
}

// nodeHostnames maps node ids to hostnames.
func nodeHostnames(ctx context.Context, cc *api.CentralClient, ids []int64) (map[int64]string, error) {
	m := map[int64]string{}
	if len(ids) == 0 {
		return m, nil
	}
	ns, err := cc.GetNodes(ctx, ids, "node_id", "hostname")
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		m[n.NodeID] = n.Hostname
	}
	return m, nil
}
