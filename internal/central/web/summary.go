package web

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// summaries returns every node's latest summary, by node id.
func (p *Portal) summaries(ctx context.Context, c *plc.Caller) (map[int64]api.NodeSummary, error) {
	var list []api.NodeSummary
	if err := p.call(ctx, c, "GetNodeSummaries", &list); err != nil {
		return nil, err
	}
	out := make(map[int64]api.NodeSummary, len(list))
	for _, s := range list {
		out[s.NodeID] = s
	}
	return out, nil
}

// rowCells are a node row's table cells as text, made once in Go: the
// tables have a row per node (1,000 and more), and a template reaching
// into the embedded api.Node by reflection, and calling a formatter per
// cell, was most of a page's time.
type rowCells struct {
	ID, Host, Site, Status, Agent, IP    string
	Load, FreeMem, FreeDisk, Slivers, BW string
	// Contact and ContactISO are the last contact ("" if never).
	Contact, ContactISO string
}

// newNodeRow is node n of site, with its summary from sums if any.
func newNodeRow(n api.Node, site string, sums map[int64]api.NodeSummary) *nodeRow {
	s, ok := sums[n.NodeID]
	r := &nodeRow{Node: n, Site: site, Slivers: len(n.SliceIDs), Sum: s, HasSum: ok}
	r.nv = &api.NodeView{Node: n, Site: site, Summary: s}
	c := &r.Cells
	c.ID, c.Host, c.Site, c.Status, c.Agent, c.IP = strconv.FormatInt(n.NodeID, 10), n.Hostname, site, n.BootState, n.Version, n.IP
	c.Slivers = strconv.Itoa(r.Slivers)
	if ok {
		c.Load, c.FreeMem, c.FreeDisk = strconv.FormatFloat(s.Load, 'f', 2, 64), humanBytes(s.FreeMem), humanBytes(s.FreeDisk)
		c.Slivers = strconv.FormatInt(s.Slivers, 10) + " of " + c.Slivers
		c.BW, c.Agent = humanRate(s.BwIn)+" / "+humanRate(s.BwOut), s.AgentVersion
	}
	if n.LastContact != 0 {
		t := time.Unix(n.LastContact, 0).UTC()
		c.Contact, c.ContactISO = t.Format(dateLayout), t.Format(time.RFC3339)
	}
	return r
}

// view is the row as a node expression sees it.
func (r *nodeRow) view() *api.NodeView { return r.nv }

// bySummary orders rows by a summary field (api.NodeFields), the most
// first if desc; rows without a summary last.
func bySummary(field string, desc bool) func(a, b *nodeRow) int {
	return func(a, b *nodeRow) int {
		c := a.view().Compare(b.view(), field)
		if desc && a.HasSum == b.HasSum {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.Hostname, b.Hostname))
	}
}

// humanBytes writes a size in IEC units: "1.5 GiB".
func humanBytes(v int64) string {
	const units = "KMGTPE"
	if v < 1024 {
		return strconv.FormatInt(v, 10) + " B"
	}
	f, i := float64(v)/1024, 0
	for f >= 1024 && i < len(units)-1 {
		f, i = f/1024, i+1
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i:i+1] + "iB"
}

// humanRate writes bytes a second as bits a second: "12.3 Mbit/s".
func humanRate(v int64) string {
	bits := float64(v) * 8
	for _, u := range []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s"} {
		if bits < 1000 || u == "Gbit/s" {
			return strconv.FormatFloat(bits, 'f', 1, 64) + " " + u
		}
		bits /= 1000
	}
	return ""
}

// nodeData is a node's page's.
type nodeData struct {
	Row    *nodeRow
	Points int
	// Plots are the last day's SVG plots, or PlotErr why there are none.
	Plots   []nodePlot
	PlotErr string
}

