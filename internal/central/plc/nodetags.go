package plc

import (
	"context"
	"unicode/utf8"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var (
	nodeTagKind   = newKind("node tag", api.NodeTag{}, "node_tag_id", "")
	nodeGroupKind = newKind("node group", api.NodeGroup{}, "nodegroup_id", "groupname")
)

// nodeTags are the nodes' tags: admins, and PIs and techs of the node's
// site, as PLCAPI's AddNodeTag has it.
var nodeTags = &objectTagKind[api.Node, api.NodeTag]{
	tag: nodeTagKind, noun: "node", idField: "node_id", refArg: "node_id_or_hostname",
	object: (*txn).node,
	id:     func(n *api.Node) int64 { return n.NodeID },
	name:   func(n *api.Node) string { return n.Hostname },
	mayObject: func(t *txn, n *api.Node) error {
		return t.mayManageNodes(n.SiteID, "tag the node "+n.Hostname)
	},
	list: func(t *txn, q store.Query) ([]api.NodeTag, error) { return t.NodeTags(q) },
	row:  func(x *api.NodeTag) tagRow { return tagRow{x.NodeTagID, x.NodeID, x.TagTypeID, x.TagName, x.Value} },
	// A node's tags make its node groups, which slice tags may be on: a
	// change wakes the node.
	add: func(t *txn, nodeID, typeID int64, value string) (int64, error) {
		tag := api.NodeTag{NodeID: nodeID, TagTypeID: typeID, Value: value}
		t.bump(nodeID)
		err := t.AddNodeTag(&tag)
		return tag.NodeTagID, err
	},
	update: func(t *txn, id int64, v string) error {
		if err := t.bumpNodeOfTag(id); err != nil {
			return err
		}
		return t.UpdateNodeTag(id, v)
	},
	remove: func(t *txn, id int64) error {
		if err := t.bumpNodeOfTag(id); err != nil {
			return err
		}
		return t.DeleteNodeTag(id)
	},
}

// bumpNodeOfTag bumps the node of node tag id.
func (t *txn) bumpNodeOfTag(id int64) error {
	tags, err := t.NodeTags(store.ByID("node_tag_id", id))
	tag, err := one(nodeTagKind, id, tags, err)
	if err != nil {
		return err
	}
	t.bump(tag.NodeID)
	return nil
}

func (s *Service) registerNodeTags() {
	s.add(method{name: "GetNodeTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the node tags that match the filter (a node_tag_id, a list of them, or a struct: node_id, hostname, tagname, value...).",
		call: s.getNodeTags})
	nodeTags.register(s, "Node", rolesNodes, ". Admins, and PIs and techs of the node's site who hold one of the tag type's roles.")
	s.add(method{name: "GetNodeGroups", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the node groups that match the filter (an id, a groupname, a list of them, or a struct), each with the nodes whose tag tagname has the group's value (node_ids).",
		call: s.getNodeGroups})
	s.add(method{name: "AddNodeGroup", roles: rolesAdmin, min: 3, max: 3, sig: []string{"int", "string", "int", "string"},
		help: "Adds a node group (groupname, a tag type by tag_type_id or tagname, a value): the nodes whose tag of that type has the value. Returns its nodegroup_id.",
		call: s.addNodeGroup})
	s.add(method{name: "UpdateNodeGroup", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes a node group's groupname or value (by nodegroup_id or groupname); its tag type stays.",
		call: s.updateNodeGroup})
	s.add(method{name: "DeleteNodeGroup", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a node group (by nodegroup_id or groupname), with the slice tags on it; its nodes keep their tags.",
		call: s.deleteNodeGroup})
}

func (s *Service) getNodeTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, nodeTagKind, func(t *txn, q store.Query) ([]api.NodeTag, error) { return t.NodeTags(q) },
		func(x *api.NodeTag) any { return x.NodeTagID }, nil)
}

func (s *Service) getNodeGroups(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, nodeGroupKind, func(t *txn, q store.Query) ([]api.NodeGroup, error) { return t.NodeGroups(q) },
		func(x *api.NodeGroup) any { return x.NodeGroupID }, nil)
}

func (s *Service) addNodeGroup(ctx context.Context, c *Caller, args []any) (any, error) {
	name, err := argString(args, 0, "groupname")
	if err != nil {
		return nil, err
	}
	tref, err := argRef(args, 1, "tag_type_id_or_name")
	if err != nil {
		return nil, err
	}
	value, err := tagValue(args, 2)
	if err != nil {
		return nil, err
	}
	g := api.NodeGroup{GroupName: name, Value: value}
	if err := checkNodeGroup(&g); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		tt, err := t.tagType(tref)
		if err != nil {
			return err
		}
		g.TagTypeID = tt.TagTypeID
		return t.AddNodeGroup(&g)
	})
	return g.NodeGroupID, err
}

func (s *Service) updateNodeGroup(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "nodegroup_id_or_groupname")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "nodegroup_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only("groupname", "value"); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		g, err := t.nodeGroup(ref)
		if err != nil {
			return err
		}
		f.str("groupname", &g.GroupName)
		f.str("value", &g.Value)
		if f.err != nil {
			return f.err
		}
		if err := checkNodeGroup(g); err != nil {
			return err
		}
		// Its nodes, before and after, may see other slice tags.
		t.bump(g.NodeIDs...)
		if err := t.UpdateNodeGroup(g); err != nil {
			return err
		}
		after, err := t.nodeGroup(g.NodeGroupID)
		if err != nil {
			return err
		}
		t.bump(after.NodeIDs...)
		return nil
	})
	return int64(1), err
}

func (s *Service) deleteNodeGroup(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "nodegroup_id_or_groupname")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		g, err := t.nodeGroup(ref)
		if err != nil {
			return err
		}
		t.bump(g.NodeIDs...) // its slice tags go with it
		return t.DeleteNodeGroup(g.NodeGroupID)
	})
	return int64(1), err
}

func (t *txn) nodeGroup(ref any) (*api.NodeGroup, error) {
	recs, err := t.NodeGroups(refQuery(nodeGroupKind, ref))
	return one(nodeGroupKind, ref, recs, err)
}

// checkNodeGroup: PLCAPI's groupname is 1 to 50 characters.
func checkNodeGroup(g *api.NodeGroup) error {
	if n := utf8.RuneCountInString(g.GroupName); n == 0 || n > 50 {
		return Faultf(FaultInvalidArg, "groupname: 1 to 50 characters")
	}
	return checkTagValue(g.Value)
}
