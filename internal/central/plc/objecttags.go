package plc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxObjectTags bounds the tags one node, site or person holds: each is a
// row its owners add.
const maxObjectTags = 256

// objectTagKind is one kind of object's tags (O a node, site or person; T its
// tag record): AddXTag, UpdateXTag, DeleteXTag and the accessors that set
// them share it, and only who may tag the object (mayObject) differs.
type objectTagKind[O, T any] struct {
	tag     *recordKind // the tag records ("node tag")
	noun    string      // the object in errors ("node")
	idField string      // the object's id field ("node_id")
	refArg  string      // AddXTag's name for its object argument
	object  func(t *txn, ref any) (*O, error)
	id      func(*O) int64
	name    func(*O) string // the object in the too-many-tags error
	// mayObject is who may change o's tags, whatever their type.
	mayObject func(t *txn, o *O) error
	list      func(t *txn, q store.Query) ([]T, error)
	row       func(*T) tagRow
	add       func(t *txn, objID, typeID int64, value string) (int64, error)
	update    func(t *txn, id int64, value string) error
	remove    func(t *txn, id int64) error
}

// register adds AddXTag, UpdateXTag and DeleteXTag (x the method names'
// object, "Node") for roles; who names who may call AddXTag.
func (k *objectTagKind[O, T]) register(s *Service, x string, roles []string, who string) {
	s.add(method{name: "Add" + x + "Tag", roles: roles, min: 3, max: 3, sig: []string{"int", "int", "int", "string"},
		help: "Tags a " + k.noun + " (by " + strings.ReplaceAll(k.refArg, "_or_", " or ") + ") with a value of a tag type (by tag_type_id or tagname) and returns its " + k.tag.idField + who + " A " + k.noun + " has one tag of a type, and at most " + strconv.Itoa(maxObjectTags) + " tags.",
		call: k.addCall(s)})
	s.add(method{name: "Update" + x + "Tag", roles: roles, min: 2, max: 2, sig: []string{"int", "int", "string"},
		help: "Sets a " + k.noun + " tag's value, with Add" + x + "Tag's rights.",
		call: s.tagWriter(k.tag.idField, k.own, k.update, nil)})
	s.add(method{name: "Delete" + x + "Tag", roles: roles, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a " + k.noun + " tag, with Add" + x + "Tag's rights.",
		call: s.tagWriter(k.tag.idField, k.own, nil, k.remove)})
}

// addCall is AddXTag: the object, the tag type, the value.
func (k *objectTagKind[O, T]) addCall(s *Service) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		oref, err := argRef(args, 0, k.refArg)
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
		var id int64
		err = s.update(ctx, c, func(t *txn) error {
			o, err := k.object(t, oref)
			if err != nil {
				return err
			}
			tt, err := t.tagType(tref)
			if err != nil {
				return err
			}
			id, err = k.addTag(t, o, tt, value)
			return err
		})
		return id, err
	}
}

// mayTag: admins; else those who may change o's tags (mayObject) and
// hold one of the tag type's roles, as PLCAPI has it. The value is
// bounded as a slice tag's.
func (k *objectTagKind[O, T]) mayTag(t *txn, o *O, tt *api.TagType, value string) error {
	if err := k.mayObject(t, o); err != nil {
		return err
	}
	if !t.c.IsAdmin() && !slices.ContainsFunc(tt.RoleIDs, t.c.Has) {
		return denied("tags of type %s are for %s", tt.TagName, strings.Join(tt.Roles, ", "))
	}
	return checkTagValue(value)
}

// addTag adds the tag tt of o, with the caller's rights.
func (k *objectTagKind[O, T]) addTag(t *txn, o *O, tt *api.TagType, value string) (int64, error) {
	if err := k.mayTag(t, o, tt, value); err != nil {
		return 0, err
	}
	have, err := k.list(t, store.Query{Conds: []store.Cond{{Field: k.idField, Op: store.Eq, Value: k.id(o)}}})
	if err != nil {
		return 0, err
	}
	if len(have) >= maxObjectTags {
		return 0, Faultf(FaultInvalidArg, "%s %s has %d tags already (at most %d)", k.noun, k.name(o), len(have), maxObjectTags)
	}
	return k.add(t, k.id(o), tt.TagTypeID, value)
}

