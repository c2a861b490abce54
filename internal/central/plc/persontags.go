package plc

import (
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var personTagKind = newKind("person tag", api.PersonTag{}, "person_tag_id", "")

// personTags are the persons' tags: those who may update the person
// (admins, the person, a PI of the person's site).
var personTags = &objectTagKind[api.Person, api.PersonTag]{
	tag: personTagKind, noun: "person", idField: "person_id", refArg: "person_id_or_email",
	object:    (*txn).person,
	id:        func(p *api.Person) int64 { return p.PersonID },
	name:      func(p *api.Person) string { return p.Email },
	mayObject: func(t *txn, p *api.Person) error { return t.mayUpdatePerson(p, "change the tags of") },
	list:      func(t *txn, q store.Query) ([]api.PersonTag, error) { return t.PersonTags(q) },
	row: func(x *api.PersonTag) tagRow {
		return tagRow{x.PersonTagID, x.PersonID, x.TagTypeID, x.TagName, x.Value}
	},
	add: func(t *txn, personID, typeID int64, value string) (int64, error) {
		tag := api.PersonTag{PersonID: personID, TagTypeID: typeID, Value: value}
		err := t.AddPersonTag(&tag)
		return tag.PersonTagID, err
	},
	update: func(t *txn, id int64, v string) error { return t.UpdatePersonTag(id, v) },
	remove: func(t *txn, id int64) error { return t.DeletePersonTag(id) },
}

func (s *Service) registerPersonTags() {
	s.add(method{name: "GetPersonTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the tags of the persons the caller may see (as GetPersons) that match the filter (a person_tag_id, a list of them, or a struct: person_id, email, tagname, value...).",
		call: s.getPersonTags})
	personTags.register(s, "Person", rolesPersons, ": those who may update the person (UpdatePerson) and hold one of the tag type's roles.")
}

func (s *Service) getPersonTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, personTagKind, func(t *txn, q store.Query) ([]api.PersonTag, error) { return t.PersonTags(q) },
		func(x *api.PersonTag) any { return x.PersonTagID },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visiblePersonIDs()
			return inRestriction("person_id", ids, all), err
		})
}
