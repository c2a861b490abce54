package api

// NodeTag is one tag of a node, as PLCAPI's NodeTag has it.
type NodeTag struct {
	NodeTagID   int64  `json:"node_tag_id"`
	NodeID      int64  `json:"node_id"`
	Hostname    string `json:"hostname"`
	TagTypeID   int64  `json:"tag_type_id"`
	TagName     string `json:"tagname"`
	Value       string `json:"value"`
	Category    string `json:"category"`
	Description string `json:"description"`
}

// NodeGroup is the set of nodes whose tag TagName has Value, as PLCAPI's
// NodeGroup has it.
type NodeGroup struct {
	NodeGroupID int64  `json:"nodegroup_id"`
	GroupName   string `json:"groupname"`
	TagTypeID   int64  `json:"tag_type_id"`
	TagName     string `json:"tagname"`
	Value       string `json:"value"`
	// NodeIDs are the nodes in the group; ConfFileIDs the conf files
	// linked to it (none: Orbis links conf files to nodes only).
	NodeIDs     []int64 `json:"node_ids"`
	ConfFileIDs []int64 `json:"conf_file_ids"`
}
