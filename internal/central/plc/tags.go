package plc

import (
	"context"
	"regexp"
	"strconv"
	"sync"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxTagValue bounds every tag value; the resource table (api.Resources,
// api.AttributeTags) bounds the tags it names.
const maxTagValue = 64 << 10

// tagNamePattern is what a tag name (and so a tag type's) may be:
// PlanetLab's tools make names that start with a digit too.
const tagNamePattern = `^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`

var tagNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(tagNamePattern) })

func (s *Service) registerTags() {
	s.add(method{name: "GetSliceTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the slice tags that match the filter (an id, a tagname, a list of them, or a struct), of the slices the caller may see.",
		call: s.getSliceTags})
	s.add(method{name: "AddSliceTag", roles: rolesSlice, min: 3, max: 5, sig: []string{"int", "int", "string", "string", "int", "int"},
		help: "Adds a tag (tagname, value) to a slice, on every node, on one (node_id or hostname), or on the nodes of a node group (None for the node, then nodegroup_id or groupname), and returns its slice_tag_id. On a node, a tag on the node wins over one on a node group it is in, which wins over one on every node. Resource and privilege tags (cpu_share, cpu_pct, net_*, disk_max, memory, ports, nm_controller...) are for admins; initscript, enabled, vref and free-form tags for the slice's users and PIs. Tags no node enforces (net_share, vsys, capabilities, most rlimits) are refused.",
		call: s.addSliceTag})
	s.add(method{name: "UpdateSliceTag", roles: rolesSlice, min: 2, max: 2, sig: []string{"int", "int", "string"},
		help: "Sets a slice tag's value, with the rights of AddSliceTag.",
		call: s.updateSliceTag})
	s.add(method{name: "DeleteSliceTag", roles: rolesSlice, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a slice tag, with the rights of AddSliceTag.",
		call: s.deleteSliceTag})
}

// getSliceTags answers PLCAPI's None, not 0, for the node_id and
// nodegroup_id of a tag on every node, and for the tag_type_id of a
// free-form tag.
func (s *Service) getSliceTags(ctx context.Context, c *Caller, args []any) (any, error) {
	recs, err := getter(s, ctx, c, args, tagKind, func(t *txn, q store.Query) ([]api.SliceTag, error) { return t.SliceTags(q) },
		func(x *api.SliceTag) any { return x.SliceTagID },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visibleSliceIDs()
			return inRestriction("slice_id", ids, all), err
		})
	list, _ := recs.([]any)
	for _, r := range list {
		m := r.(map[string]any)
		for _, f := range []string{"node_id", "nodegroup_id", "tag_type_id"} {
			if v, ok := m[f]; ok && v == int64(0) {
				m[f] = nil
			}
		}
	}
	return recs, err
}

// tagValue reads a tag value: a string, or a number given as one.
func tagValue(args []any, i int) (string, error) {
	if n, ok := AsInt(args[i]); ok {
		return strconv.FormatInt(n, 10), nil
	}
	return argString(args, i, "value")
}

// checkTag validates a tag and the caller's right to set it on sl: which
// tags exist, who may set them and what values they take are the resource
// table's (api.LookupTag; docs/resources.md).
func (t *txn) checkTag(sl *api.Slice, name, value string) error {
	spec, _, err := api.LookupTag(name)
	if err != nil {
		return Faultf(FaultInvalidArg, "tagname: %v", err)
	}
	if err := t.mayTag(sl, name); err != nil {
		return err
	}
	if !tagNameRE().MatchString(name) {
		return Faultf(FaultInvalidArg, "tagname: %q is not a tag name (%s)", name, tagNamePattern)
	}
	if err := checkTagValue(value); err != nil {
		return err
	}
	if err := spec.Check(value); err != nil {
		return Faultf(FaultInvalidArg, "value: tag %v", err)
	}
	return nil
}

// mayTag checks the caller's right to set or delete the tag name on sl.
// A tag central now refuses (api.RefusedTags) is an admin's to delete.
func (t *txn) mayTag(sl *api.Slice, name string) error {
	if err := t.mayUseSlice(sl, "change its tags"); err != nil {
		return err
	}
	spec, known, err := api.LookupTag(name)
	adminOnly := err != nil || spec.Role == api.RoleAdmin
	switch {
	case name == ReceivedSharesTag:
		return denied("tag %s is kept by DelegateShares", name)
	case adminOnly && !t.c.IsAdmin():
		return denied("only an admin may set the resource tag %s (PIs hand out shares with UpdateSlice)", name)
	case known || t.c.IsAdmin():
		return nil
	}
	return t.mayTagOfType(name)
}

