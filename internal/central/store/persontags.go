package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// personTagTable is what a person tag Query may name.
var personTagTable = &table{
	kind: "person tag", from: "person_tags t JOIN persons s ON s.person_id = t.person_id JOIN tag_types y ON y.tag_type_id = t.tag_type_id",
	pk: "t.person_tag_id",
	cols: map[string]column{
		"person_tag_id": {"t.person_tag_id", kInt, false}, "person_id": {"t.person_id", kInt, false},
		"email": {"s.email", kString, true}, "tag_type_id": {"t.tag_type_id", kInt, false},
		"tagname": {"y.tagname", kString, false}, "value": {"t.value", kString, false},
		"category": {"y.category", kString, false}, "description": {"y.description", kString, false},
	},
}

const personTagCols = "t.person_tag_id, t.person_id, s.email, t.tag_type_id, y.tagname, t.value, y.category, y.description"

func scanPersonTag(r *sql.Rows) (api.PersonTag, error) {
	var a api.PersonTag
	return a, r.Scan(&a.PersonTagID, &a.PersonID, &a.Email, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// PersonTags lists person tags with their type's name, category and
// description.
func (t *tx) PersonTags(q Query) ([]api.PersonTag, error) {
	return list(t, personTagTable, personTagCols, q, scanPersonTag)
}

// AddPersonTag adds a tag to a person; ErrConflict if the site has one of
// that type.
func (t *tx) AddPersonTag(a *api.PersonTag) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("persons", "person_id", a.PersonID); err != nil {
		return err
	}
	if err := t.exists("tag_types", "tag_type_id", a.TagTypeID); err != nil {
		return err
	}
	id, err := t.insert("person_tags", "person_tag_id", []string{"person_id", "tag_type_id", "value"}, []any{a.PersonID, a.TagTypeID, a.Value},
		fmt.Errorf("%w: person %d has a tag of type %d already", ErrConflict, a.PersonID, a.TagTypeID))
	if err != nil {
		return err
	}
	a.PersonTagID = id
	return t.event("AddPersonTag", "person tag", id, map[string]any{"person_id": a.PersonID, "tag_type_id": a.TagTypeID})
}

// UpdatePersonTag writes a person tag's value.
func (t *tx) UpdatePersonTag(id int64, value string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("person_tags", "person_tag_id", id, []string{"value"}, []any{value}, nil); err != nil {
		return err
	}
	return t.event("UpdatePersonTag", "person tag", id, nil)
}

// DeletePersonTag deletes a person tag.
func (t *tx) DeletePersonTag(id int64) error {
	return t.deleteRow("person_tags", "person_tag_id", "person tag", "DeletePersonTag", id)
}
