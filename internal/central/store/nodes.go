package store

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// nodeTable is what a node Query may name.
var nodeTable = &table{
	kind: "node", from: "nodes t", pk: "t.node_id",
	cols: map[string]column{
		"node_id": {"t.node_id", kInt, false}, "hostname": {"t.hostname", kString, true},
		"site_id": {"t.site_id", kInt, false}, "node_type": {"t.node_type", kString, false},
		"boot_state": {"t.boot_state", kString, false}, "version": {"t.version", kString, false}, "model": {"t.model", kString, false},
		"ip": {"t.ip", kString, false}, "last_contact": {"t.last_contact", kInt, false},
		"date_created": {"t.date_created", kInt, false}, "last_updated": {"t.last_updated", kInt, false},
	},
	lists: map[string]listCol{
		"slice_ids":           {table: "slice_nodes", owner: "node_id", member: "slice_id"},
		"interface_ids":       {table: "interfaces", owner: "node_id", member: "interface_id"},
		"pcu_ids":             {table: "pcu_nodes", owner: "node_id", member: "pcu_id"},
		"node_tag_ids":        {table: "node_tags", owner: "node_id", member: "node_tag_id"},
		"slice_ids_whitelist": {table: "node_slice_whitelist", owner: "node_id", member: "slice_id"},
	},
}

// nodeListFields are a node's list fields, left out of change details.
var nodeListFields = []string{"slice_ids", "slice_ids_whitelist", "interface_ids", "pcu_ids", "node_tag_ids", "nodegroup_ids"}

func (t *tx) nodeCols() string {
	return "t.node_id, t.hostname, t.site_id, t.node_type, t.boot_state, t.version, t.model, t.ip, " +
		"t.last_contact, t.date_created, t.last_updated, " +
		t.d.listAgg("slice_id", "slice_nodes", "node_id = t.node_id") + ", " +
		t.d.listAgg("interface_id", "interfaces", "node_id = t.node_id") + ", " +
		t.d.listAgg("pcu_id", "pcu_nodes", "node_id = t.node_id") + ", " +
		t.d.listAgg("node_tag_id", "node_tags", "node_id = t.node_id") + ", " +
		t.d.listAgg("g.nodegroup_id", "node_groups g JOIN node_tags nt ON nt.tag_type_id = g.tag_type_id AND nt.value = g.value", "nt.node_id = t.node_id") + ", " +
		t.d.listAgg("slice_id", "node_slice_whitelist", "node_id = t.node_id")
}

func scanNode(r *sql.Rows) (api.Node, error) {
	var n api.Node
	var slices, interfaces, pcus, tags, groups, whitelist sql.NullString
	err := r.Scan(&n.NodeID, &n.Hostname, &n.SiteID, &n.NodeType, &n.BootState, &n.Version, &n.Model, &n.IP,
		&n.LastContact, &n.DateCreated, &n.LastUpdated, &slices, &interfaces, &pcus, &tags, &groups, &whitelist)
	n.SliceIDs, n.InterfaceIDs, n.PCUIDs = idList(slices), idList(interfaces), idList(pcus)
	n.NodeTagIDs, n.NodeGroupIDs, n.SliceIDsWhitelist = idList(tags), idList(groups), idList(whitelist)
	return n, err
}

// Nodes lists nodes.
func (t *tx) Nodes(q Query) ([]api.Node, error) {
	return list(t, nodeTable, t.nodeCols(), q, scanNode)
}

func nodeValues(n *api.Node) ([]string, []any) {
	return []string{"hostname", "site_id", "node_type", "boot_state", "version", "model", "ip", "last_contact", "last_updated"},
		[]any{n.Hostname, n.SiteID, n.NodeType, n.BootState, n.Version, n.Model, n.IP, n.LastContact, n.LastUpdated}
}

// AddNode adds a node to its site.
func (t *tx) AddNode(n *api.Node) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("sites", "site_id", n.SiteID); err != nil {
		return err
	}
	n.DateCreated, n.LastUpdated = t.now, t.now
	cols, vals := nodeValues(n)
	id, err := t.insert("nodes", "node_id", append(cols, "date_created"), append(vals, n.DateCreated),
		fmt.Errorf("%w: hostname %q exists", ErrConflict, n.Hostname))
	if err != nil {
		return err
	}
	n.NodeID = id
	return t.event("AddNode", "node", id, fields(n, nodeListFields...))
}

