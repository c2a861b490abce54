package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// TestNodesLive: the nodes table shows each node's latest summary, sorts
// by load and filters by an expression (a bad one is refused beside its
// field, the table kept); a node's page plots its last day; a node's
// hostile agent version is shown as text.
func TestNodesLive(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	ctx := context.Background()
	ids := map[string]int64{}
	for _, h := range []string{"a.pt.test", "b.pt.test", "c.pt.test"} {
		ids[h] = tc.call(t, "AddNode", w.site, map[string]any{"hostname": h}).(int64)
	}
	report := func(h string, s api.NodeSummary) {
		t.Helper()
		if err := tc.c.Service.ReportNodeSummary(ctx, ids[h], s); err != nil {
			t.Fatal(err)
		}
	}
	report("a.pt.test", api.NodeSummary{Load: 3, MemTotal: 8 << 30, FreeMem: 4 << 30, DiskTotal: 100 << 30, FreeDisk: 50 << 30, AgentVersion: "v1"})
	report("b.pt.test", api.NodeSummary{Load: 0.5, MemTotal: 8 << 30, FreeMem: 512 << 20, DiskTotal: 100 << 30, FreeDisk: 50 << 30,
		AgentVersion: `<script>alert(1)</script>`})
	// c.pt.test sent nothing.
	user := tc.client(t)
	user.signin(w.user)
	rows := regexp.MustCompile(`<tr><th scope="row"><a href="/nodes/\d+">([a-z.]+)</a></th>`)
	order := func() string {
		var out []string
		for _, m := range rows.FindAllStringSubmatch(user.last, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, " ")
	}
	if user.get("/nodes?sort=load"); order() != "b.pt.test a.pt.test c.pt.test" {
		t.Errorf("by load: %q", order())
	}
	if user.get("/nodes?sort=free_mem"); order() != "a.pt.test b.pt.test c.pt.test" {
		t.Errorf("by free memory: %q", order())
	}
	if !strings.Contains(user.last, "4.0 GiB") || !strings.Contains(user.last, "no summary yet") {
		t.Errorf("nodes page lacks the summaries:\n%s", user.last)
	}
	if strings.Contains(user.last, "<script>") || !strings.Contains(user.last, "&lt;script&gt;") {
		t.Error("the agent version a node sent is not escaped")
	}
	if user.get("/nodes?where=" + urlQuery("free_mem>1G, load<5")); order() != "a.pt.test" {
		t.Errorf("where free_mem>1G, load<5: %q", order())
	}
	if code := user.get("/nodes?where=" + urlQuery("mem>>1")); code != http.StatusOK || order() != "a.pt.test b.pt.test c.pt.test" ||
		!regexp.MustCompile(`id="f-where-err" role="alert">where &#34;mem&gt;&gt;1&#34;: unknown field`).MatchString(user.last) ||
		!strings.Contains(user.last, `value="mem&gt;&gt;1"`) {
		t.Errorf("a bad expression: %d, %q; want the whole table, the error beside the field and the expression kept", code, order())
	}

	// A day of history, and one point older than a day (not plotted).
	now := time.Now().Unix()
	for i := int64(3 * api.NodeHistoryPoints / 2); i >= 0; i -= 4 {
		at := now - i*api.NodeHistoryStep
		err := tc.c.Store.Update(ctx, "test", func(tx store.Tx) error {
			return tx.SetNodeSummary(api.NodeSummary{NodeID: ids["a.pt.test"], Updated: at, Load: float64(i % 7), FreeMem: i << 20, BwIn: 1000, BwOut: 2000})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if code := user.get(fmt.Sprintf("/nodes/%d", ids["a.pt.test"])); code != http.StatusOK {
		t.Fatalf("node page: %d", code)
	}
	for _, id := range []string{"load-plot", "mem-plot", "disk-plot", "slivers-plot", "bw-plot"} {
		if !regexp.MustCompile(`<svg id="` + id + `"[^>]*role="img"[\s\S]*?<polygon class="layer" points="[0-9., ]{40,}"`).MatchString(user.last) {
			t.Errorf("node page lacks the plot %s", id)
		}
	}
	if user.get("/nodes/b.pt.test"); !strings.Contains(user.last, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("node page by hostname: the agent version is missing or not escaped")
	}
	if code := user.get("/nodes/nosuch.pt.test"); code != http.StatusBadRequest || !strings.Contains(user.last, "no node &#34;nosuch.pt.test&#34;") {
		t.Errorf("an unknown node: %d, want 400 saying so", code)
	}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// TestNodeMap: the slice page's map places each node by its site's
// latitude and longitude: the slice's filled, the picker's linking to
// their checkboxes; nodes of a site without a location are counted.
func TestNodeMap(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	tc.call(t, "UpdateSite", w.site, map[string]any{"latitude": 40.35, "longitude": -74.65})
	on := tc.call(t, "AddNode", w.site, map[string]any{"hostname": "on.pt.test"}).(int64)
	pick := tc.call(t, "AddNode", w.site, map[string]any{"hostname": "pick.pt.test"}).(int64)
	tc.call(t, "AddNode", "ev", map[string]any{"hostname": "nowhere.ev.test"})
	tc.call(t, "AddSlice", map[string]any{"name": "pt_map", "url": "http://x", "description": "x"})
	tc.call(t, "AddPersonToSlice", w.user, "pt_map")
	tc.call(t, "AddSliceToNodes", "pt_map", []any{on})
	user := tc.client(t)
	user.signin(w.user)
	if code := user.get("/slices/pt_map"); code != http.StatusOK {
		t.Fatalf("slice page: %d", code)
	}
	x, y := fmt.Sprint((-74.65+180)*2), fmt.Sprint((90-40.35)*2)
	for _, want := range []string{
		`<image href="/static/world.svg"`,
		`<circle class="on" cx="` + x + `" cy="` + y + `" r="5"><title>on.pt.test (pt): the slice's</title>`,
		fmt.Sprintf(`<a href="#add-%d"><circle class="pick" cx="%s" cy="%s"`, pick, x, y),
		fmt.Sprintf(`id="add-%d"`, pick),
		"Not shown: 1 node(s) whose site has no location",
	} {
		if !strings.Contains(user.last, want) {
			t.Errorf("slice page lacks %s in\n%s", want, user.last[strings.Index(user.last, "<figure"):strings.Index(user.last, "</figure>")])
		}
	}
	if code := user.get("/static/world.svg"); code != http.StatusOK || !strings.Contains(user.last, "Natural Earth") {
		t.Errorf("world.svg: %d", code)
	}
}
