package nodemgr

import (
	"fmt"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Defaults the node fills in itself, for the fields the resource table
// (api.Resources) marks NodeDefault: the memory and disk limits default to
// the node's (Node.DefaultMemoryMax and Node.DefaultDiskMax), the process
// and file limits to these. Every other default is the table's
// (api.Resource.Default); guarantees default to none, Start to now and End
// to never.
const (
	DefaultOpenFileMax = 1024
	DefaultProcMax     = 512
)

// nodeDefaults are the node's own defaults, by the table's name; every
// NodeDefault resource has one (TestNodeDefaultsCoverTable).
func nodeDefaults(node Node) map[string]int64 {
	return map[string]int64{
		"memory_max":   node.DefaultMemoryMax,
		"disk_max":     node.DefaultDiskMax,
		"proc_max":     DefaultProcMax,
		"openfile_max": DefaultOpenFileMax,
	}
}

// Bounds of the node manager's own request fields, which are not
// resources (the table bounds those).
const (
	maxKeys   = 64
	maxKeyLen = 8192
)

// checkRspec is the node manager's edge: it checks an rspec a caller
// gives (acquire, amend, a broker's delegation) against the resource
// table and the node, fills in the defaults and returns the checked
// rspec the operations below take.
func checkRspec(node Node, rs api.Rspec, now int64) (checkedRspec, error) {
	if err := checkRequest(node, rs); err != nil {
		return checkedRspec{}, err
	}
	fillDefaults(node, &rs, now)
	if err := checkRelations(rs, now); err != nil {
		return checkedRspec{}, err
	}
	if err := checkDelegation(node, rs); err != nil {
		return checkedRspec{}, err
	}
	return checkedRspec{cloneRspec(rs)}, nil
}

// checkRequest checks the fields of rs as given, before defaults: the
// resource table's bounds, pairs and lists (api.Validate, its delegation
// included), then what the node bounds (checkNode).
func checkRequest(node Node, rs api.Rspec) error {
	if err := api.Validate(&rs); err != nil {
		return invalidf("%v", err)
	}
	return checkNode(node, rs)
}

// fillDefaults fills the zero fields of rs: the table's defaults, the
// node's for NodeDefault fields, and now for start. The upper field of a
// pair the table raises (Raise: net_max_rate over net_min_rate) defaults
// to no less than the lower field.
func fillDefaults(node Node, rs *api.Rspec, now int64) {
	var zero []*api.Resource
	for i := range api.Resources {
		if r := &api.Resources[i]; r.IsNumber() && r.Get(rs) == 0 {
			zero = append(zero, r)
		}
	}
	api.FillDefaults(rs)
	own := nodeDefaults(node)
	for _, r := range zero {
		if v, ok := own[r.Name]; ok && r.NodeDefault {
			r.Set(rs, v)
		}
	}
	for _, r := range zero {
		for i := range api.Resources {
			if lo := &api.Resources[i]; lo.Raise && lo.AtMost == r.Name {
				r.Set(rs, max(r.Get(rs), lo.Get(rs)))
			}
		}
	}
	fill(&rs.Start, now)
}

// checkDelegation checks an rspec's delegation (which checkRelations
// allows only with the node manager privilege, and api.Validate bounds):
// one level deep, within the node. Admission control checks it when the
// pool is made, at bind.
func checkDelegation(node Node, rs api.Rspec) error {
	d := rs.Delegated
	switch {
	case d == nil:
		return nil
	case d.Delegated != nil:
		return invalidf("delegated.delegated: a delegation cannot delegate further")
	case len(d.BindSlices) > 0:
		return invalidf("delegated.bind_slices: the names go on the broker's own rspec")
	}
	if err := checkNode(node, *d); err != nil {
		return invalidf("delegated.%v", err)
	}
	return nil
}

func fill(v *int64, def int64) {
	if *v == 0 {
		*v = def
	}
}

// bound is the most resource r may be on this node, and what that is:
// the node's capacity for its memory and disk, else the table's Max.
func bound(node Node, r *api.Resource) (int64, string) {
	switch r.Name {
	case "memory_max", "memory_guarantee":
		return node.MemoryBytes, "the node's memory"
	case "disk_max", "disk_guarantee":
		return node.DiskBytes, "the node's slice storage"
	}
	return r.Max, "its bound"
}

// checkNode checks what the node bounds beyond the table: memory and disk
// within its capacity, ports it can give. The table's own bounds are
// api.Validate's.
func checkNode(node Node, rs api.Rspec) error {
	for i := range api.Resources {
		r := &api.Resources[i]
		if !r.IsNumber() || r.Kind == api.Flag {
			continue
		}
		if limit, what := bound(node, r); r.Get(&rs) > limit {
			return invalidf("%s: %d exceeds %s (%d)", r.Name, r.Get(&rs), what, limit)
		}
	}
	for _, p := range rs.Ports {
		switch {
		case node.EphemeralLow > 0 && p.Port >= node.EphemeralLow && p.Port <= node.EphemeralHigh:
			return invalidf("ports: %s/%d is in the node's ephemeral range %d-%d, which the kernel hands out to anyone: reserve a port outside it",
				p.Proto, p.Port, node.EphemeralLow, node.EphemeralHigh)
		case p.Port < 1024 && node.NoLowPorts:
			return invalidf("ports: %s/%d: this node cannot give ports below 1024 to slivers", p.Proto, p.Port)
		}
	}
	return nil
}

// checkRelations checks what holds between fields once defaults are in:
// the table's pairs again (api.Validate: a field at most another, a field
// that requires another, now that no zero stands for a default) and the
// rspec's time window.
func checkRelations(rs api.Rspec, now int64) error {
	if err := api.Validate(&rs); err != nil {
		return invalidf("%v", err)
	}
	switch {
	case rs.End != 0 && rs.End <= rs.Start:
		return invalidf("end: %d is not after start %d", rs.End, rs.Start)
	case rs.End != 0 && rs.End <= now:
		return invalidf("end: %d is in the past (now %d)", rs.End, now)
	}
	return nil
}

// checkSliceName checks a slice name (api.SliceName) and says which part
// of its syntax a bad one breaks.
func checkSliceName(name string) error {
	_, err := api.ParseSliceName(name)
	switch {
	case err == nil:
		return nil
	case name == "":
		return invalidf("slice: empty name")
	case len(name) > api.MaxSliceName:
		return invalidf("slice: name is %d characters (max %d)", len(name), api.MaxSliceName)
	case api.SliceName(strings.ReplaceAll(name, ".", "0")).Valid():
		// site_name but for its dots ('0' is allowed wherever '.' is).
		return invalidf("slice: name %q starts with a dot or contains \"..\"", name)
	}
	return invalidf("slice: name %q is not site_name (want %s)", name, api.SliceNameSyntax)
}

func checkAttrs(a api.BindAttrs) error {
	if err := api.CheckImageName(a.Image); err != nil {
		return invalidf("attrs.image: %v", err)
	}
	if len(a.InitScript) > api.MaxInitScript {
		return invalidf("attrs.initscript: %d bytes (max %d)", len(a.InitScript), api.MaxInitScript)
	}
	if strings.ContainsRune(a.InitScript, 0) {
		return invalidf("attrs.initscript: contains a NUL byte")
	}
	if len(a.Keys) > maxKeys {
		return invalidf("attrs.keys: %d keys (max %d)", len(a.Keys), maxKeys)
	}
	for i, k := range a.Keys {
		switch {
		case strings.TrimSpace(k) == "":
			return invalidf("attrs.keys[%d]: empty", i)
		case len(k) > maxKeyLen:
			return invalidf("attrs.keys[%d]: %d bytes (max %d)", i, len(k), maxKeyLen)
		case strings.ContainsAny(k, "\n\r\x00"):
			return invalidf("attrs.keys[%d]: must be one line", i)
		}
	}
	return nil
}

func clonePorts(p []api.Port) []api.Port {
	if len(p) == 0 {
		return nil
	}
	return append([]api.Port(nil), p...)
}

func portString(p api.Port) string { return fmt.Sprintf("%s/%d", p.Proto, p.Port) }