// mayTagOfType: a tag the resource table does not name is free-form,
// unless an admin made a tag type of that name: then only the type's
// roles set it (none: admins only), as PLCAPI has it.
func (t *txn) mayTagOfType(name string) error {
	types, err := t.TagTypes(store.Query{Conds: []store.Cond{{Field: "tagname", Op: store.Eq, Value: name}}})
	if err != nil || len(types) == 0 {
		return err
	}
	for _, r := range types[0].RoleIDs {
		if t.c.Has(r) {
			return nil
		}
	}
	return denied("tags of type %s are for %v", name, types[0].Roles)
}

// bumpTag bumps the nodes a tag of sl reaches: the slice's nodes, those
// in the tag's node group, or its node.
func (t *txn) bumpTag(sl *api.Slice, tag *api.SliceTag) error {
	switch {
	case tag.NodeID != 0:
		if contains(sl.NodeIDs, tag.NodeID) {
			t.bump(tag.NodeID)
		}
	case tag.NodeGroupID != 0:
		g, err := t.nodeGroup(tag.NodeGroupID)
		if err != nil {
			return err
		}
		for _, id := range g.NodeIDs {
			if contains(sl.NodeIDs, id) {
				t.bump(id)
			}
		}
	default:
		t.bump(sl.NodeIDs...)
	}
	return nil
}

func (s *Service) addSliceTag(ctx context.Context, c *Caller, args []any) (any, error) {
	sref, err := argRef(args, 0, "slice_id_or_name")
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
	var nref, gref any
	if v := optArg(args, 3); v != nil {
		if nref, err = argRef(args, 3, "node_id_or_hostname"); err != nil {
			return nil, err
		}
	}
	if v := optArg(args, 4); v != nil {
		if gref, err = argRef(args, 4, "nodegroup_id_or_name"); err != nil {
			return nil, err
		}
	}
	if nref != nil && gref != nil {
		return nil, Faultf(FaultInvalidArg, "a slice tag is on a node or on a node group, not both")
	}
	tag := api.SliceTag{Value: value}
	err = s.update(ctx, c, func(t *txn) error {
		sl, err := t.slice(sref)
		if err != nil {
			return err
		}
		name, err := t.sliceTagName(tref)
		if err != nil {
			return err
		}
		tag.TagName = name
		if err := t.checkTag(sl, name, value); err != nil {
			return err
		}
		if nref != nil {
			n, err := t.node(nref)
			if err != nil {
				return err
			}
			tag.NodeID = n.NodeID
		}
		if gref != nil {
			g, err := t.nodeGroup(gref)
			if err != nil {
				return err
			}
			tag.NodeGroupID = g.NodeGroupID
		}
		tag.SliceID = sl.SliceID
		if err := t.bumpTag(sl, &tag); err != nil {
			return err
		}
		return t.AddSliceTag(&tag)
	})
	return tag.SliceTagID, err
}

func (s *Service) updateSliceTag(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "slice_tag_id")
	if err != nil {
		return nil, err
	}
	value, err := tagValue(args, 1)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		tag, sl, err := t.tagAndSlice(id)
		if err != nil {
			return err
		}
		if err := t.checkTag(sl, tag.TagName, value); err != nil {
			return err
		}
		tag.Value = value
		if err := t.bumpTag(sl, tag); err != nil {
			return err
		}
		return t.UpdateSliceTag(tag)
	})
	return int64(1), err
}

func (s *Service) deleteSliceTag(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "slice_tag_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		tag, sl, err := t.tagAndSlice(id)
		if err != nil {
			return err
		}
		if err := t.mayTag(sl, tag.TagName); err != nil {
			return err
		}
		if err := t.bumpTag(sl, tag); err != nil {
			return err
		}
		return t.DeleteSliceTag(id)
	})
	return int64(1), err
}

// sliceTagName is the tag name ref gives: a name as it is (a tag no tag
// type names is free-form), or a tag type's id.
func (t *txn) sliceTagName(ref any) (string, error) {
	if name, ok := ref.(string); ok {
		return name, nil
	}
	tt, err := t.tagType(ref)
	if err != nil {
		return "", err
	}
	return tt.TagName, nil
}

// tagAndSlice finds a tag and its live slice.
func (t *txn) tagAndSlice(id int64) (*api.SliceTag, *api.Slice, error) {
	tag, err := t.sliceTag(id)
	if err != nil {
		return nil, nil, err
	}
	sl, err := t.slice(tag.SliceID)
	if err != nil {
		return nil, nil, noSuch(tagKind, id)
	}
	return tag, sl, nil
}
