package api

import (
	"strings"
	"testing"
)

func TestNodeWhere(t *testing.T) {
	v := &NodeView{Node: Node{Hostname: "a.example", BootState: "boot", SliceIDs: []int64{1, 2}}, Site: "ex",
		Summary: NodeSummary{Load: 1.5, FreeMem: 2 << 30, FreeDisk: 10 << 30, Slivers: 3}}
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{"", true},
		{"free_mem>1G", true},
		{"free_mem > 2GiB", false},
		{"free_mem>=2GB", true},
		{"load<2 and site=ex", true},
		{"load<2, site!=ex", false},
		{"free_disk>10240M,status=boot", false},
		{"assigned=2", true},
		{"slivers<=3", true},
		{"hostname=a.example", true},
	} {
		w, err := ParseNodeWhere(tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		if got := w.Match(v); got != tc.want {
			t.Errorf("%q matches: %v, want %v", tc.expr, got, tc.want)
		}
	}
	for _, tc := range []struct{ expr, says string }{
		{"free_mem", "want field op value"},
		{"mem>1G", `unknown field "mem"`},
		{"free_mem>", "no value"},
		{"free_mem>1X", "want a number"},
		{"free_mem=>1", "want a number"},
		{"site>ex", "= or != only"},
		{"load>NaN", "want a number"},
		{strings.Repeat("load>1,", 200), "longer than"},
	} {
		if _, err := ParseNodeWhere(tc.expr); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: error %v, want one saying %q", tc.expr, err, tc.says)
		}
	}
}

// TestNodeFieldTable: each field reads its own value, is in the help,
// and a node without a summary sorts last by exactly the summary's fields.
func TestNodeFieldTable(t *testing.T) {
	v := &NodeView{Node: Node{Hostname: "a.example", BootState: "boot", SliceIDs: []int64{1, 2}, LastContact: 1700},
		Site: "ex", Summary: NodeSummary{Updated: 1, Load: 1.5, MemTotal: 3, FreeMem: 4, DiskTotal: 5, FreeDisk: 6,
			Slivers: 7, BwIn: 8, BwOut: 9, AgentVersion: "v1"}}
	want := map[string]any{"load": 1.5, "mem_total": 3.0, "free_mem": 4.0, "disk_total": 5.0, "free_disk": 6.0,
		"slivers": 7.0, "bw_in": 8.0, "bw_out": 9.0, "last_contact": 1700.0, "assigned": 2.0,
		"hostname": "a.example", "site": "ex", "status": "boot", "agent_version": "v1"}
	fromSummary := map[string]bool{"load": true, "mem_total": true, "free_mem": true, "disk_total": true,
		"free_disk": true, "slivers": true, "bw_in": true, "bw_out": true, "agent_version": true}
	if len(NodeFields) != len(want) {
		t.Errorf("fields %v, want %d", NodeFields, len(want))
	}
	// Below v in every field: by value it would come first.
	none := &NodeView{Node: Node{Hostname: "0.example", LastContact: 1}, Site: "a"}
	for _, f := range NodeFields {
		var got any = v.Str(f)
		if isNumericNodeField(f) {
			got = v.Num(f)
		}
		if got != want[f] {
			t.Errorf("field %s = %v, want %v", f, got, want[f])
		}
		if !strings.Contains(NodeWhereHelp, f) {
			t.Errorf("the help does not name field %s", f)
		}
		if last := v.Compare(none, f) < 0 && none.Compare(v, f) > 0; last != fromSummary[f] {
			t.Errorf("by %s, a node without a summary sorts last: %v, want %v", f, last, fromSummary[f])
		}
	}
}
