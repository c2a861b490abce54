package plc

import (
	"cmp"
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// GetSlivers answers in PlanetLab's shape, for PlanetLab's NodeManager:
// the Orbis node channel's list (NodeSlivers, the one place that decides
// what a node runs) with the sections NodeManager's modules read besides.
//
//	key                 what it holds
//	timestamp, node_id, hostname, version, slivers, leases  as NodeSlivers
//	slivers[].GetSliceFamily  the slice's image (GetSliceFamily), which
//	                    NodeManager writes into its vref attribute
//	slivers[].attributes      the slice's tags as they are: initscript
//	                    names an initscript (NodeSlivers resolves it for
//	                    Orbis nodes; NodeManager resolves it itself)
//	leases[].name       the leased slice's name
//	interfaces          the node's address as its one primary interface
//	groups              the names of the node's node groups
//	conf_files          the enabled conf files for this node, of safe
//	                    dests (nodeConfFiles)
//	initscripts         every enabled initscript
//	accounts            site_admin: ssh keys of the site's enabled PIs and
//	                    techs; root: those of enabled admins
//	reservation_policy  lease_or_idle on a reservable node, else none
//	lease_granularity   LeaseGranularity
//	xmpp                {server: nil}: Orbis runs no OMF XMPP server
func (s *Service) plSlivers(ctx context.Context, c *Caller, nodeID int64) (map[string]any, error) {
	var out map[string]any
	err := s.view(ctx, c, func(t *txn) error {
		var err error
		out, err = t.plSlivers(nodeID)
		return err
	})
	return out, err
}

func (t *txn) plSlivers(nodeID int64) (map[string]any, error) {
	sv, err := t.nodeSlivers(nodeID)
	if err != nil {
		return nil, err
	}
	n, err := t.node(nodeID)
	if err != nil {
		return nil, err
	}
	out := Generic(sv).(map[string]any)
	out["slivers"] = plSliverList(sv.Slivers)
	if out["leases"], err = t.plLeases(sv.Leases); err != nil {
		return nil, err
	}
	out["interfaces"] = []any{nodeInterface(n)}
	if out["groups"], err = t.groupNames(n.NodeGroupIDs); err != nil {
		return nil, err
	}
	confs, err := t.nodeConfFiles(n)
	if err != nil {
		return nil, err
	}
	out["conf_files"] = Generic(confs)
	scripts, err := t.InitScripts(store.Query{Conds: []store.Cond{{Field: "enabled", Op: store.Eq, Value: true}}, Sort: []string{"initscript_id"}})
	if err != nil {
		return nil, err
	}
	out["initscripts"] = Generic(scripts)
	if out["accounts"], err = t.plAccounts(n.SiteID); err != nil {
		return nil, err
	}
	out["reservation_policy"] = "none"
	if n.NodeType == "reservable" {
		out["reservation_policy"] = "lease_or_idle"
	}
	out["lease_granularity"] = LeaseGranularity
	out["xmpp"] = map[string]any{"server": nil}
	return out, nil
}

// plSliverList adds each sliver's GetSliceFamily.
func plSliverList(svs []api.Sliver) []any {
	out := make([]any, len(svs))
	for i := range svs {
		m := Generic(svs[i]).(map[string]any)
		m["GetSliceFamily"] = sliceFamily(svs[i].Attributes)
		out[i] = m
	}
	return out
}

// plLeases adds each lease's slice name.
func (t *txn) plLeases(ls []api.Lease) ([]any, error) {
	out := make([]any, len(ls))
	if len(ls) == 0 {
		return out, nil
	}
	ids := map[int64]bool{}
	for _, l := range ls {
		ids[l.SliceID] = true
	}
	sls, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: setList(ids)}}})
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	for _, sl := range sls {
		names[sl.SliceID] = sl.Name
	}
	for i, l := range ls {
		m := Generic(l).(map[string]any)
		m["name"] = names[l.SliceID]
		out[i] = m
	}
	return out, nil
}

