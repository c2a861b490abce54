package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// nodeListRow is a node as `nodes list --json` prints it: central's record
// and, once the node sent one, its latest summary.
type nodeListRow struct {
	api.Node
	Summary *api.NodeSummary `json:"summary,omitempty"`
}

// nodeList prints the nodes (of site, if given) that meet the expression
// where, sorted by the field sortBy ("-field": reversed).
func nodeList(ctx context.Context, c *centralCall, site, where, sortBy string) error {
	cond, err := api.ParseNodeWhere(where)
	if err != nil {
		return &UsageError{Msg: "orbis nodes list --where: " + err.Error() + "\n(" + api.NodeWhereHelp + ")"}
	}
	field, desc := strings.CutPrefix(sortBy, "-")
	if sortBy != "" && !slices.Contains(api.NodeFields, field) {
		return &UsageError{Msg: fmt.Sprintf("orbis nodes list --sort %q: want one of %s (-FIELD reverses)", sortBy, strings.Join(api.NodeFields, ", "))}
	}
	var filter any
	if site != "" {
		s, err := findSite(ctx, c.client, site)
		if err != nil {
			return err
		}
		if len(s.NodeIDs) == 0 {
			return printNodes(ctx, c, nil)
		}
		filter = s.NodeIDs
	}
	nodes, err := c.client.GetNodes(ctx, filter)
	if err != nil {
		return err
	}
	sums, err := c.client.GetNodeSummaries(ctx, nil)
	if err != nil {
		return err
	}
	sites, err := siteNames(ctx, c.client)
	if err != nil {
		return err
	}
	bySum := map[int64]*api.NodeSummary{}
	for i := range sums {
		bySum[sums[i].NodeID] = &sums[i]
	}
	var views []*api.NodeView
	for _, n := range nodes {
		v := &api.NodeView{Node: n, Site: sites[n.SiteID]}
		if s := bySum[n.NodeID]; s != nil {
			v.Summary = *s
		}
		if cond.Match(v) {
			views = append(views, v)
		}
	}
	if field != "" {
		slices.SortStableFunc(views, func(a, b *api.NodeView) int {
			c := a.Compare(b, field)
			if desc && (a.Summary.Updated != 0) == (b.Summary.Updated != 0) {
				c = -c
			}
			return c
		})
	}
	rows := make([]nodeListRow, len(views))
	for i, v := range views {
		rows[i] = nodeListRow{Node: v.Node, Summary: bySum[v.Node.NodeID]}
	}
	return printNodeRows(c, rows, sites)
}

// printNodes prints nodes without their summaries.
func printNodes(ctx context.Context, c *centralCall, nodes []api.Node) error {
	sites, err := siteNames(ctx, c.client)
	if err != nil {
		return err
	}
	rows := make([]nodeListRow, len(nodes))
	for i, n := range nodes {
		rows[i] = nodeListRow{Node: n}
	}
	return printNodeRows(c, rows, sites)
}

func printNodeRows(c *centralCall, nodes []nodeListRow, sites map[int64]string) error {
	if c.json {
		return writeJSON(c.env.Stdout, nodes)
	}
	now := time.Now()
	rows := make([][]string, len(nodes))
	for i, n := range nodes {
		summary := []string{"-", "-", "-"} // LOAD, FREE_MEM, FREE_DISK
		if s := n.Summary; s != nil {
			summary = []string{strconv.FormatFloat(s.Load, 'f', 2, 64), compactSize(s.FreeMem), compactSize(s.FreeDisk)}
		}
		rows[i] = append([]string{
			strconv.FormatInt(n.NodeID, 10), n.Hostname, idNames([]int64{n.SiteID}, sites),
			orDash(n.NodeType), orDash(n.BootState), orDash(n.Version), formatAgo(n.LastContact, now), strconv.Itoa(len(n.SliceIDs)),
		}, summary...)
	}
	return writeTable(c.env.Stdout, []string{"ID", "HOSTNAME", "SITE", "TYPE", "STATE", "VERSION", "LAST_CONTACT", "SLICES", "LOAD", "FREE_MEM", "FREE_DISK"}, rows)
}

// compactSize is byteSize without the space, one table column: "4.0GiB".
func compactSize(n int64) string { return strings.ReplaceAll(byteSize(n), " ", "") }