// nodePage shows one node (by id or hostname): what central knows of it,
// its latest summary, and plots of the last day of them.
func (p *Portal) nodePage(w http.ResponseWriter, r *request) {
	ctx, c := r.Context(), r.caller
	ref := any(r.PathValue("node"))
	if id, err := strconv.ParseInt(r.PathValue("node"), 10, 64); err == nil {
		ref = id
	}
	fail := func(err error) {
		p.render(w, statusOf(err), "error", &view{Title: "Node " + r.PathValue("node"), Me: c, CSRF: r.csrf, Error: p.message("show node", err)})
	}
	var nodes []api.Node
	if err := p.call(ctx, c, "GetNodes", &nodes, []any{ref}); err != nil {
		fail(err)
		return
	}
	if len(nodes) == 0 {
		fail(notFound("no node %q", r.PathValue("node")))
		return
	}
	n := nodes[0]
	var sites []api.Site
	var sums []api.NodeSummary
	var hist []api.NodePoint
	for _, call := range []func() error{
		func() error {
			return p.call(ctx, c, "GetSites", &sites, []any{n.SiteID}, []any{"site_id", "login_base"})
		},
		func() error { return p.call(ctx, c, "GetNodeSummaries", &sums, []any{n.NodeID}) },
		func() error { return p.call(ctx, c, "GetNodeHistory", &hist, n.NodeID) },
	} {
		if err := call(); err != nil {
			fail(err)
			return
		}
	}
	d := &nodeData{Points: len(hist)}
	site := ""
	if len(sites) == 1 {
		site = sites[0].LoginBase
	}
	bySum := map[int64]api.NodeSummary{}
	for _, s := range sums {
		bySum[s.NodeID] = s
	}
	d.Row = newNodeRow(n, site, bySum)
	plots, err := nodePlots(hist, p.now())
	if err != nil {
		p.log.Error("node plots", "node", n.NodeID, "err", err)
		d.PlotErr = "the plots could not be drawn"
	}
	d.Plots = plots
	p.render(w, http.StatusOK, "node", &view{Title: "Node " + n.Hostname, Me: c, CSRF: r.csrf, Data: d})
}

// nodeSpan is how far back a node's page plots.
const nodeSpan = api.NodeHistoryStep * api.NodeHistoryPoints * time.Second

// nodePlot is one plot of a node's page.
type nodePlot struct {
	Heading string
	SVG     template.HTML
}

// nodePlots draws the last day of hist: load, free memory and disk,
// slivers running, and bandwidth.
func nodePlots(hist []api.NodePoint, now time.Time) ([]nodePlot, error) {
	start := now.Add(-nodeSpan)
	var times []int64
	var pts []api.NodePoint
	for _, pt := range hist {
		if t := time.Unix(pt.Time, 0); !t.Before(start) && !t.After(now) {
			times, pts = append(times, t.UnixNano()), append(pts, pt)
		}
	}
	col := func(f func(api.NodePoint) float64) []float64 {
		out := make([]float64, len(pts))
		for i, pt := range pts {
			out[i] = f(pt)
		}
		return out
	}
	const gib = 1 << 30
	specs := []struct {
		id, heading, title string
		series             []plotSeries
	}{
		{"load", "Load", "1-minute load average", []plotSeries{{"load", col(func(p api.NodePoint) float64 { return p.Load })}}},
		{"mem", "Free memory", "free memory, GiB", []plotSeries{{"free", col(func(p api.NodePoint) float64 { return float64(p.FreeMem) / gib })}}},
		{"disk", "Free disk", "free disk, GiB", []plotSeries{{"free", col(func(p api.NodePoint) float64 { return float64(p.FreeDisk) / gib })}}},
		{"slivers", "Slivers running", "slivers running", []plotSeries{{"slivers", col(func(p api.NodePoint) float64 { return float64(p.Slivers) })}}},
		{"bw", "Bandwidth", "kbit/s, stacked", []plotSeries{
			{"in", col(func(p api.NodePoint) float64 { return float64(p.BwIn) * 8 / 1000 })},
			{"out", col(func(p api.NodePoint) float64 { return float64(p.BwOut) * 8 / 1000 })}}},
	}
	var out []nodePlot
	for _, s := range specs {
		svg, err := drawPlot(s.id+"-plot", s.title, times, s.series, start, now)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", s.id, err)
		}
		out = append(out, nodePlot{Heading: s.heading, SVG: svg})
	}
	return out, nil
}
