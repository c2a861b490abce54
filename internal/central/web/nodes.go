package web

import (
	"html/template"
	"net/http"
	"slices"

	"github.com/orbisproject/orbis/api"
)

// nodesData is the nodes page's.
type nodesData struct {
	Nodes []*nodeRow
	// Rows are Nodes' table rows.
	Rows   []template.HTML
	Filter pickerFilter
	Sites  []api.Site
	States []string
	// Now is the page's time, for "last contact" ages.
	Now int64
}

// nodesPage is the table of every node from what central knows of it:
// site, boot state, agent version, slivers, last contact, and its latest
// summary (load, free memory and disk, bandwidth); filtered and sorted by
// the same query as the slice's node picker.
func (p *Portal) nodesPage(w http.ResponseWriter, r *request) {
	d := &nodesData{Filter: pickerFilterOf(r), Now: p.now().Unix()}
	d.Filter.Action = "/nodes"
	msg, status := "", http.StatusOK
	nodes, sums, err := p.allNodes(r.Context(), r.caller)
	if err != nil {
		msg, status = p.message("list nodes", err), statusOf(err)
	}
	if d.Sites, err = p.allSites(r.Context(), r.caller); err != nil {
		msg, status = p.message("list sites", err), statusOf(err)
	}
	site := map[int64]string{}
	for _, s := range d.Sites {
		site[s.SiteID] = s.LoginBase
	}
	states := map[string]bool{}
	for _, n := range nodes {
		row := newNodeRow(n, site[n.SiteID], sums)
		states[n.BootState] = true
		if d.Filter.matches(row) {
			d.Nodes = append(d.Nodes, row)
		}
	}
	for s := range states {
		d.States = append(d.States, s)
	}
	slices.Sort(d.States)
	slices.SortFunc(d.Nodes, sortKeys[d.Filter.Sort])
	for _, n := range d.Nodes {
		h, err := p.rowHTML(n.Cells)
		if err != nil {
			p.log.Error("portal render", "page", "nodes", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		d.Rows = append(d.Rows, h)
	}
	p.render(w, status, "nodes", &view{Title: "Nodes", Me: r.caller, CSRF: r.csrf, Error: msg, Data: d})
}
