package api

// TagType is a kind of tag, as PLCAPI's TagType has it: its name, a
// category ("node/config", "slice/rspec"), and the roles that may set
// tags of it. Contract says the resource table (Resources, AttributeTags)
// declares it: its roles and values are the table's, and it cannot be
// changed or deleted through PLCAPI.
type TagType struct {
	TagTypeID   int64  `json:"tag_type_id"`
	TagName     string `json:"tagname"`
	Category    string `json:"category"`
	Description string `json:"description"`
	// RoleIDs are the roles that may set tags of this type, and Roles
	// their names, in the same order.
	RoleIDs  []int64  `json:"role_ids"`
	Roles    []string `json:"roles"`
	Contract bool     `json:"-"`
}
