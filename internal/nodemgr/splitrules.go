package nodemgr

import (
	"slices"

	"github.com/orbisproject/orbis/api"
)

// What a split does with each number of an rspec, read from the resource
// table: the guarantees the node's capacity bounds (moved) go from parent
// to child, and back at the child's release; every other number but a
// pool's sliver count is a limit (or time) both keep, the child's within
// the parent's. net_min_rate, a guarantee bounded by the policy's
// bandwidth cap rather than the node's capacity, is such a limit.

// capacityGuarantees are the guarantees the ledger holds against the
// node's capacity (admitNodeLocked).
var capacityGuarantees = []string{"cpu_guarantee", "memory_guarantee", "disk_guarantee"}

// moved are the table's entries of capacityGuarantees, in table order.
var moved = tableEntries(func(r *api.Resource) bool { return slices.Contains(capacityGuarantees, r.Name) })

// kept are the numbers a split's child fills from its parent and stays
// within: every number of the table that is not moved, a flag, or the
// pool's sliver count.
var kept = tableEntries(func(r *api.Resource) bool {
	return r.IsNumber() && r.Kind != api.Flag && r.Name != "slivers" && !slices.Contains(capacityGuarantees, r.Name)
})

// guarantees are every guarantee of the table: what an amend adds is
// admitted by them (growth).
var guarantees = tableEntries(func(r *api.Resource) bool { return r.Kind == api.Guarantee })

func tableEntries(keep func(*api.Resource) bool) []*api.Resource {
	var out []*api.Resource
	for i := range api.Resources {
		if r := &api.Resources[i]; keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// noLimitWhenZero says whether a zero r means no limit at all (a daily
// byte cap of 0), not a default.
func noLimitWhenZero(r *api.Resource) bool {
	return r.Kind == api.Limit && r.Default == 0 && !r.NodeDefault
}
