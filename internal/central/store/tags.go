package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// sliceTagTable is what a slice tag Query may name. node_id and
// nodegroup_id 0 (NULL in the table) with both 0 is a tag on every node.
var sliceTagTable = &table{
	kind: "slice tag", from: "slice_tags t LEFT JOIN tag_types y ON y.tagname = t.tagname", pk: "t.slice_tag_id",
	cols: map[string]column{
		"slice_tag_id": {"t.slice_tag_id", kInt, false}, "slice_id": {"t.slice_id", kInt, false},
		"tagname": {"t.tagname", kString, false}, "value": {"t.value", kString, false},
		"node_id":      {"COALESCE(t.node_id, 0)", kInt, false},
		"nodegroup_id": {"COALESCE(t.nodegroup_id, 0)", kInt, false},
		"tag_type_id":  {"COALESCE(y.tag_type_id, 0)", kInt, false},
	},
}

const sliceTagCols = "t.slice_tag_id, t.slice_id, t.tagname, t.value, COALESCE(t.node_id, 0), " +
	"COALESCE(t.nodegroup_id, 0), COALESCE(y.tag_type_id, 0)"

func scanSliceTag(r *sql.Rows) (api.SliceTag, error) {
	var s api.SliceTag
	err := r.Scan(&s.SliceTagID, &s.SliceID, &s.TagName, &s.Value, &s.NodeID, &s.NodeGroupID, &s.TagTypeID)
	return s, err
}

// SliceTags lists slice tags.
func (t *tx) SliceTags(q Query) ([]api.SliceTag, error) {
	return list(t, sliceTagTable, sliceTagCols, q, scanSliceTag)
}

// checkTagRefs checks a tag's slice and node or node group (if any)
// exist; a tag has one scope.
func (t *tx) checkTagRefs(s *api.SliceTag) error {
	if err := t.exists("slices", "slice_id", s.SliceID); err != nil {
		return err
	}
	switch {
	case s.NodeID != 0 && s.NodeGroupID != 0:
		return fmt.Errorf("%w: a slice tag is on a node or on a node group, not both", ErrInvalidField)
	case s.NodeID != 0:
		return t.exists("nodes", "node_id", s.NodeID)
	case s.NodeGroupID != 0:
		return t.exists("node_groups", "nodegroup_id", s.NodeGroupID)
	}
	return nil
}

// AddSliceTag adds a tag to a slice.
func (t *tx) AddSliceTag(s *api.SliceTag) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.checkTagRefs(s); err != nil {
		return err
	}
	id, err := t.insert("slice_tags", "slice_tag_id", []string{"slice_id", "tagname", "value", "node_id", "nodegroup_id"},
		[]any{s.SliceID, s.TagName, s.Value, nullID(s.NodeID), nullID(s.NodeGroupID)}, fmt.Errorf("%w: slice tag exists", ErrConflict))
	if err != nil {
		return err
	}
	s.SliceTagID = id
	return t.event("AddSliceTag", "slice_tag", id, fields(s))
}

// UpdateSliceTag writes every field of a tag.
func (t *tx) UpdateSliceTag(s *api.SliceTag) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, sliceTagTable, sliceTagCols, "slice_tag_id", s.SliceTagID, scanSliceTag)
	if err != nil {
		return err
	}
	if err := t.checkTagRefs(s); err != nil {
		return err
	}
	if err := t.update("slice_tags", "slice_tag_id", s.SliceTagID, []string{"slice_id", "tagname", "value", "node_id", "nodegroup_id"},
		[]any{s.SliceID, s.TagName, s.Value, nullID(s.NodeID), nullID(s.NodeGroupID)}, nil); err != nil {
		return err
	}
	return t.event("UpdateSliceTag", "slice_tag", s.SliceTagID, changed(prev, s))
}

// DeleteSliceTag deletes a tag.
func (t *tx) DeleteSliceTag(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, sliceTagTable, sliceTagCols, "slice_tag_id", id, scanSliceTag)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM slice_tags WHERE slice_tag_id = ?", id); err != nil {
		return fmt.Errorf("delete slice tag: %w", err)
	}
	return t.event("DeleteSliceTag", "slice_tag", id, fields(prev))
}

// leaseTable is what a lease Query may name.
var leaseTable = &table{
	kind: "lease", from: "leases t", pk: "t.lease_id",
	cols: map[string]column{
		"lease_id": {"t.lease_id", kInt, false}, "t_from": {"t.t_from", kInt, false},
		"t_until": {"t.t_until", kInt, false}, "node_id": {"t.node_id", kInt, false},
		"slice_id": {"t.slice_id", kInt, false},
	},
}

const leaseCols = "t.lease_id, t.t_from, t.t_until, t.node_id, t.slice_id"

func scanLease(r *sql.Rows) (api.Lease, error) {
	var l api.Lease
	err := r.Scan(&l.LeaseID, &l.TFrom, &l.TUntil, &l.NodeID, &l.SliceID)
	return l, err
}

// Leases lists leases.
func (t *tx) Leases(q Query) ([]api.Lease, error) {
	return list(t, leaseTable, leaseCols, q, scanLease)
}

// AddLease adds a lease of a node to a slice.
func (t *tx) AddLease(l *api.Lease) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", l.NodeID); err != nil {
		return err
	}
	if err := t.exists("slices", "slice_id", l.SliceID); err != nil {
		return err
	}
	id, err := t.insert("leases", "lease_id", []string{"t_from", "t_until", "node_id", "slice_id"},
		[]any{l.TFrom, l.TUntil, l.NodeID, l.SliceID}, fmt.Errorf("%w: lease exists", ErrConflict))
	if err != nil {
		return err
	}
	l.LeaseID = id
	return t.event("AddLease", "lease", id, fields(l))
}

// DeleteLease deletes a lease.
func (t *tx) DeleteLease(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, leaseTable, leaseCols, "lease_id", id, scanLease)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM leases WHERE lease_id = ?", id); err != nil {
		return fmt.Errorf("delete lease: %w", err)
	}
	return t.event("DeleteLease", "lease", id, fields(prev))
}
