package store

import (
	"database/sql"

	"github.com/orbisproject/orbis/api"
)

// personTags are the persons' tags.
var personTags = newObjectTagTable("person", "Person", "persons", "email", true)

func scanPersonTag(r *sql.Rows) (api.PersonTag, error) {
	var a api.PersonTag
	return a, r.Scan(&a.PersonTagID, &a.PersonID, &a.Email, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// PersonTags lists person tags with their type's name, category and
// description.
func (t *tx) PersonTags(q Query) ([]api.PersonTag, error) {
	return list(t, personTags.q, personTags.cols, q, scanPersonTag)
}

// AddPersonTag adds a tag to a person; ErrConflict if the person has one of
// that type.
func (t *tx) AddPersonTag(a *api.PersonTag) error {
	return t.addTag(personTags, &a.PersonTagID, a.PersonID, a.TagTypeID, a.Value)
}

// UpdatePersonTag writes a person tag's value.
func (t *tx) UpdatePersonTag(id int64, value string) error {
	return t.updateTag(personTags, id, value)
}

// DeletePersonTag deletes a person tag.
func (t *tx) DeletePersonTag(id int64) error {
	return t.deleteTag(personTags, id)
}
