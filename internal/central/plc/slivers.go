package plc

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Rspec defaults for fields no tag sets (the paper's 5 kbit/s and 10
// Mbit/s; the node fills the others).
const (
	DefaultNetMinRate = 5     // kbit/s
	DefaultNetMaxRate = 10000 // kbit/s
)

// NodeSlivers returns what node nodeID should run, as GetSlivers does:
// every live slice on the node except not-instantiated ones, with the
// keys of its enabled users, its tags as attributes (a tag on this node
// overrides global tags of its name), and the rspec SliverRspec makes.
// Version is the node's list version in the store. On a reservable node,
// a slice without a lease there covering now is listed with enabled=0,
// and Leases holds the node's current and future leases (reservation.go).
//
// An Orbis node runs a sliver's initscript attribute as its boot script,
// so here that attribute carries the code resolveInitScripts finds.
func (s *Service) NodeSlivers(ctx context.Context, nodeID int64) (api.Slivers, error) {
	var out api.Slivers
	err := s.view(ctx, &Caller{NodeID: nodeID}, func(t *txn) error {
		var err error
		if out, err = t.nodeSlivers(nodeID); err != nil {
			return err
		}
		scripts, err := t.InitScripts(store.Query{})
		resolveInitScripts(out.Slivers, scripts)
		return err
	})
	return out, err
}

func (t *txn) nodeSlivers(nodeID int64) (api.Slivers, error) {
	nodes, err := t.Nodes(store.ByID("node_id", nodeID))
	if err != nil {
		return api.Slivers{}, err
	}
	if len(nodes) == 0 {
		return api.Slivers{}, fmt.Errorf("node %d: %w", nodeID, store.ErrNotFound)
	}
	versions, err := t.NodeVersions([]int64{nodeID})
	if err != nil {
		return api.Slivers{}, err
	}
	out := api.Slivers{Timestamp: t.now, NodeID: nodeID, Hostname: nodes[0].Hostname, Version: versions[nodeID], Slivers: []api.Sliver{}}
	sls, err := t.Slices(store.Query{Conds: []store.Cond{
		{Field: "node_ids", Op: store.Eq, Value: nodeID}, t.liveCond(),
		{Field: "instantiation", Op: store.Ne, Value: "not-instantiated"},
	}})
	if err != nil {
		return out, err
	}
	if len(sls) == 0 {
		return out, t.applyLeases(&nodes[0], &out)
	}
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: sliceIDsOf(sls)}}, Sort: []string{"slice_tag_id"}})
	if err != nil {
		return out, err
	}
	people, err := t.slicePeople(sls)
	if err != nil {
		return out, err
	}
	for i := range sls {
		sv := sliverOf(&sls[i], nodeID, tags, people)
		if sls[i].SiteID != nodes[0].SiteID {
			// A site's admin slice administers its own site's nodes only.
			sv.Rspec.Privileges.Admin = false
		}
		out.Slivers = append(out.Slivers, sv)
	}
	return out, t.applyLeases(&nodes[0], &out)
}

// slicePeople is what a node is told of the enabled users of its slices:
// their keys and emails, by person id.
type slicePeople struct {
	keys   map[int64][]api.SliverKey
	emails map[int64]string
}

// slicePeople reads the keys and emails of the slices' enabled users.
func (t *txn) slicePeople(sls []api.Slice) (slicePeople, error) {
	set := map[int64]bool{}
	for _, sl := range sls {
		addAll(set, sl.PersonIDs)
	}
	out := slicePeople{keys: map[int64][]api.SliverKey{}, emails: map[int64]string{}}
	if len(set) == 0 {
		return out, nil
	}
	persons, err := t.Persons(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: setList(set)}, {Field: "enabled", Op: store.Eq, Value: true}}})
	if err != nil || len(persons) == 0 {
		return out, err
	}
	ids := make([]any, len(persons))
	for i, p := range persons {
		ids[i] = p.PersonID
		out.emails[p.PersonID] = p.Email
	}
	keys, err := t.Keys(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: ids}}, Sort: []string{"key_id"}})
	for _, k := range keys {
		out.keys[k.PersonID] = append(out.keys[k.PersonID], api.SliverKey{KeyType: k.KeyType, Key: k.Key})
	}
	return out, err
}

// sliverOf is slice sl as node nodeID runs it, with its description, URL
// and users' emails for the node's traffic auditor pages (paper 4.4.3).
func sliverOf(sl *api.Slice, nodeID int64, tags []api.SliceTag, people slicePeople) api.Sliver {
	var mine []api.SliceTag
	for _, tag := range tags {
		if tag.SliceID == sl.SliceID {
			mine = append(mine, tag)
		}
	}
	attrs := Attributes(mine, nodeID)
	sv := api.Sliver{
		Name: sl.Name, SliceID: sl.SliceID, Instantiation: sl.Instantiation, Expires: sl.Expires,
		Keys: []api.SliverKey{}, Attributes: attrs, Rspec: SliverRspec(sl, attrs),
		Software: sliverSoftware(attrs), Description: sl.Description, URL: sl.URL,
	}
	for _, pid := range sl.PersonIDs {
		sv.Keys = append(sv.Keys, people.keys[pid]...)
		if e := people.emails[pid]; e != "" {
			sv.Emails = append(sv.Emails, e)
		}
	}
	slices.Sort(sv.Emails)
	return sv
}

