package api

import "context"

// Typed calls of central's JSON API. A filter is what PLCAPI's Get*
// methods take: nil (everything), an id, a name, a list of ids or names,
// or a map of field conditions (a field name for equal, prefixed with "~"
// for not equal, "<", ">", "[" for at most, "]" for at least; and "-SORT",
// "-OFFSET", "-LIMIT"). A record is
// named by its id (int64) or its unique name (login_base, email, hostname,
// slice name); fields maps PLCAPI field names to new values.

// SliverReportRow is one node's last report on one sliver
// (GetSliverReports).
type SliverReportRow struct {
	NodeID  int64       `json:"node_id"`
	Name    string      `json:"name"` // the slice's name
	State   SliverState `json:"state"`
	Reason  string      `json:"reason"`
	Updated int64       `json:"updated"` // Unix seconds
}

// getArgs is the argument list of a Get* call.
func getArgs(filter any, fields []string) []any {
	switch {
	case len(fields) > 0:
		return []any{filter, fields}
	case filter != nil:
		return []any{filter}
	}
	return nil
}

// add calls an Add* method that returns the new record's id.
func (c *CentralClient) add(ctx context.Context, method string, args ...any) (int64, error) {
	var id int64
	err := c.Call(ctx, method, &id, args...)
	return id, err
}

// GetSites returns the sites that filter selects, with only the named
// fields filled if fields are given.
func (c *CentralClient) GetSites(ctx context.Context, filter any, fields ...string) ([]Site, error) {
	var out []Site
	return out, c.Call(ctx, "GetSites", &out, getArgs(filter, fields)...)
}

// AddSite creates a site and returns its id.
func (c *CentralClient) AddSite(ctx context.Context, fields map[string]any) (int64, error) {
	return c.add(ctx, "AddSite", fields)
}

// UpdateSite changes the given fields of a site.
func (c *CentralClient) UpdateSite(ctx context.Context, site any, fields map[string]any) error {
	return c.Call(ctx, "UpdateSite", nil, site, fields)
}

// DeleteSite deletes a site with its nodes and slices.
func (c *CentralClient) DeleteSite(ctx context.Context, site any) error {
	return c.Call(ctx, "DeleteSite", nil, site)
}

// GetPersons returns the persons that filter selects.
func (c *CentralClient) GetPersons(ctx context.Context, filter any, fields ...string) ([]Person, error) {
	var out []Person
	return out, c.Call(ctx, "GetPersons", &out, getArgs(filter, fields)...)
}

// AddPerson creates a person (disabled until an admin or PI enables it)
// and returns its id; fields may carry "password".
func (c *CentralClient) AddPerson(ctx context.Context, fields map[string]any) (int64, error) {
	return c.add(ctx, "AddPerson", fields)
}

// UpdatePerson changes the given fields of a person.
func (c *CentralClient) UpdatePerson(ctx context.Context, person any, fields map[string]any) error {
	return c.Call(ctx, "UpdatePerson", nil, person, fields)
}

// DeletePerson deletes a person.
func (c *CentralClient) DeletePerson(ctx context.Context, person any) error {
	return c.Call(ctx, "DeletePerson", nil, person)
}

// AddPersonToSite makes a person a member of a site.
func (c *CentralClient) AddPersonToSite(ctx context.Context, person, site any) error {
	return c.Call(ctx, "AddPersonToSite", nil, person, site)
}

// AddRoleToPerson grants a role (its id or name: "pi", "user" ...) to a
// person.
func (c *CentralClient) AddRoleToPerson(ctx context.Context, role, person any) error {
	return c.Call(ctx, "AddRoleToPerson", nil, role, person)
}

// AddPersonKey adds an SSH public key to a person and returns its id.
func (c *CentralClient) AddPersonKey(ctx context.Context, person any, keyType, key string) (int64, error) {
	return c.add(ctx, "AddPersonKey", person, map[string]any{"key_type": keyType, "key": key})
}

// GetKeys returns the keys that filter selects.
func (c *CentralClient) GetKeys(ctx context.Context, filter any, fields ...string) ([]Key, error) {
	var out []Key
	return out, c.Call(ctx, "GetKeys", &out, getArgs(filter, fields)...)
}

// DeleteKey deletes a key.
func (c *CentralClient) DeleteKey(ctx context.Context, keyID int64) error {
	return c.Call(ctx, "DeleteKey", nil, keyID)
}

// GetNodes returns the nodes that filter selects.
func (c *CentralClient) GetNodes(ctx context.Context, filter any, fields ...string) ([]Node, error) {
	var out []Node
	return out, c.Call(ctx, "GetNodes", &out, getArgs(filter, fields)...)
}

// AddNode creates a node at a site and returns its id.
func (c *CentralClient) AddNode(ctx context.Context, site any, fields map[string]any) (int64, error) {
	return c.add(ctx, "AddNode", site, fields)
}

