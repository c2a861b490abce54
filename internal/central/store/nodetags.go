package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// nodeTags are the nodes' tags.
var nodeTags = newObjectTagTable("node", "Node", "nodes", "hostname", true)

func scanNodeTag(r *sql.Rows) (api.NodeTag, error) {
	var a api.NodeTag
	return a, r.Scan(&a.NodeTagID, &a.NodeID, &a.Hostname, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// NodeTags lists node tags with their type's name, category and
// description.
func (t *tx) NodeTags(q Query) ([]api.NodeTag, error) {
	return list(t, nodeTags.q, nodeTags.cols, q, scanNodeTag)
}

// AddNodeTag adds a tag to a node; ErrConflict if the node has one of
// that type.
func (t *tx) AddNodeTag(a *api.NodeTag) error {
	return t.addTag(nodeTags, &a.NodeTagID, a.NodeID, a.TagTypeID, a.Value)
}

// UpdateNodeTag writes a node tag's value.
func (t *tx) UpdateNodeTag(id int64, value string) error {
	return t.updateTag(nodeTags, id, value)
}

// DeleteNodeTag deletes a node tag.
func (t *tx) DeleteNodeTag(id int64) error {
	return t.deleteTag(nodeTags, id)
}

// nodeGroupTable is what a node group Query may name.
var nodeGroupTable = &table{
	kind: "node group", from: "node_groups t JOIN tag_types y ON y.tag_type_id = t.tag_type_id", pk: "t.nodegroup_id",
	cols: map[string]column{
		"nodegroup_id": {"t.nodegroup_id", kInt, false}, "groupname": {"t.groupname", kString, false},
		"tag_type_id": {"t.tag_type_id", kInt, false}, "tagname": {"y.tagname", kString, false}, "value": {"t.value", kString, false},
	},
}

func (t *tx) nodeGroupCols() string {
	return "t.nodegroup_id, t.groupname, t.tag_type_id, y.tagname, t.value, " +
		t.d.listAgg("conf_file_id", "conf_file_nodegroups", "nodegroup_id = t.nodegroup_id")
}

func scanNodeGroup(r *sql.Rows) (api.NodeGroup, error) {
	var g api.NodeGroup
	var confs sql.NullString
	err := r.Scan(&g.NodeGroupID, &g.GroupName, &g.TagTypeID, &g.TagName, &g.Value, &confs)
	g.NodeIDs, g.ConfFileIDs = []int64{}, idList(confs)
	return g, err
}

// NodeGroups lists node groups, each with the nodes whose tag of the
// group's type has the group's value (in id order).
func (t *tx) NodeGroups(q Query) ([]api.NodeGroup, error) {
	groups, err := list(t, nodeGroupTable, t.nodeGroupCols(), q, scanNodeGroup)
	if err != nil {
		return nil, err
	}
	for i := range groups {
		g := &groups[i]
		g.NodeIDs, err = scanAll(t, t.d.rebind("SELECT node_id FROM node_tags WHERE tag_type_id = ? AND value = ? ORDER BY node_id"),
			[]any{g.TagTypeID, g.Value}, func(r *sql.Rows) (int64, error) {
				var id int64
				return id, r.Scan(&id)
			})
		if err != nil {
			return nil, fmt.Errorf("list node group %d's nodes: %w", g.NodeGroupID, err)
		}
	}
	return groups, nil
}

// AddNodeGroup adds a node group; ErrConflict if its name is taken.
func (t *tx) AddNodeGroup(g *api.NodeGroup) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("tag_types", "tag_type_id", g.TagTypeID); err != nil {
		return err
	}
	id, err := t.insert("node_groups", "nodegroup_id", []string{"groupname", "tag_type_id", "value"}, []any{g.GroupName, g.TagTypeID, g.Value},
		fmt.Errorf("%w: node group %q exists", ErrConflict, g.GroupName))
	if err != nil {
		return err
	}
	g.NodeGroupID = id
	return t.event("AddNodeGroup", "node group", id, map[string]any{"groupname": g.GroupName, "tag_type_id": g.TagTypeID, "value": g.Value})
}

// UpdateNodeGroup writes a node group's name and value.
func (t *tx) UpdateNodeGroup(g *api.NodeGroup) error {
	if err := t.writable(); err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: node group %q exists", ErrConflict, g.GroupName)
	if taken, err := t.taken("node_groups", "nodegroup_id", "groupname", false, g.GroupName, g.NodeGroupID); err != nil {
		return err
	} else if taken {
		return conflict
	}
	if err := t.update("node_groups", "nodegroup_id", g.NodeGroupID, []string{"groupname", "value"}, []any{g.GroupName, g.Value}, conflict); err != nil {
		return err
	}
	return t.event("UpdateNodeGroup", "node group", g.NodeGroupID, map[string]any{"groupname": g.GroupName, "value": g.Value})
}

// DeleteNodeGroup deletes a node group (not its nodes' tags).
func (t *tx) DeleteNodeGroup(id int64) error {
	return t.deleteRow("node_groups", "nodegroup_id", "node group", "DeleteNodeGroup", id)
}
