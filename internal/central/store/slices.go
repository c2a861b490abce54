package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// sliceTable is what a slice Query may name.
var sliceTable = &table{
	kind: "slice", from: "slices t", pk: "t.slice_id",
	cols: map[string]column{
		"slice_id": {"t.slice_id", kInt, false}, "site_id": {"t.site_id", kInt, false},
		"name": {"t.name", kString, false}, "instantiation": {"t.instantiation", kString, false},
		"url": {"t.url", kString, false}, "description": {"t.description", kString, false},
		"max_nodes": {"t.max_nodes", kInt, false}, "creator_person_id": {"t.creator_person_id", kInt, false},
		"created": {"t.created", kInt, false}, "expires": {"t.expires", kInt, false},
		"shares": {"t.shares", kInt, false},
	},
	lists: map[string]listCol{
		"node_ids":      {table: "slice_nodes", owner: "slice_id", member: "node_id"},
		"person_ids":    {table: "slice_persons", owner: "slice_id", member: "person_id"},
		"slice_tag_ids": {table: "slice_tags", owner: "slice_id", member: "slice_tag_id"},
	},
}

// sliceListFields are a slice's list fields, left out of change details.
var sliceListFields = []string{"node_ids", "person_ids", "slice_tag_ids"}

func (t *tx) sliceCols() string {
	return "t.slice_id, t.site_id, t.name, t.instantiation, t.url, t.description, t.max_nodes, " +
		"t.creator_person_id, t.created, t.expires, t.shares, " +
		t.d.listAgg("node_id", "slice_nodes", "slice_id = t.slice_id") + ", " +
		t.d.listAgg("person_id", "slice_persons", "slice_id = t.slice_id") + ", " +
		t.d.listAgg("slice_tag_id", "slice_tags", "slice_id = t.slice_id")
}

func scanSlice(r *sql.Rows) (api.Slice, error) {
	var s api.Slice
	var nodes, persons, tags sql.NullString
	err := r.Scan(&s.SliceID, &s.SiteID, &s.Name, &s.Instantiation, &s.URL, &s.Description,
		&s.MaxNodes, &s.CreatorPersonID, &s.Created, &s.Expires, &s.Shares, &nodes, &persons, &tags)
	s.NodeIDs, s.PersonIDs, s.SliceTagIDs = idList(nodes), idList(persons), idList(tags)
	return s, err
}

// Slices lists slices.
func (t *tx) Slices(q Query) ([]api.Slice, error) {
	return list(t, sliceTable, t.sliceCols(), q, scanSlice)
}

func sliceValues(s *api.Slice) ([]string, []any) {
	return []string{"site_id", "name", "instantiation", "url", "description", "max_nodes",
			"creator_person_id", "created", "expires", "shares"},
		[]any{s.SiteID, s.Name, s.Instantiation, s.URL, s.Description, s.MaxNodes,
			s.CreatorPersonID, s.Created, s.Expires, s.Shares}
}

// AddSlice adds a slice to its site.
func (t *tx) AddSlice(s *api.Slice) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("sites", "site_id", s.SiteID); err != nil {
		return err
	}
	if s.Created == 0 {
		s.Created = t.now
	}
	cols, vals := sliceValues(s)
	id, err := t.insert("slices", "slice_id", cols, vals, fmt.Errorf("%w: slice name %q exists", ErrConflict, s.Name))
	if err != nil {
		return err
	}
	s.SliceID = id
	return t.event("AddSlice", "slice", id, fields(s, sliceListFields...))
}

// UpdateSlice writes a slice's scalar fields.
func (t *tx) UpdateSlice(s *api.Slice) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, sliceTable, t.sliceCols(), "slice_id", s.SliceID, scanSlice)
	if err != nil {
		return err
	}
	if prev.SiteID != s.SiteID {
		if err := t.exists("sites", "site_id", s.SiteID); err != nil {
			return err
		}
	}
	conflict := fmt.Errorf("%w: slice name %q exists", ErrConflict, s.Name)
	if prev.Name != s.Name {
		if taken, err := t.taken("slices", "slice_id", "name", false, s.Name, s.SliceID); err != nil {
			return err
		} else if taken {
			return conflict
		}
	}
	cols, vals := sliceValues(s)
	if err := t.update("slices", "slice_id", s.SliceID, cols, vals, conflict); err != nil {
		return err
	}
	return t.event("UpdateSlice", "slice", s.SliceID, changed(prev, s, sliceListFields...))
}

// DeleteSlice deletes a slice with its tags, memberships and leases.
func (t *tx) DeleteSlice(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, sliceTable, t.sliceCols(), "slice_id", id, scanSlice)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM slices WHERE slice_id = ?", id); err != nil {
		return fmt.Errorf("delete slice: %w", err)
	}
	return t.event("DeleteSlice", "slice", id, map[string]any{"name": prev.Name, "node_ids": prev.NodeIDs})
}

// AddSliceToNodes adds a slice to nodes; nodes it is on already are
// left alone.
func (t *tx) AddSliceToNodes(sliceID int64, nodeIDs []int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("slices", "slice_id", sliceID); err != nil {
		return err
	}
	var added []int64
	for _, n := range uniqueIDs(nodeIDs) {
		if err := t.exists("nodes", "node_id", n); err != nil {
			return err
		}
		c, err := t.execCount("INSERT INTO slice_nodes (slice_id, node_id) VALUES (?, ?) ON CONFLICT DO NOTHING", sliceID, n)
		if err != nil {
			return fmt.Errorf("add slice to node: %w", err)
		}
		if c > 0 {
			added = append(added, n)
		}
	}
	if len(added) == 0 {
		return nil
	}
	return t.event("AddSliceToNodes", "slice", sliceID, map[string]any{"node_ids": added})
}

// DeleteSliceFromNodes removes a slice from nodes; nodes it is not on are
// left alone.
func (t *tx) DeleteSliceFromNodes(sliceID int64, nodeIDs []int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("slices", "slice_id", sliceID); err != nil {
		return err
	}
	var removed []int64
	for _, n := range uniqueIDs(nodeIDs) {
		c, err := t.execCount("DELETE FROM slice_nodes WHERE slice_id = ? AND node_id = ?", sliceID, n)
		if err != nil {
			return fmt.Errorf("delete slice from node: %w", err)
		}
		if c > 0 {
			removed = append(removed, n)
		}
	}
	if len(removed) == 0 {
		return nil
	}
	return t.event("DeleteSliceFromNodes", "slice", sliceID, map[string]any{"node_ids": removed})
}

// AddPersonToSlice makes a person a user of a slice.
func (t *tx) AddPersonToSlice(personID, sliceID int64) error {
	return t.addMember("AddPersonToSlice", "slice_persons", [2]string{"person_id", "slice_id"},
		[2]int64{personID, sliceID}, [2]string{"person", "slice"}, "slice", sliceID)
}

// DeletePersonFromSlice removes a user from a slice.
func (t *tx) DeletePersonFromSlice(personID, sliceID int64) error {
	return t.deleteMember("DeletePersonFromSlice", "slice_persons", [2]string{"person_id", "slice_id"},
		[2]int64{personID, sliceID}, "slice", sliceID)
}