// UpdateNode writes a node's scalar fields.
func (t *tx) UpdateNode(n *api.Node) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, nodeTable, t.nodeCols(), "node_id", n.NodeID, scanNode)
	if err != nil {
		return err
	}
	if prev.SiteID != n.SiteID {
		if err := t.exists("sites", "site_id", n.SiteID); err != nil {
			return err
		}
	}
	conflict := fmt.Errorf("%w: hostname %q exists", ErrConflict, n.Hostname)
	if prev.Hostname != n.Hostname {
		if taken, err := t.taken("nodes", "node_id", "hostname", true, n.Hostname, n.NodeID); err != nil {
			return err
		} else if taken {
			return conflict
		}
	}
	n.DateCreated, n.LastUpdated = prev.DateCreated, t.now
	cols, vals := nodeValues(n)
	if err := t.update("nodes", "node_id", n.NodeID, cols, vals, conflict); err != nil {
		return err
	}
	return t.event("UpdateNode", "node", n.NodeID, changed(prev, n, append(nodeListFields, "last_updated")...))
}

// DeleteNode deletes a node with its memberships, tags and leases.
func (t *tx) DeleteNode(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, nodeTable, t.nodeCols(), "node_id", id, scanNode)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM nodes WHERE node_id = ?", id); err != nil {
		return fmt.Errorf("delete node: %w", err)
	}
	return t.event("DeleteNode", "node", id, map[string]any{"hostname": prev.Hostname, "slice_ids": prev.SliceIDs})
}

// NodeSecret returns the node's HMAC key.
func (t *tx) NodeSecret(nodeID int64) (string, error) {
	var s string
	err := t.queryRow("SELECT secret FROM nodes WHERE node_id = ?", nodeID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("node %d: %w", nodeID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read node secret: %w", err)
	}
	return s, nil
}

// SetNodeSecret replaces the node's HMAC key; the log says only that it
// changed.
func (t *tx) SetNodeSecret(nodeID int64, secret string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("nodes", "node_id", nodeID, []string{"secret"}, []any{secret}, nil); err != nil {
		return err
	}
	return t.event("SetNodeSecret", "node", nodeID, map[string]any{})
}

// AddNodeToken stores a one-time registration token's hash.
func (t *tx) AddNodeToken(nodeID int64, tokenHash string, expires int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", nodeID); err != nil {
		return err
	}
	if _, err := t.insert("node_tokens", "node_id", []string{"token_hash", "node_id", "expires"},
		[]any{tokenHash, nodeID, expires}, fmt.Errorf("%w: node token exists", ErrConflict)); err != nil {
		return err
	}
	return t.event("AddNodeToken", "node", nodeID, map[string]any{"expires": expires})
}

// DeleteNodeTokens deletes every registration token of a node.
func (t *tx) DeleteNodeTokens(nodeID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	res, err := t.exec("DELETE FROM node_tokens WHERE node_id = ?", nodeID)
	if err != nil {
		return fmt.Errorf("delete node tokens: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return t.event("DeleteNodeTokens", "node", nodeID, map[string]any{})
}

// UseNodeToken consumes a registration token.
func (t *tx) UseNodeToken(tokenHash string, now int64) (int64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	var nodeID int64
	err := t.queryRow("DELETE FROM node_tokens WHERE token_hash = ? AND (expires = 0 OR expires > ?) RETURNING node_id",
		tokenHash, now).Scan(&nodeID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("node token: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("use node token: %w", err)
	}
	return nodeID, t.event("UseNodeToken", "node", nodeID, map[string]any{})
}

// TouchNode records a node's last contact, without a change-log entry.
func (t *tx) TouchNode(nodeID, lastContact int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("UPDATE nodes SET last_contact = ? WHERE node_id = ?", lastContact, nodeID)
	if err != nil {
		return fmt.Errorf("touch node: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("node %d: %w", nodeID, ErrNotFound)
	}
	return nil
}

// SetSliceWhitelisted puts a slice on nodes' whitelists (on) or takes it
// off them; nodes where it is so already are left alone.
func (t *tx) SetSliceWhitelisted(sliceID int64, nodeIDs []int64, on bool) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("slices", "slice_id", sliceID); err != nil {
		return err
	}
	q, action := "INSERT INTO node_slice_whitelist (node_id, slice_id) VALUES (?, ?) ON CONFLICT DO NOTHING", "AddSliceToNodesWhitelist"
	if !on {
		q, action = "DELETE FROM node_slice_whitelist WHERE node_id = ? AND slice_id = ?", "DeleteSliceFromNodesWhitelist"
	}
	var changed []int64
	for _, n := range uniqueIDs(nodeIDs) {
		if err := t.exists("nodes", "node_id", n); err != nil {
			return err
		}
		c, err := t.execCount(q, n, sliceID)
		if err != nil {
			return fmt.Errorf("node whitelist: %w", err)
		}
		if c > 0 {
			changed = append(changed, n)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	return t.event(action, "slice", sliceID, map[string]any{"node_ids": changed})
}