// nodeInterface is node n's address as PLCAPI's primary interface record.
func nodeInterface(n *api.Node) map[string]any {
	return map[string]any{
		"node_id": n.NodeID, "hostname": n.Hostname, "ip": n.IP, "is_primary": true,
		"method": "static", "type": "ipv4", "mac": nil, "bwlimit": nil,
		"interface_tag_ids": []any{},
	}
}

// plAccounts are the keys NodeManager installs for the node's own
// accounts: site_admin (the site's PIs and techs) and root (admins).
func (t *txn) plAccounts(siteID int64) ([]any, error) {
	site, err := t.Persons(store.Query{Conds: []store.Cond{
		{Field: "site_ids", Op: store.Eq, Value: siteID}, {Field: "enabled", Op: store.Eq, Value: true},
		{Field: "role_ids", Op: store.Eq, Value: []any{int64(api.RolePI), int64(api.RoleTech)}},
	}})
	if err != nil {
		return nil, err
	}
	admins, err := t.Persons(store.Query{Conds: []store.Cond{
		{Field: "enabled", Op: store.Eq, Value: true}, {Field: "role_ids", Op: store.Eq, Value: int64(api.RoleAdmin)},
	}})
	if err != nil {
		return nil, err
	}
	siteKeys, err := t.sshKeys(site)
	if err != nil {
		return nil, err
	}
	rootKeys, err := t.sshKeys(admins)
	return []any{
		map[string]any{"name": "site_admin", "keys": siteKeys},
		map[string]any{"name": "root", "keys": rootKeys},
	}, err
}

// sshKeys are the ssh keys of persons, in key_id order.
func (t *txn) sshKeys(persons []api.Person) ([]any, error) {
	out := []any{}
	if len(persons) == 0 {
		return out, nil
	}
	ids := make([]any, len(persons))
	for i, p := range persons {
		ids[i] = p.PersonID
	}
	keys, err := t.Keys(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: ids}}, Sort: []string{"key_id"}})
	for _, k := range keys {
		if k.KeyType == "ssh" {
			out = append(out, k.Key)
		}
	}
	return out, err
}

// Slice families: the image a slice's slivers are made from, as
// GetSliceFamily names it.
const (
	// DefaultSliceFamily means the node's own default image (its -image
	// flag).
	DefaultSliceFamily = "default"
	defaultPldistro    = "orbis"
	defaultFcdistro    = "default"
	defaultArch        = "x86_64"
)

// sliceFamily is GetSliceFamily over a slice's attributes (the last value
// of a tagname wins): the vref tag if set; else pldistro-fcdistro-arch
// when any of those tags is set, the others defaulted; else
// DefaultSliceFamily.
func sliceFamily(attrs []api.Attribute) string {
	last := map[string]string{}
	for _, a := range attrs {
		last[a.TagName] = a.Value
	}
	if v := last["vref"]; v != "" {
		return v
	}
	if last["pldistro"] == "" && last["fcdistro"] == "" && last["arch"] == "" {
		return DefaultSliceFamily
	}
	return cmp.Or(last["pldistro"], defaultPldistro) + "-" + cmp.Or(last["fcdistro"], defaultFcdistro) + "-" + cmp.Or(last["arch"], defaultArch)
}

// groupNames are the names of node groups ids.
func (t *txn) groupNames(ids []int64) ([]any, error) {
	names := []any{}
	if len(ids) == 0 {
		return names, nil
	}
	set := map[int64]bool{}
	for _, id := range ids {
		set[id] = true
	}
	groups, err := t.NodeGroups(store.Query{Conds: []store.Cond{{Field: "nodegroup_id", Op: store.Eq, Value: setList(set)}}, Sort: []string{"nodegroup_id"}})
	for _, g := range groups {
		names = append(names, g.GroupName)
	}
	return names, err
}
