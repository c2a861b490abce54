package plc

import (
	"context"
	"slices"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// A node's slice whitelist (PLCAPI's slice_ids_whitelist): a node whose
// whitelist is not empty takes only the slices on it. AddSliceToNodes
// refuses others, and the node's slivers (GetSlivers, the node channel)
// hold only those.

func (s *Service) registerWhitelist() {
	s.add(method{name: "GetWhitelist", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the nodes that match the filter (as GetNodes) and have a slice whitelist (slice_ids_whitelist not empty).",
		call: s.getWhitelist})
	s.add(method{name: "AddSliceToNodesWhitelist", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "array"},
		help: "Puts a slice (by slice_id or name) on the whitelists of nodes (a list of node_ids or hostnames) and returns 1. A node with a whitelist takes only its slices: AddSliceToNodes refuses others, and the node runs only those.",
		call: s.sliceWhitelist(true)})
	s.add(method{name: "DeleteSliceFromNodesWhitelist", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "array"},
		help: "Takes a slice (by slice_id or name) off the whitelists of nodes (a list of node_ids or hostnames) and returns 1; a node whose whitelist becomes empty takes every slice again.",
		call: s.sliceWhitelist(false)})
}

func (s *Service) getWhitelist(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, nodeKind, func(t *txn, q store.Query) ([]api.Node, error) {
		nodes, err := t.Nodes(q)
		return slices.DeleteFunc(nodes, func(n api.Node) bool { return len(n.SliceIDsWhitelist) == 0 }), err
	}, func(x *api.Node) any { return x.NodeID }, nil)
}

// sliceWhitelist puts a slice on nodes' whitelists (on), or takes it off.
func (s *Service) sliceWhitelist(on bool) func(context.Context, *Caller, []any) (any, error) {
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
			nodes, err := t.resolveNodes(refs)
			if err != nil {
				return err
			}
			// What the nodes run may change: the slice, or others once a
			// whitelist starts or ends.
			t.bump(nodes...)
			return t.SetSliceWhitelisted(sl.SliceID, nodes, on)
		})
		return int64(1), err
	}
}

// whitelisted reports whether node n takes slice sliceID: its whitelist
// is empty or holds it.
func whitelisted(n *api.Node, sliceID int64) bool {
	return len(n.SliceIDsWhitelist) == 0 || slices.Contains(n.SliceIDsWhitelist, sliceID)
}

// checkWhitelists refuses to add slice sl to a node of ids whose
// whitelist does not hold it.
func (t *txn) checkWhitelists(sl *api.Slice, ids []int64) error {
	nodes, err := t.Nodes(store.Query{Conds: []store.Cond{{Field: "node_id", Op: store.Eq, Value: anyList(ids)}}})
	if err != nil {
		return err
	}
	for i := range nodes {
		if !whitelisted(&nodes[i], sl.SliceID) {
			return Faultf(FaultInvalidArg, "node %s takes only the slices of its whitelist, and slice %s is not on it (an admin adds it: AddSliceToNodesWhitelist)",
				nodes[i].Hostname, sl.Name)
		}
	}
	return nil
}
