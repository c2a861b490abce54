package plc

import (
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Software distribution (`orbis slice push`): a slice's current tree is
// kept in its api.SoftwareTag tag ("MANIFEST_HASH DEST"), so that it
// persists with the slice, reaches the slice's nodes as Sliver.Software
// in the list they long-poll, and every change is in the change log. The
// blobs themselves are package central/software's.

// sliverSoftware is the software attribute of a sliver, if any.
func sliverSoftware(attrs []api.Attribute) *api.SliverSoftware {
	var sw *api.SliverSoftware
	for _, a := range attrs {
		if a.TagName == api.SoftwareTag {
			sw = api.ParseSoftwareTag(a.Value)
		}
	}
	return sw
}

// SliceForSoftware returns the live slice ref (an id or a name) if c may
// push software to it: admins, PIs of its site and its users, as for its
// other tags. The slice's current software is set in sw (nil: none).
func (s *Service) SliceForSoftware(ctx context.Context, c *Caller, ref any) (sl *api.Slice, sw *api.SliverSoftware, err error) {
	err = s.view(ctx, c, func(t *txn) error {
		if sl, err = t.slice(ref); err != nil {
			return err
		}
		if err := t.mayTag(sl, api.SoftwareTag); err != nil {
			return err
		}
		tag, err := t.softwareTag(sl.SliceID)
		if tag != nil {
			sw = api.ParseSoftwareTag(tag.Value)
		}
		return err
	})
	return sl, sw, err
}

// SetSliceSoftware makes sw the slice's current software and wakes its
// nodes. It reports whether anything changed (pushing the same manifest
// to the same place again changes nothing and wakes no node).
func (s *Service) SetSliceSoftware(ctx context.Context, c *Caller, sliceID int64, sw api.SliverSoftware) (sl *api.Slice, changed bool, err error) {
	err = s.update(ctx, c, func(t *txn) error {
		changed = false
		if sl, err = t.slice(sliceID); err != nil {
			return err
		}
		if err := t.mayTag(sl, api.SoftwareTag); err != nil {
			return err
		}
		tag, err := t.softwareTag(sl.SliceID)
		switch {
		case err != nil:
			return err
		case tag == nil:
			tag = &api.SliceTag{SliceID: sl.SliceID, TagName: api.SoftwareTag, Value: sw.String()}
			err = t.AddSliceTag(tag)
		case tag.Value == sw.String():
			return nil
		default:
			tag.Value = sw.String()
			err = t.UpdateSliceTag(tag)
		}
		changed = true
		t.bump(sl.NodeIDs...)
		return err
	})
	return sl, changed, err
}

// softwareTag is the slice's global software tag, nil if it has none.
func (t *txn) softwareTag(sliceID int64) (*api.SliceTag, error) {
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{
		{Field: "slice_id", Op: store.Eq, Value: sliceID},
		{Field: "tagname", Op: store.Eq, Value: api.SoftwareTag},
		{Field: "node_id", Op: store.Eq, Value: int64(0)},
	}})
	if err != nil || len(tags) == 0 {
		return nil, err
	}
	return &tags[len(tags)-1], nil
}

// NodeSliceSoftware returns the slice name's id and current software if
// the slice is live and on node nodeID; id 0 otherwise. Nodes fetch only
// their own slices' trees.
func (s *Service) NodeSliceSoftware(ctx context.Context, nodeID int64, name string) (int64, *api.SliverSoftware, error) {
	var id int64
	var sw *api.SliverSoftware
	err := s.view(ctx, &Caller{NodeID: nodeID}, func(t *txn) error {
		sls, err := t.Slices(store.Query{Conds: []store.Cond{
			{Field: "name", Op: store.Eq, Value: name},
			{Field: "node_ids", Op: store.Eq, Value: nodeID}, t.liveCond(),
		}})
		if err != nil {
			return err
		}
		if len(sls) == 0 {
			return nil
		}
		n, err := t.node(nodeID)
		if err != nil || !whitelisted(n, sls[0].SliceID) {
			return err // a slice the node's whitelist leaves out is not the node's
		}
		id = sls[0].SliceID
		tag, err := t.softwareTag(id)
		if tag != nil {
			sw = api.ParseSoftwareTag(tag.Value)
		}
		return err
	})
	return id, sw, err
}
