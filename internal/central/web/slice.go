package web

import (
	"cmp"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// sliceData is a slice's page's.
type sliceData struct {
	Slice sliceRow
	Users []api.Person
	// Nodes are the slice's nodes with their slivers' state.
	Nodes []*nodeRow
	// Picker are the nodes to add, filtered and sorted as Filter says.
	Picker []*nodeRow
	// PickerRows are Picker's table rows.
	PickerRows []template.HTML
	Filter     pickerFilter
	// Sites and States are the picker's filter choices.
	Sites  []api.Site
	States []string
	Weeks  []int
	// Map shows the slice's nodes and the picker's where their sites are.
	Map nodeMap
	// Tags are the slice's tags.
	Tags []tagRow
	// Push is the slice's software push progress, nil if none.
	Push *pushData
}

// nodeRow is a node in the slice's table or the picker.
type nodeRow struct {
	api.Node
	Site string
	// Slivers is how many slivers the node runs.
	Slivers int
	// State and Reason are the slice's sliver there, as the node last
	// reported it ("" before its first report).
	State, Reason string
	// Sum is the node's latest summary of its sensors, zero if none
	// (HasSum false).
	Sum    api.NodeSummary
	HasSum bool
	// Cells are the row's table cells.
	Cells rowCells
	// nv is the row as a node expression sees it.
	nv *api.NodeView
}

// pickerFilter is the picker's query: ?site=&status=&where=&sort=.
type pickerFilter struct {
	Site, Status, Sort string
	// Where is a node expression (api.NodeWhereHelp), parsed into where;
	// WhereErr says why it was refused (then it selects every node).
	Where, WhereErr string
	where           api.NodeWhere
	// Action is the page the filter form reloads.
	Action string
}

// sortKeys are the picker's sort orders.
var sortKeys = map[string]func(a, b *nodeRow) int{
	"hostname": func(a, b *nodeRow) int { return strings.Compare(a.Hostname, b.Hostname) },
	"site": func(a, b *nodeRow) int {
		return cmp.Or(strings.Compare(a.Site, b.Site), strings.Compare(a.Hostname, b.Hostname))
	},
	"status": func(a, b *nodeRow) int {
		return cmp.Or(strings.Compare(a.BootState, b.BootState), strings.Compare(a.Hostname, b.Hostname))
	},
	"slivers": func(a, b *nodeRow) int {
		return cmp.Or(cmp.Compare(a.Slivers, b.Slivers), strings.Compare(a.Hostname, b.Hostname))
	},
	"contact": func(a, b *nodeRow) int {
		return cmp.Or(cmp.Compare(b.LastContact, a.LastContact), strings.Compare(a.Hostname, b.Hostname))
	},
	"load":      bySummary("load", false),
	"free_mem":  bySummary("free_mem", true),
	"free_disk": bySummary("free_disk", true),
	"running":   bySummary("slivers", false),
	"bandwidth": bySummary("bw_out", false),
}

// sortNames are sortKeys' names in the order the filter offers them.
var sortNames = []string{"hostname", "site", "status", "load", "free_mem", "free_disk", "slivers", "running", "bandwidth", "contact"}

// slicePage shows one slice: expiry and renewal, description, users,
// nodes with their slivers' state, and the node picker.
func (p *Portal) slicePage(w http.ResponseWriter, r *request) {
	p.renderSlice(w, r, http.StatusOK, newForm(nil))
}

func (p *Portal) renderSlice(w http.ResponseWriter, r *request, status int, f *form) {
	d, err := p.sliceData(r)
	if err != nil {
		p.render(w, statusOf(err), "error", &view{Title: "Slice " + r.PathValue("name"), Me: r.caller, CSRF: r.csrf, Error: p.message("show slice", err)})
		return
	}
	for _, n := range d.Picker {
		h, err := p.pickerRowHTML(n.Cells, f.Tick(n.NodeID))
		if err != nil {
			p.log.Error("portal render", "page", "slice", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		d.PickerRows = append(d.PickerRows, h)
	}
	if f.Value("description") == "" && f.Value("url") == "" && f.Err("description") == "" && f.Err("url") == "" {
		f.Values["description"], f.Values["url"] = d.Slice.Description, d.Slice.URL
	}
	p.render(w, status, "slice", &view{Title: "Slice " + d.Slice.Name, Me: r.caller, CSRF: r.csrf, Flash: flash(r.Request), Form: f, Data: d})
}

func (p *Portal) sliceData(r *request) (*sliceData, error) {
	ctx, c := r.Context(), r.caller
	var sl []api.Slice
	if err := p.call(ctx, c, "GetSlices", &sl, r.PathValue("name")); err != nil {
		return nil, err
	}
	if len(sl) == 0 {
		return nil, notFound("no slice %q that you can see: it may have expired", r.PathValue("name"))
	}
	d := &sliceData{Weeks: renewWeeks, Filter: pickerFilterOf(r)}
	d.Filter.Action = "/slices/" + sl[0].Name
	left := sl[0].Expires - p.now().Unix()
	d.Slice = sliceRow{Slice: sl[0], Left: humanLeft(secondsDur(left)), Soon: left < 7*24*3600}
	if len(sl[0].PersonIDs) > 0 {
		if err := p.call(ctx, c, "GetPersons", &d.Users, anyIDs(sl[0].PersonIDs), []any{"person_id", "email", "first_name", "last_name"}); err != nil {
			return nil, err
		}
	}
	nodes, sums, err := p.allNodes(ctx, c)
	if err != nil {
		return nil, err
	}
	if nodes, err = p.withNodes(ctx, c, nodes, sl[0].NodeIDs); err != nil {
		return nil, err
	}
	if d.Sites, err = p.allSites(ctx, c); err != nil {
		return nil, err
	}
	var reports []api.SliverReportRow
	if err := p.call(ctx, c, "GetSliverReports", &reports, map[string]any{"name": sl[0].Name}); err != nil {
		return nil, err
	}
	if d.Tags, err = p.sliceTags(r, sl[0].SliceID, nodes); err != nil {
		return nil, err
	}
	d.Push = p.pushProgress(r, sl[0].Name)
	p.fillNodes(d, sl[0], nodes, reports, sums)
	return d, nil
}

// fillNodes splits nodes into the slice's and the picker's.
func (p *Portal) fillNodes(d *sliceData, sl api.Slice, nodes []api.Node, reports []api.SliverReportRow, sums map[int64]api.NodeSummary) {
	siteName := map[int64]string{}
	for _, s := range d.Sites {
		siteName[s.SiteID] = s.LoginBase
	}
	byNode := map[int64]api.SliverReportRow{}
	for _, rep := range reports {
		byNode[rep.NodeID] = rep
	}
	states := map[string]bool{}
	for _, n := range nodes {
		row := newNodeRow(n, siteName[n.SiteID], sums)
		states[n.BootState] = true
		if slices.Contains(sl.NodeIDs, n.NodeID) {
			rep := byNode[n.NodeID]
			row.State, row.Reason = string(rep.State), rep.Reason
			d.Nodes = append(d.Nodes, row)
			continue
		}
		if d.Filter.matches(row) {
			d.Picker = append(d.Picker, row)
		}
	}
	for s := range states {
		d.States = append(d.States, s)
	}
	slices.Sort(d.States)
	slices.SortFunc(d.Nodes, sortKeys["hostname"])
	slices.SortFunc(d.Picker, sortKeys[d.Filter.Sort])
	d.Map = newNodeMap(d.Sites, d.Nodes, d.Picker)
}

// pickerFilterOf reads the picker's query; an unknown sort is by hostname.
func pickerFilterOf(r *request) pickerFilter {
	q := r.URL.Query()
	f := pickerFilter{Site: q.Get("site"), Status: q.Get("status"), Sort: q.Get("sort"), Where: q.Get("where")}
	if sortKeys[f.Sort] == nil {
		f.Sort = "hostname"
	}
	w, err := api.ParseNodeWhere(f.Where)
	if err != nil {
		f.WhereErr = err.Error()
	}
	f.where = w
	return f
}

func (f pickerFilter) matches(n *nodeRow) bool {
	return (f.Site == "" || f.Site == n.Site) && (f.Status == "" || f.Status == n.BootState) &&
		f.where.Match(n.view())
}

// Sorts are the sort orders the filter offers.
func (f pickerFilter) Sorts() []string { return sortNames }
