package plc

import (
	"context"
	"strings"

	"github.com/orbisproject/orbis/api"
)

func (s *Service) registerMembers() {
	s.add(method{name: "AddSliceToNodes", roles: rolesSlice, min: 2, max: 2, sig: []string{"int", "int", "array"},
		help: "Adds a slice (by slice_id or name) to nodes (a list of node_ids or hostnames); idempotent. Refused beyond the slice's max_nodes or its site's max_slivers.",
		call: s.sliceNodes(true)})
	s.add(method{name: "DeleteSliceFromNodes", roles: rolesSlice, min: 2, max: 2, sig: []string{"int", "int", "array"},
		help: "Removes a slice (by slice_id or name) from nodes (a list of node_ids or hostnames).",
		call: s.sliceNodes(false)})
	s.add(method{name: "AddPersonToSlice", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Makes a person (by person_id or email) a user of a slice (by slice_id or name): admins, and PIs of the slice's site.",
		call: s.slicePerson(true)})
	s.add(method{name: "DeletePersonFromSlice", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Removes a user from a slice: admins, and PIs of the slice's site.",
		call: s.slicePerson(false)})
}

// sliceNodes adds a slice to nodes, or removes it from them.
func (s *Service) sliceNodes(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		ref, err := argRef(args, 0, "slice_id_or_name")
		if err != nil {
			return nil, err
		}
		refs, err := argRefs(args, 1, "node_id_or_hostname_list")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			sl, err := t.slice(ref)
			if err != nil {
				return err
			}
			if err := t.mayUseSlice(sl, "change its nodes"); err != nil {
				return err
			}
			nodes, err := t.resolveNodes(refs)
			if err != nil {
				return err
			}
			if add {
				return t.addSliceToNodes(sl, nodes)
			}
			var gone []int64
			for _, id := range nodes {
				if contains(sl.NodeIDs, id) {
					gone = append(gone, id)
				}
			}
			t.bump(gone...)
			return t.DeleteSliceFromNodes(sl.SliceID, gone)
		})
		return int64(1), err
	}
}

// resolveNodes finds the ids of nodes named by id or hostname, failing on
// one that does not exist.
func (t *txn) resolveNodes(refs []any) ([]int64, error) {
	qs, err := listFilter(nodeKind, refs)
	if err != nil {
		return nil, err
	}
	nodes, err := runQueries(qs, t.Nodes, func(n *api.Node) any { return n.NodeID })
	if err != nil {
		return nil, err
	}
	byID, byName := map[int64]bool{}, map[string]int64{}
	for _, n := range nodes {
		byID[n.NodeID] = true
		byName[strings.ToLower(n.Hostname)] = n.NodeID
	}
	ids := make([]int64, 0, len(refs))
	for _, r := range refs {
		switch x := r.(type) {
		case int64:
			if !byID[x] {
				return nil, noSuch(nodeKind, x)
			}
			ids = append(ids, x)
		case string:
			id, ok := byName[strings.ToLower(x)]
			if !ok {
				return nil, noSuch(nodeKind, x)
			}
			ids = append(ids, id)
		}
	}
	return dedupe(ids), nil
}

// addSliceToNodes adds the nodes the slice is not on yet, within its
// max_nodes and its site's max_slivers.
func (t *txn) addSliceToNodes(sl *api.Slice, nodes []int64) error {
	var fresh []int64
	for _, id := range nodes {
		if !contains(sl.NodeIDs, id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	if err := t.checkWhitelists(sl, fresh); err != nil {
		return err
	}
	if n := int64(len(sl.NodeIDs) + len(fresh)); n > sl.MaxNodes {
		return Faultf(FaultInvalidArg, "slice %s would be on %d nodes, over its max_nodes of %d", sl.Name, n, sl.MaxNodes)
	}
	site, err := t.site(sl.SiteID)
	if err != nil {
		return err
	}
	live, err := t.liveSlices(site.SiteID)
	if err != nil {
		return err
	}
	slivers := int64(len(fresh))
	for _, x := range live {
		slivers += int64(len(x.NodeIDs))
	}
	if slivers > site.MaxSlivers && !t.c.IsAdmin() {
		return Faultf(FaultInvalidArg, "site %s would have %d slivers, over its max_slivers of %d", site.LoginBase, slivers, site.MaxSlivers)
	}
	t.bump(fresh...)
	return t.AddSliceToNodes(sl.SliceID, fresh)
}

// slicePerson adds a user to a slice, or removes one.
func (s *Service) slicePerson(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		pref, err := argRef(args, 0, "person_id_or_email")
		if err != nil {
			return nil, err
		}
		sref, err := argRef(args, 1, "slice_id_or_name")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			p, err := t.person(pref)
			if err != nil {
				return err
			}
			sl, err := t.slice(sref)
			if err != nil {
				return err
			}
			if err := t.mayManageSite(sl.SiteID, "change the users of slice "+sl.Name); err != nil {
				return err
			}
			member := contains(sl.PersonIDs, p.PersonID)
			if add != member {
				t.bump(sl.NodeIDs...)
			}
			if add {
				return t.AddPersonToSlice(p.PersonID, sl.SliceID)
			}
			return t.DeletePersonFromSlice(p.PersonID, sl.SliceID)
		})
		return int64(1), err
	}
}

// sliceIDsOf lists the ids of slices.
func sliceIDsOf(sls []api.Slice) []any {
	out := make([]any, len(sls))
	for i, sl := range sls {
		out[i] = sl.SliceID
	}
	return out
}
