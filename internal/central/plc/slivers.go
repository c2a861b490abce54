package plc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// NodeSlivers returns what node nodeID should run, as GetSlivers does:
// every live slice on the node except not-instantiated ones, with the
// keys of its enabled users, its tags as attributes (a tag on this node
// overrides tags of its name on the node's node groups, which override
// global ones: Attributes), and the rspec SliverRspec makes.
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
	sls = slices.DeleteFunc(sls, func(sl api.Slice) bool { return !whitelisted(&nodes[0], sl.SliceID) })
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
		sv := sliverOf(&sls[i], &nodes[0], tags, people)
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
func sliverOf(sl *api.Slice, node *api.Node, tags []api.SliceTag, people slicePeople) api.Sliver {
	var mine []api.SliceTag
	for _, tag := range tags {
		if tag.SliceID == sl.SliceID {
			mine = append(mine, tag)
		}
	}
	attrs := Attributes(mine, node.NodeID, node.NodeGroupIDs)
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

// Attributes are a slice's tags as node nodeID, in node groups groupIDs,
// sees them: for each tagname, the tags on this node if there are any,
// else those on one of its node groups if there are any, else the global
// ones (PlanetLab's precedence); tags on other nodes or groups and
// ReceivedSharesTag are left out. They are sorted by tagname, then in
// the order they were added.
func Attributes(tags []api.SliceTag, nodeID int64, groupIDs []int64) []api.Attribute {
	const (
		global = iota
		group
		node
	)
	// scope is how close tag t is to the node; ok is false if it is not
	// on the node at all.
	scope := func(t api.SliceTag) (int, bool) {
		switch {
		case t.NodeID != 0:
			return node, t.NodeID == nodeID && nodeID != 0
		case t.NodeGroupID != 0:
			return group, slices.Contains(groupIDs, t.NodeGroupID)
		}
		return global, true
	}
	best := map[string]int{}
	for _, t := range tags {
		if sc, ok := scope(t); ok && sc >= best[t.TagName] {
			best[t.TagName] = sc
		}
	}
	var keep []api.SliceTag
	for _, t := range tags {
		sc, ok := scope(t)
		if ok && sc == best[t.TagName] && t.TagName != ReceivedSharesTag {
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
// rspec its sliver gets on a node, by the resource table (api.Resources,
// shown in docs/resources.md): each field from its tags, in their units;
// cpu_shares from the slice's shares when no cpu_share tag is set; the
// table's defaults in every zero field; pairs made to hold (api.Repair);
// End the slice's expiry; Privileges.CreateSliver always. A tag value that
// does not parse sets nothing (tags are checked when set); one stored
// before its bound existed and past it saturates at it.
//
// Privileges come from admin-only tags alone: whoever may update a slice
// (its users) must not grant it any; the instantiation nm-controller is a
// label. Privileges.Admin holds on the nodes of the slice's own site only
// (NodeSlivers clears it elsewhere). For a NodeManager slice, bind_slices
// names the slices it may bind besides its own, and delegate_slivers > 0
// gives it a pool (Rspec.Delegated) made of the delegate_* tags, in the
// units of the tags they mirror, ending when the slice expires.
//
// The ports tag reserves transport ports for the slice on its nodes: the
// node's port manager then refuses them to every other slice. Nodes
// refuse ports in their ephemeral range (32768-60999 by default), so an
// rspec holding one is refused there.
//
// Every tag, these included, also reaches the node as an attribute
// (api.AttributeTags):
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
	rs := api.Rspec{CPUShares: sl.Shares, End: sl.Expires}
	var pool api.Rspec
	for i := range api.Resources {
		r := &api.Resources[i]
		applyFirstTag(&rs, r, last)
		if v, ok := last[r.DelegateTag]; ok && r.DelegateTag != "" {
			applyTag(&pool, r.DelegateTag, v)
		}
	}
	api.FillDefaults(&rs)
	api.Repair(&rs)
	rs.Privileges.CreateSliver = true
	if !rs.Privileges.NodeManager {
		rs.BindSlices = nil
	} else if pool.Slivers > 0 {
		pool.End, pool.Privileges.CreateSliver = sl.Expires, true
		rs.Delegated = &pool
	}
	return rs
}

// applyFirstTag sets r's field in rs from the first of its tags set in
// last that is valid.
func applyFirstTag(rs *api.Rspec, r *api.Resource, last map[string]string) {
	for _, t := range r.Tags {
		if v, ok := last[t.Name]; ok && applyTag(rs, t.Name, v) {
			return
		}
	}
}

// applyTag sets the field of the tag name in rs from value, and reports
// whether it did: a number past its bound (stored before the bound was)
// saturates at it, so that the node refuses it as before; a value that does
// not parse sets nothing.
func applyTag(rs *api.Rspec, name, value string) bool {
	spec, _, err := api.LookupTag(name)
	if err == nil {
		err = spec.Apply(rs, value)
	}
	return err == nil || errors.Is(err, api.ErrOutOfRange)
}
