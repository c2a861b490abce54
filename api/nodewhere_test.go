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