// Attributes are a slice's tags as node nodeID sees them: for each
// tagname, the tags on this node if there are any, else the global ones;
// tags on other nodes and ReceivedSharesTag are left out. They are sorted
// by tagname, then in the order they were added.
func Attributes(tags []api.SliceTag, nodeID int64) []api.Attribute {
	local := map[string]bool{}
	for _, t := range tags {
		if t.NodeID == nodeID && nodeID != 0 {
			local[t.TagName] = true
		}
	}
	var keep []api.SliceTag
	for _, t := range tags {
		switch {
		case t.TagName == ReceivedSharesTag:
		case t.NodeID != 0 && t.NodeID != nodeID:
		case t.NodeID == 0 && local[t.TagName]:
		default:
			keep = append(keep, t)
		}
	}
	sort.SliceStable(keep, func(i, j int) bool {
		if keep[i].TagName != keep[j].TagName {
			return keep[i].TagName < keep[j].TagName
		}
		return keep[i].SliceTagID < keep[j].SliceTagID
	})
	out := make([]api.Attribute, len(keep))
	for i, t := range keep {
		out[i] = api.Attribute{TagName: t.TagName, Value: t.Value}
	}
	return out
}

// SliverRspec translates a slice's shares, expiry and attributes (as
// Attributes returns them; the last value of a tagname wins) into the
// rspec its sliver gets on a node:
//
//	rspec field            from                                   default
//	CPUShares              cpu_share tag, else the slice's shares 1 (for 0 shares)
//	CPUGuarantee           10 × cpu_pct tag (percent → ‰ of node) 0 (none)
//	CPUCap                 cpu_cap tag = 1 (only with a guarantee) false
//	NetMinRate             net_min_rate tag (kbit/s)              5
//	NetMaxRate             net_max_rate tag (kbit/s), ≥ NetMinRate 10000
//	DiskMax                disk_max tag (KB) × 1024               0 (node's default)
//	MemoryMax              memory tag (MB) × 2^20, else as_hard   0 (node's default)
//	                       tag (bytes, as RLIMIT_AS counts)
//	ProcMax                nproc_hard tag                         0 (node's default)
//	OpenFileMax            openfd_hard tag                        0 (node's default)
//	Ports                  ports tag: "tcp/61080,udp/5000"        none
//	End                    the slice's expires                    —
//	Privileges.CreateSliver always                                true
//	Privileges.NodeManager nm_controller tag = 1 (an admin's; the  false
//	                       instantiation nm-controller is a label)
//	BindSlices             bind_slices tag, on a NodeManager slice none
//	Privileges.Admin       admin tag = 1 (the site's admin slice), false
//	                       on nodes of the slice's own site only
//	Delegated              for a NodeManager slice with a          nil (no pool)
//	                       delegate_slivers tag > 0: see below
//
// A broker's delegation (Rspec.Delegated, the pool the node gives it) is
// made of the delegate_* tags, in the units of the tags they mirror:
// delegate_slivers (slivers it may bind), delegate_cpu_shares,
// delegate_cpu_pct (10 × percent of the node, guaranteed),
// delegate_memory_max (MB), delegate_net_max_rate (kbit/s) and
// delegate_disk_max (KB); it ends when the slice expires.
//
// The ports tag reserves transport ports for the slice on its nodes: the
// node's port manager then refuses them to every other slice. Nodes
// refuse ports in their ephemeral range (32768-60999 by default), so an
// rspec holding one is refused there.
//
// Every tag, these included, also reaches the node as an attribute:
// initscript names the sliver's boot script or is its code (NodeSlivers
// resolves it, see resolveInitScripts), enabled = 0 tells the node to
// stop the sliver and refuse logins (it stays listed, so its files stay;
// on a reservable node NodeSlivers sets it outside the slice's leases),
// vref names its image.
func SliverRspec(sl *api.Slice, attrs []api.Attribute) api.Rspec {
	last := map[string]string{}
	for _, a := range attrs {
		last[a.TagName] = a.Value
	}
	num := func(name string) (int64, bool) {
		n, err := strconv.ParseInt(last[name], 10, 64)
		return n, err == nil && n >= 0
	}
	rs := api.Rspec{CPUShares: sl.Shares, End: sl.Expires, NetMinRate: DefaultNetMinRate, NetMaxRate: DefaultNetMaxRate}
	if n, ok := num("cpu_share"); ok {
		rs.CPUShares = n
	}
	rs.CPUShares = max(rs.CPUShares, 1)
	if n, ok := num("cpu_pct"); ok {
		rs.CPUGuarantee = 10 * min(n, 100)
	}
	rs.CPUCap = last["cpu_cap"] == "1" && rs.CPUGuarantee > 0
	if n, ok := num("net_min_rate"); ok && n > 0 {
		rs.NetMinRate = n
	}
	if n, ok := num("net_max_rate"); ok && n > 0 {
		rs.NetMaxRate = n
	}
	rs.NetMaxRate = max(rs.NetMaxRate, rs.NetMinRate)
	if n, ok := num("net_max_kbyte"); ok {
		rs.NetMaxKByte = n
	}
	if n, ok := num("net_thresh_kbyte"); ok {
		rs.NetThreshKByte = min(n, rs.NetMaxKByte)
	}
	if n, ok := num("disk_max"); ok {
		rs.DiskMax = mulSat(n, 1024)
	}
	if n, ok := num("as_hard"); ok {
		rs.MemoryMax = n
	}
	if n, ok := num("memory"); ok {
		rs.MemoryMax = mulSat(n, 1<<20)
	}
	if n, ok := num("nproc_hard"); ok {
		rs.ProcMax = n
	}
	if n, ok := num("openfd_hard"); ok {
		rs.OpenFileMax = n
	}
	rs.Ports, _ = ParsePorts(last["ports"]) // checked when set: a bad value reserves nothing
	rs.Privileges.CreateSliver = true
	// Privileges come from admin-only tags alone: whoever may update a
	// slice (its users) must not grant it any.
	rs.Privileges.NodeManager = last["nm_controller"] == "1"
	rs.Privileges.Admin = last["admin"] == "1"
	if rs.Privileges.NodeManager {
		rs.Delegated = delegation(num, sl.Expires)
		rs.BindSlices, _ = ParseBindSlices(last["bind_slices"]) // checked when set
	}
	return rs
}