// own checks the caller's right to set the tag id to value.
func (k *objectTagKind[O, T]) own(t *txn, id int64, value string) error {
	recs, err := k.list(t, store.ByID(k.tag.idField, id))
	tag, err := one(k.tag, id, recs, err)
	if err != nil {
		return err
	}
	r := k.row(tag)
	o, err := k.object(t, r.objID)
	if err != nil {
		return err
	}
	tt, err := t.tagType(r.typeID)
	if err != nil {
		return err
	}
	return k.mayTag(t, o, tt, value)
}

// set sets the tag name of o, adding or updating it.
func (k *objectTagKind[O, T]) set(t *txn, o *O, name, value string) error {
	tt, err := t.tagType(name)
	if err != nil {
		return err
	}
	have, err := k.list(t, store.Query{Conds: []store.Cond{
		{Field: k.idField, Op: store.Eq, Value: k.id(o)}, {Field: "tag_type_id", Op: store.Eq, Value: tt.TagTypeID}}})
	if err != nil {
		return err
	}
	if len(have) == 0 {
		_, err = k.addTag(t, o, tt, value)
		return err
	}
	if err := k.mayTag(t, o, tt, value); err != nil {
		return err
	}
	return k.update(t, k.row(&have[0]).id, value)
}

// setAll sets the tags of o (name to value), adding or updating each,
// with the caller's rights of AddXTag.
func (k *objectTagKind[O, T]) setAll(t *txn, o *O, tags map[string]string) error {
	for _, name := range slices.Sorted(mapsKeys(tags)) {
		if err := k.set(t, o, name, tags[name]); err != nil {
			return err
		}
	}
	return nil
}

// setRef sets the tag name of the object ref, adding or updating it.
func (k *objectTagKind[O, T]) setRef(t *txn, ref any, name, value string) error {
	o, err := k.object(t, ref)
	if err != nil {
		return err
	}
	return k.set(t, o, name, value)
}

// tagRow is what every kind of tag has: its id, its object's, its tag
// type's, its name and value.
type tagRow struct {
	id, objID, typeID int64
	name, value       string
}

// rows lists the tags that meet conds.
func (k *objectTagKind[O, T]) rows(t *txn, conds []store.Cond) ([]tagRow, error) {
	tags, err := k.list(t, store.Query{Conds: conds})
	out := make([]tagRow, len(tags))
	for i := range tags {
		out[i] = k.row(&tags[i])
	}
	return out, err
}

// tagRows lists the tags of object ("node") that meet conds: a slice's
// are its tags on every node.
func (t *txn) tagRows(object string, conds ...store.Cond) ([]tagRow, error) {
	switch object {
	case "node":
		return nodeTags.rows(t, conds)
	case "site":
		return siteTags.rows(t, conds)
	case "person":
		return personTags.rows(t, conds)
	case "interface":
		return interfaceTags.rows(t, conds)
	case "slice":
		tags, err := t.SliceTags(store.Query{Conds: append(conds, store.Cond{Field: "node_id", Op: store.Eq, Value: int64(0)})})
		out := make([]tagRow, len(tags))
		for i, x := range tags {
			out[i] = tagRow{x.SliceTagID, x.SliceID, x.TagTypeID, x.TagName, x.Value}
		}
		return out, err
	}
	return nil, nil
}

// checkTagValue bounds a tag value of any object.
func checkTagValue(value string) error {
	switch {
	case len(value) > maxTagValue:
		return Faultf(FaultInvalidArg, "value: %d bytes (max %d)", len(value), maxTagValue)
	case strings.ContainsRune(value, 0):
		return Faultf(FaultInvalidArg, "value: contains a NUL byte")
	}
	return nil
}
