package nodemgr

import (
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestNodeDefaultsCoverTable: every field the resource table leaves to the
// node's default has one here, and the node's defaults name only fields
// of the table.
func TestNodeDefaultsCoverTable(t *testing.T) {
	own := nodeDefaults(Node{MemoryBytes: 1, DiskBytes: 1, DefaultMemoryMax: 1, DefaultDiskMax: 1})
	for _, r := range api.Resources {
		if _, ok := own[r.Name]; r.NodeDefault && !ok {
			t.Errorf("%s: the table leaves its default to the node, which has none", r.Name)
		}
	}
	for name := range own {
		if r := api.ResourceByName(name); r == nil || !r.NodeDefault {
			t.Errorf("node default for %s, which the table does not leave to the node", name)
		}
	}
}

// TestDefaultsFromTable: an empty rspec gets the table's defaults, the
// node's own, and a net_max_rate raised to a net_min_rate above its
// default, as the table's Raise says.
func TestDefaultsFromTable(t *testing.T) {
	node := Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 40, DefaultMemoryMax: 1 << 29, DefaultDiskMax: 1 << 39}
	rs, err := checkRspec(node, api.Rspec{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range api.Resources {
		if r.Default != 0 && r.Get(&rs.Rspec) != r.Default {
			t.Errorf("%s = %d, the table's default is %d", r.Name, r.Get(&rs.Rspec), r.Default)
		}
	}
	if rs.MemoryMax != 1<<29 || rs.DiskMax != 1<<39 || rs.ProcMax != DefaultProcMax || rs.OpenFileMax != DefaultOpenFileMax || rs.Start != 1000 {
		t.Errorf("node defaults not filled: %+v", rs)
	}
	maxRate := api.ResourceByName("net_max_rate").Default
	rs, err = checkRspec(node, api.Rspec{NetMinRate: maxRate + 1}, 1000)
	if err != nil || rs.NetMaxRate != maxRate+1 {
		t.Errorf("net_min_rate above the default net_max_rate: %d, %v", rs.NetMaxRate, err)
	}
}

// TestBoundsFromTable: each number field of the table is refused one past
// its bound (the node's capacity for memory and disk), and taken at it.
func TestBoundsFromTable(t *testing.T) {
	node := Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 40}
	for _, r := range api.Resources {
		if !r.IsNumber() || r.Kind == api.Flag {
			continue
		}
		limit, _ := bound(node, &r)
		var rs api.Rspec
		r.Set(&rs, limit+1)
		if err := checkRequest(node, rs); err == nil {
			t.Errorf("%s = %d (bound %d) accepted", r.Name, limit+1, limit)
		}
		r.Set(&rs, limit)
		if r.AtMost != "" { // the field it may not exceed at its own bound
			up := api.ResourceByName(r.AtMost)
			upLimit, _ := bound(node, up)
			up.Set(&rs, upLimit)
		}
		if err := checkRequest(node, rs); err != nil {
			t.Errorf("%s = %d (its bound): %v", r.Name, limit, err)
		}
		r.Set(&rs, -1)
		if err := checkRequest(node, rs); err == nil {
			t.Errorf("%s = -1 accepted", r.Name)
		}
	}
}

// TestSplitRulesCoverTable: every number of the table is either moved by
// a split (a guarantee the node's capacity bounds), kept within the
// parent's, or the pool's own sliver count; so a new resource is split by
// the rules as soon as it is in the table.
func TestSplitRulesCoverTable(t *testing.T) {
	if len(moved) != len(capacityGuarantees) {
		t.Fatalf("moved %d resources, want the %d capacity guarantees %v: one is not in the table", len(moved), len(capacityGuarantees), capacityGuarantees)
	}
	for _, r := range moved {
		if r.Kind != api.Guarantee {
			t.Errorf("%s is moved by a split but is a %s in the table", r.Name, r.Kind)
		}
	}
	in := func(list []*api.Resource, name string) bool {
		for _, r := range list {
			if r.Name == name {
				return true
			}
		}
		return false
	}
	for _, r := range api.Resources {
		if !r.IsNumber() || r.Kind == api.Flag {
			continue
		}
		n := 0
		for _, yes := range []bool{in(moved, r.Name), in(kept, r.Name), r.Name == "slivers"} {
			if yes {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: in %d of moved, kept and slivers, want exactly 1", r.Name, n)
		}
	}
}