// delegation is a broker's pool from its delegate_* tags, or nil when
// delegate_slivers is not positive.
func delegation(num func(string) (int64, bool), expires int64) *api.Rspec {
	n, ok := num("delegate_slivers")
	if !ok || n == 0 {
		return nil
	}
	d := &api.Rspec{Slivers: n, End: expires, Privileges: api.Privileges{CreateSliver: true}}
	if v, ok := num("delegate_cpu_shares"); ok {
		d.CPUShares = v
	}
	if v, ok := num("delegate_cpu_pct"); ok {
		d.CPUGuarantee = 10 * min(v, 100)
	}
	if v, ok := num("delegate_memory_max"); ok {
		d.MemoryMax = mulSat(v, 1<<20)
	}
	if v, ok := num("delegate_net_max_rate"); ok {
		d.NetMaxRate = v
	}
	if v, ok := num("delegate_disk_max"); ok {
		d.DiskMax = mulSat(v, 1024)
	}
	return d
}

// maxPorts is the most ports one slice may reserve (the node's limit).
const maxPorts = 256

// ParsePorts reads a ports tag: comma-separated PROTO/PORT, PROTO tcp or
// udp, PORT 1 to 65535, none twice ("" is no ports).
func ParsePorts(v string) ([]api.Port, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	fields := strings.Split(v, ",")
	if len(fields) > maxPorts {
		return nil, fmt.Errorf("%d ports (max %d)", len(fields), maxPorts)
	}
	out := make([]api.Port, 0, len(fields))
	seen := map[api.Port]bool{}
	for _, f := range fields {
		f = strings.TrimSpace(f)
		proto, num, ok := strings.Cut(f, "/")
		n, err := strconv.ParseUint(num, 10, 16)
		switch {
		case !ok || (proto != "tcp" && proto != "udp"):
			return nil, fmt.Errorf("%q: want tcp/PORT or udp/PORT", f)
		case err != nil || n == 0:
			return nil, fmt.Errorf("%q: port must be 1 to 65535", f)
		}
		p := api.Port{Proto: proto, Port: uint16(n)}
		if seen[p] {
			return nil, fmt.Errorf("%q: listed twice", f)
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// maxBindSlices is the most slice names one broker may be given (the
// node's limit).
const maxBindSlices = 1024

// ParseBindSlices reads a bind_slices tag: the comma-separated names of
// the slices a node manager slice may bind on its nodes besides its own
// (the slices delegated to it), none twice ("" is none).
func ParseBindSlices(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	fields := strings.Split(v, ",")
	if len(fields) > maxBindSlices {
		return nil, fmt.Errorf("%d names (max %d)", len(fields), maxBindSlices)
	}
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		f = strings.TrimSpace(f)
		if err := checkSliceName(f); err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("%q: listed twice", f)
		}
		out = append(out, f)
	}
	return out, nil
}

// mulSat multiplies without overflowing.
func mulSat(a, b int64) int64 {
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
