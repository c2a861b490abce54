package plc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxPersonTags bounds the tags one person holds.
const maxPersonTags = 256

var personTagKind = newKind("person tag", api.PersonTag{}, "person_tag_id", "")

func (s *Service) registerPersonTags() {
	s.add(method{name: "GetPersonTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the tags of the persons the caller may see (as GetPersons) that match the filter (a person_tag_id, a list of them, or a struct: person_id, email, tagname, value...).",
		call: s.getPersonTags})
	s.add(method{name: "AddPersonTag", roles: rolesPersons, min: 3, max: 3, sig: []string{"int", "int", "int", "string"},
		help: "Tags a person (by person_id or email) with a value of a tag type (by tag_type_id or tagname) and returns its person_tag_id: those who may update the person (UpdatePerson) and hold one of the tag type's roles. A person has one tag of a type, and at most " + strconv.Itoa(maxPersonTags) + " tags.",
		call: s.addPersonTag})
	s.add(method{name: "UpdatePersonTag", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "int", "string"},
		help: "Sets a person tag's value, with AddPersonTag's rights.",
		call: s.tagWriter("person_tag_id", (*txn).ownPersonTag, func(t *txn, id int64, v string) error { return t.UpdatePersonTag(id, v) }, nil)})
	s.add(method{name: "DeletePersonTag", roles: rolesPersons, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a person tag, with AddPersonTag's rights.",
		call: s.tagWriter("person_tag_id", (*txn).ownPersonTag, nil, func(t *txn, id int64) error { return t.DeletePersonTag(id) })})
}

func (s *Service) getPersonTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, personTagKind, func(t *txn, q store.Query) ([]api.PersonTag, error) { return t.PersonTags(q) },
		func(x *api.PersonTag) any { return x.PersonTagID },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visiblePersonIDs()
			return inRestriction("person_id", ids, all), err
		})
}

func (s *Service) addPersonTag(ctx context.Context, c *Caller, args []any) (any, error) {
	sref, err := argRef(args, 0, "person_id_or_email")
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
	if err := s.seedTagTypes(ctx); err != nil {
		return nil, err
	}
	var id int64
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(sref)
		if err != nil {
			return err
		}
		tt, err := t.tagType(tref)
		if err != nil {
			return err
		}
		id, err = t.addPersonTag(p, tt, value)
		return err
	})
	return id, err
}

// addPersonTag adds the tag tt of p, with the caller's rights.
func (t *txn) addPersonTag(p *api.Person, tt *api.TagType, value string) (int64, error) {
	if err := t.mayTagPerson(p, tt, value); err != nil {
		return 0, err
	}
	have, err := t.PersonTags(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: p.PersonID}}})
	if err != nil {
		return 0, err
	}
	if len(have) >= maxPersonTags {
		return 0, Faultf(FaultInvalidArg, "person %s has %d tags already (at most %d)", p.Email, len(have), maxPersonTags)
	}
	tag := api.PersonTag{PersonID: p.PersonID, TagTypeID: tt.TagTypeID, Value: value}
	err = t.AddPersonTag(&tag)
	return tag.PersonTagID, err
}

// ownPersonTag checks the caller's right to set the person tag id to value.
func (t *txn) ownPersonTag(id int64, value string) error {
	recs, err := t.PersonTags(store.ByID("person_tag_id", id))
	tag, err := one(personTagKind, id, recs, err)
	if err != nil {
		return err
	}
	tt, err := t.tagType(tag.TagTypeID)
	if err != nil {
		return err
	}
	p, err := t.person(tag.PersonID)
	if err != nil {
		return err
	}
	return t.mayTagPerson(p, tt, value)
}

// mayTagPerson: those who may update p (admins, p, a PI of p's site)
// and hold one of the tag type's roles.
func (t *txn) mayTagPerson(p *api.Person, tt *api.TagType, value string) error {
	if err := t.mayUpdatePerson(p, "change the tags of"); err != nil {
		return err
	}
	if !t.c.IsAdmin() && !slices.ContainsFunc(tt.RoleIDs, t.c.Has) {
		return denied("tags of type %s are for %s", tt.TagName, strings.Join(tt.Roles, ", "))
	}
	return checkTagValue(value)
}

// setPersonTag sets the tag name of p, adding or updating it.
func (t *txn) setPersonTag(p *api.Person, name, value string) error {
	tt, err := t.tagType(name)
	if err != nil {
		return err
	}
	have, err := t.PersonTags(store.Query{Conds: []store.Cond{
		{Field: "person_id", Op: store.Eq, Value: p.PersonID}, {Field: "tag_type_id", Op: store.Eq, Value: tt.TagTypeID}}})
	if err != nil {
		return err
	}
	if len(have) == 0 {
		_, err = t.addPersonTag(p, tt, value)
		return err
	}
	if err := t.mayTagPerson(p, tt, value); err != nil {
		return err
	}
	return t.UpdatePersonTag(have[0].PersonTagID, value)
}
