package store

import (
	"fmt"
)

// objectTagTable is one kind of object's tags (node, site or person): a
// table of rows (id, the object's id, a tag type, a value), listed with
// the object's name and the tag type's name, category and description.
type objectTagTable struct {
	noun    string // the object: "node"
	method  string // the object in the events' names: "Node"
	objects string // the objects' table: "nodes"
	q       *table // what a Query may name
	cols    string // what a list scans
}

// newObjectTagTable describes the tags of noun ("node"), named by
// objName in their objects' table (fold: matched case-blind).
func newObjectTagTable(noun, method, objects, objName string, fold bool) *objectTagTable {
	tb, pk, objID := noun+"_tags", noun+"_tag_id", noun+"_id"
	return &objectTagTable{
		noun: noun, method: method, objects: objects,
		q: &table{
			kind: noun + " tag",
			from: tb + " t JOIN " + objects + " o ON o." + objID + " = t." + objID + " JOIN tag_types y ON y.tag_type_id = t.tag_type_id",
			pk:   "t." + pk,
			cols: map[string]column{
				pk: {"t." + pk, kInt, false}, objID: {"t." + objID, kInt, false},
				objName: {"o." + objName, kString, fold}, "tag_type_id": {"t.tag_type_id", kInt, false},
				"tagname": {"y.tagname", kString, false}, "value": {"t.value", kString, false},
				"category": {"y.category", kString, false}, "description": {"y.description", kString, false},
			},
		},
		cols: "t." + pk + ", t." + objID + ", o." + objName + ", t.tag_type_id, y.tagname, t.value, y.category, y.description",
	}
}

func (o *objectTagTable) table() string { return o.noun + "_tags" }
func (o *objectTagTable) pk() string    { return o.noun + "_tag_id" }
func (o *objectTagTable) objID() string { return o.noun + "_id" }

// addTag adds a tag to object objID and sets *id; ErrConflict if the
// object has one of that type.
func (t *tx) addTag(o *objectTagTable, id *int64, objID, typeID int64, value string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists(o.objects, o.objID(), objID); err != nil {
		return err
	}
	if err := t.exists("tag_types", "tag_type_id", typeID); err != nil {
		return err
	}
	newID, err := t.insert(o.table(), o.pk(), []string{o.objID(), "tag_type_id", "value"}, []any{objID, typeID, value},
		fmt.Errorf("%w: %s %d has a tag of type %d already", ErrConflict, o.noun, objID, typeID))
	if err != nil {
		return err
	}
	*id = newID
	return t.event("Add"+o.method+"Tag", o.q.kind, newID, map[string]any{o.objID(): objID, "tag_type_id": typeID})
}

// updateTag writes a tag's value.
func (t *tx) updateTag(o *objectTagTable, id int64, value string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update(o.table(), o.pk(), id, []string{"value"}, []any{value}, nil); err != nil {
		return err
	}
	return t.event("Update"+o.method+"Tag", o.q.kind, id, nil)
}

// deleteTag deletes a tag.
func (t *tx) deleteTag(o *objectTagTable, id int64) error {
	return t.deleteRow(o.table(), o.pk(), o.q.kind, "Delete"+o.method+"Tag", id)
}
