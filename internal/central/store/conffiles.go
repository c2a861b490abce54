package store

import (
	"database/sql"
	"fmt"
)

// ConfFile is PLCAPI's configuration file: a file a node fetches from
// Source and installs at Dest, on every node (no NodeIDs nor
// NodeGroupIDs) or on the nodes linked to it, directly or by a node group.
type ConfFile struct {
	ConfFileID      int64   `json:"conf_file_id"`
	Enabled         bool    `json:"enabled"`
	Source          string  `json:"source"`
	Dest            string  `json:"dest"`
	FilePermissions string  `json:"file_permissions"`
	FileOwner       string  `json:"file_owner"`
	FileGroup       string  `json:"file_group"`
	PreinstallCmd   string  `json:"preinstall_cmd"`
	PostinstallCmd  string  `json:"postinstall_cmd"`
	ErrorCmd        string  `json:"error_cmd"`
	IgnoreCmdErrors bool    `json:"ignore_cmd_errors"`
	AlwaysUpdate    bool    `json:"always_update"`
	NodeIDs         []int64 `json:"node_ids"`
	NodeGroupIDs    []int64 `json:"nodegroup_ids"`
}

// confFileTable is what a conf file Query may name.
var confFileTable = &table{
	kind: "conf file", from: "conf_files t", pk: "t.conf_file_id",
	cols: map[string]column{
		"conf_file_id": {"t.conf_file_id", kInt, false}, "enabled": {"t.enabled", kBool, false},
		"source": {"t.source", kString, false}, "dest": {"t.dest", kString, false},
		"file_permissions": {"t.file_permissions", kString, false}, "file_owner": {"t.file_owner", kString, false},
		"file_group": {"t.file_group", kString, false}, "preinstall_cmd": {"t.preinstall_cmd", kString, false},
		"postinstall_cmd": {"t.postinstall_cmd", kString, false}, "error_cmd": {"t.error_cmd", kString, false},
		"ignore_cmd_errors": {"t.ignore_cmd_errors", kBool, false}, "always_update": {"t.always_update", kBool, false},
	},
	lists: map[string]listCol{
		"node_ids":      {table: "conf_file_nodes", owner: "conf_file_id", member: "node_id"},
		"nodegroup_ids": {table: "conf_file_nodegroups", owner: "conf_file_id", member: "nodegroup_id"},
	},
}

// confFileScalars are a conf file's columns besides its id and lists.
var confFileScalars = []string{"enabled", "source", "dest", "file_permissions", "file_owner", "file_group",
	"preinstall_cmd", "postinstall_cmd", "error_cmd", "ignore_cmd_errors", "always_update"}

func confFileValues(c *ConfFile) []any {
	return []any{c.Enabled, c.Source, c.Dest, c.FilePermissions, c.FileOwner, c.FileGroup,
		c.PreinstallCmd, c.PostinstallCmd, c.ErrorCmd, c.IgnoreCmdErrors, c.AlwaysUpdate}
}

func (t *tx) confFileCols() string {
	return "t.conf_file_id, t.enabled, t.source, t.dest, t.file_permissions, t.file_owner, t.file_group, " +
		"t.preinstall_cmd, t.postinstall_cmd, t.error_cmd, t.ignore_cmd_errors, t.always_update, " +
		t.d.listAgg("node_id", "conf_file_nodes", "conf_file_id = t.conf_file_id") + ", " +
		t.d.listAgg("nodegroup_id", "conf_file_nodegroups", "conf_file_id = t.conf_file_id")
}

func scanConfFile(r *sql.Rows) (ConfFile, error) {
	var c ConfFile
	var nodes, groups sql.NullString
	err := r.Scan(&c.ConfFileID, &c.Enabled, &c.Source, &c.Dest, &c.FilePermissions, &c.FileOwner, &c.FileGroup,
		&c.PreinstallCmd, &c.PostinstallCmd, &c.ErrorCmd, &c.IgnoreCmdErrors, &c.AlwaysUpdate, &nodes, &groups)
	c.NodeIDs, c.NodeGroupIDs = idList(nodes), idList(groups)
	return c, err
}

// ConfFiles lists conf files; node_ids and nodegroup_ids are filled.
func (t *tx) ConfFiles(q Query) ([]ConfFile, error) {
	return list(t, confFileTable, t.confFileCols(), q, scanConfFile)
}

// AddConfFile adds a conf file, linked to no node.
func (t *tx) AddConfFile(c *ConfFile) error {
	if err := t.writable(); err != nil {
		return err
	}
	id, err := t.insert("conf_files", "conf_file_id", confFileScalars, confFileValues(c), fmt.Errorf("%w: conf file exists", ErrConflict))
	if err != nil {
		return err
	}
	c.ConfFileID, c.NodeIDs, c.NodeGroupIDs = id, []int64{}, []int64{}
	return t.event("AddConfFile", "conf_file", id, fields(c, "node_ids", "nodegroup_ids"))
}

// UpdateConfFile writes a conf file's scalar fields.
func (t *tx) UpdateConfFile(c *ConfFile) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, confFileTable, t.confFileCols(), "conf_file_id", c.ConfFileID, scanConfFile)
	if err != nil {
		return err
	}
	if err := t.update("conf_files", "conf_file_id", c.ConfFileID, confFileScalars, confFileValues(c), nil); err != nil {
		return err
	}
	return t.event("UpdateConfFile", "conf_file", c.ConfFileID, changed(prev, c, "node_ids", "nodegroup_ids"))
}

// DeleteConfFile deletes a conf file with its links to nodes and node
// groups.
func (t *tx) DeleteConfFile(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, confFileTable, t.confFileCols(), "conf_file_id", id, scanConfFile)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM conf_files WHERE conf_file_id = ?", id); err != nil {
		return fmt.Errorf("delete conf file: %w", err)
	}
	return t.event("DeleteConfFile", "conf_file", id, fields(prev))
}

// AddConfFileToNode links a conf file to a node; idempotent.
func (t *tx) AddConfFileToNode(confFileID, nodeID int64) error {
	return t.addMember("AddConfFileToNode", "conf_file_nodes", [2]string{"conf_file_id", "node_id"},
		[2]int64{confFileID, nodeID}, [2]string{"conf_file", "node"}, "conf_file", confFileID)
}

// DeleteConfFileFromNode removes a conf file's link to a node.
func (t *tx) DeleteConfFileFromNode(confFileID, nodeID int64) error {
	return t.deleteMember("DeleteConfFileFromNode", "conf_file_nodes", [2]string{"conf_file_id", "node_id"},
		[2]int64{confFileID, nodeID}, "conf_file", confFileID)
}

// AddConfFileToNodeGroup links a conf file to a node group; idempotent.
func (t *tx) AddConfFileToNodeGroup(confFileID, nodeGroupID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("conf_files", "conf_file_id", confFileID); err != nil {
		return err
	}
	if err := t.exists("node_groups", "nodegroup_id", nodeGroupID); err != nil {
		return err
	}
	return t.insertMember("AddConfFileToNodeGroup", "conf_file_nodegroups", [2]string{"conf_file_id", "nodegroup_id"},
		[2]int64{confFileID, nodeGroupID}, "conf_file", confFileID)
}

// DeleteConfFileFromNodeGroup removes a conf file's link to a node group.
func (t *tx) DeleteConfFileFromNodeGroup(confFileID, nodeGroupID int64) error {
	return t.deleteMember("DeleteConfFileFromNodeGroup", "conf_file_nodegroups", [2]string{"conf_file_id", "nodegroup_id"},
		[2]int64{confFileID, nodeGroupID}, "conf_file", confFileID)
}