// UpdateNode changes the given fields of a node.
func (c *CentralClient) UpdateNode(ctx context.Context, node any, fields map[string]any) error {
	return c.Call(ctx, "UpdateNode", nil, node, fields)
}

// DeleteNode deletes a node.
func (c *CentralClient) DeleteNode(ctx context.Context, node any) error {
	return c.Call(ctx, "DeleteNode", nil, node)
}

// AddNodeToken returns a one-time token with which the node registers
// (`orbis node --central URL --token T`).
func (c *CentralClient) AddNodeToken(ctx context.Context, node any) (string, error) {
	var tok string
	return tok, c.Call(ctx, "AddNodeToken", &tok, node)
}

// GetSlices returns the live slices that filter selects.
func (c *CentralClient) GetSlices(ctx context.Context, filter any, fields ...string) ([]Slice, error) {
	var out []Slice
	return out, c.Call(ctx, "GetSlices", &out, getArgs(filter, fields)...)
}

// AddSlice creates a slice ("name" is <login_base>_<name>) and returns
// its id.
func (c *CentralClient) AddSlice(ctx context.Context, fields map[string]any) (int64, error) {
	return c.add(ctx, "AddSlice", fields)
}

// UpdateSlice changes the given fields of a slice.
func (c *CentralClient) UpdateSlice(ctx context.Context, slice any, fields map[string]any) error {
	return c.Call(ctx, "UpdateSlice", nil, slice, fields)
}

// DeleteSlice deletes a slice; its slivers vanish from every node.
func (c *CentralClient) DeleteSlice(ctx context.Context, slice any) error {
	return c.Call(ctx, "DeleteSlice", nil, slice)
}

// AddSliceToNodes puts a slice on nodes (ids or hostnames); it is
// idempotent.
func (c *CentralClient) AddSliceToNodes(ctx context.Context, slice any, nodes []any) error {
	return c.Call(ctx, "AddSliceToNodes", nil, slice, nodes)
}

// DeleteSliceFromNodes takes a slice off nodes.
func (c *CentralClient) DeleteSliceFromNodes(ctx context.Context, slice any, nodes []any) error {
	return c.Call(ctx, "DeleteSliceFromNodes", nil, slice, nodes)
}

// AddPersonToSlice makes a person a user of a slice.
func (c *CentralClient) AddPersonToSlice(ctx context.Context, person, slice any) error {
	return c.Call(ctx, "AddPersonToSlice", nil, person, slice)
}

// DeletePersonFromSlice removes a user from a slice.
func (c *CentralClient) DeletePersonFromSlice(ctx context.Context, person, slice any) error {
	return c.Call(ctx, "DeletePersonFromSlice", nil, person, slice)
}

// RenewSlice sets a slice's expiry (Unix seconds), within the renewal
// policy.
func (c *CentralClient) RenewSlice(ctx context.Context, slice any, expires int64) error {
	return c.Call(ctx, "RenewSlice", nil, slice, expires)
}

// DelegateShares moves shares from a site or slice to a slice.
func (c *CentralClient) DelegateShares(ctx context.Context, from, to any, shares int64) error {
	return c.Call(ctx, "DelegateShares", nil, from, to, shares)
}

// GetSliceTags returns the slice tags that filter selects.
func (c *CentralClient) GetSliceTags(ctx context.Context, filter any, fields ...string) ([]SliceTag, error) {
	var out []SliceTag
	return out, c.Call(ctx, "GetSliceTags", &out, getArgs(filter, fields)...)
}

// AddSliceTag adds a tag to a slice, on every node (node nil) or on one
// (its id or hostname), and returns its slice_tag_id.
func (c *CentralClient) AddSliceTag(ctx context.Context, slice any, name, value string, node any) (int64, error) {
	if node == nil {
		return c.add(ctx, "AddSliceTag", slice, name, value)
	}
	return c.add(ctx, "AddSliceTag", slice, name, value, node)
}

// UpdateSliceTag sets a slice tag's value.
func (c *CentralClient) UpdateSliceTag(ctx context.Context, tagID int64, value string) error {
	return c.Call(ctx, "UpdateSliceTag", nil, tagID, value)
}

// DeleteSliceTag deletes a slice tag.
func (c *CentralClient) DeleteSliceTag(ctx context.Context, tagID int64) error {
	return c.Call(ctx, "DeleteSliceTag", nil, tagID)
}

// GetSliverReports returns the nodes' last reports on their slivers
// that filter (e.g. {"name": SLICE}) selects.
func (c *CentralClient) GetSliverReports(ctx context.Context, filter any) ([]SliverReportRow, error) {
	var out []SliverReportRow
	return out, c.Call(ctx, "GetSliverReports", &out, getArgs(filter, nil)...)
}
