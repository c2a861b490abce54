package plc

import (
	"context"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var tagTypeKind = newKind("tag type", api.TagType{}, "tag_type_id", "tagname")

// Categories of the tag types the resource table declares.
const (
	categoryRspec     = "slice/rspec"
	categoryAttribute = "slice/config"
)

func (s *Service) registerTagTypes() {
	s.add(method{name: "GetTagTypes", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the tag types that match the filter (an id, a tagname, a list of them, or a struct), with the roles that may set their tags. The resource table's tags (cpu_share, vref, initscript...) are tag types of category " + categoryRspec + " or " + categoryAttribute + ".",
		call: s.getTagTypes})
	s.add(method{name: "AddTagType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds a tag type ({tagname, category, description}) and returns its tag_type_id. It has no roles until AddRoleToTagType gives some: then only admins set its tags.",
		call: s.addTagType})
	s.add(method{name: "UpdateTagType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes a tag type's tagname, category or description (by tag_type_id or tagname). The resource table's tag types cannot be changed.",
		call: s.updateTagType})
	s.add(method{name: "DeleteTagType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a tag type (by tag_type_id or tagname). The resource table's tag types cannot be deleted.",
		call: s.deleteTagType})
	s.add(method{name: "AddRoleToTagType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Lets a role (id or name, first) set tags of a tag type (by tag_type_id or tagname). The resource table's tag types keep the table's roles.",
		call: s.roleOfTagType(true)})
	s.add(method{name: "DeleteRoleFromTagType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Takes a role (id or name, first) off a tag type (by tag_type_id or tagname), with AddRoleToTagType's rules.",
		call: s.roleOfTagType(false)})
}

// contractTagTypes are the tag types central declares: the resource
// table's slice tags, with their names, roles and docs, and PLCAPI's
// standard accessor tags (api.AccessorTags).
func contractTagTypes() []api.TagType {
	var out []api.TagType
	for _, spec := range api.TagSpecs() {
		tt := api.TagType{TagName: spec.Name, Category: categoryAttribute, RoleIDs: contractRoles(spec.Role), Contract: true}
		switch {
		case spec.Resource != nil:
			tt.Category, tt.Description = categoryRspec, spec.Resource.Doc
		case spec.Attribute != nil:
			tt.Description = spec.Attribute.Doc
		}
		out = append(out, tt)
	}
	for _, a := range api.AccessorTags {
		roles := make([]int64, len(a.Roles))
		for i, r := range a.Roles {
			roles[i] = int64(r)
		}
		slices.Sort(roles)
		out = append(out, api.TagType{TagName: a.Name, Category: a.Category, Description: a.Doc, RoleIDs: roles, Contract: true})
	}
	return out
}

// contractRoles are the roles that may set a tag whose least trusted role
// is role (api.Resource.Role): admins only, or whoever may change a slice.
func contractRoles(role int) []int64 {
	if role == api.RoleAdmin {
		return []int64{api.RoleAdmin}
	}
	return []int64{api.RoleAdmin, api.RolePI, api.RoleUser}
}

// seedTagTypes writes the resource table's tag types into the store, as
// New starts the service (every request then finds them): new ones are
// added, and ones whose roles, category or description the table changed
// (or an admin's type of the same name) become the table's.
//
// Centrals that share a database and start together may race to add the
// same type: the loser's transaction fails, and a second pass finds the
// winner's rows.
func (s *Service) seedTagTypes(ctx context.Context) error {
	var err error
	for range seedRounds {
		if err = s.seedTagTypesOnce(ctx); err == nil {
			return nil
		}
	}
	return fmt.Errorf("seed tag types: %w", err)
}

// seedRounds is how many passes seedTagTypes makes.
const seedRounds = 3

func (s *Service) seedTagTypesOnce(ctx context.Context) error {
	want := contractTagTypes()
	return s.update(ctx, &Caller{}, func(t *txn) error {
		have, err := t.TagTypes(store.Query{})
		if err != nil {
			return err
		}
		for _, tt := range want {
			i := slices.IndexFunc(have, func(h api.TagType) bool { return h.TagName == tt.TagName })
			switch {
			case i < 0:
				err = t.AddTagType(&tt)
			case have[i].Contract && have[i].Category == tt.Category && have[i].Description == tt.Description && slices.Equal(have[i].RoleIDs, tt.RoleIDs):
			default:
				tt.TagTypeID = have[i].TagTypeID
				err = t.UpdateTagType(&tt)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Service) getTagTypes(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, tagTypeKind, func(t *txn, q store.Query) ([]api.TagType, error) { return t.TagTypes(q) },
		func(x *api.TagType) any { return x.TagTypeID }, nil)
}

func (s *Service) addTagType(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "tag_type_fields")
	if err != nil {
		return nil, err
	}
	if err := f.require("tagname"); err != nil {
		return nil, err
	}
	tt := api.TagType{}
	if err := setTagTypeFields(f, &tt); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error { return t.AddTagType(&tt) })
	return tt.TagTypeID, err
}

func (s *Service) updateTagType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "tag_type_id_or_name")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "tag_type_fields")
	if err != nil {
		return nil, err
	}
	err = s.changeTagType(ctx, c, ref, func(t *txn, tt *api.TagType) error {
		if err := setTagTypeFields(f, tt); err != nil {
			return err
		}
		return t.UpdateTagType(tt)
	})
	return int64(1), err
}

func (s *Service) deleteTagType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "tag_type_id_or_name")
	if err != nil {
		return nil, err
	}
	err = s.changeTagType(ctx, c, ref, func(t *txn, tt *api.TagType) error {
		if err := t.deleteSliceTagsNamed(tt.TagName); err != nil {
			return err
		}
		return t.DeleteTagType(tt.TagTypeID)
	})
	return int64(1), err
}

// deleteSliceTagsNamed deletes the slice tags of a tag type that goes, as
// its node, site and person tags go with it: left behind, they would
// become free-form tags the slices' users could change.
func (t *txn) deleteSliceTagsNamed(name string) error {
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{{Field: "tagname", Op: store.Eq, Value: name}}})
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if sl, err := t.slice(tag.SliceID); err == nil {
			if err := t.bumpTag(sl, &tag); err != nil {
				return err
			}
		}
		if err := t.DeleteSliceTag(tag.SliceTagID); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) roleOfTagType(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		rref, err := argRef(args, 0, "role_id_or_name")
		if err != nil {
			return nil, err
		}
		role, err := roleID(rref)
		if err != nil {
			return nil, err
		}
		ref, err := argRef(args, 1, "tag_type_id_or_name")
		if err != nil {
			return nil, err
		}
		err = s.changeTagType(ctx, c, ref, func(t *txn, tt *api.TagType) error {
			has := slices.Contains(tt.RoleIDs, role)
			switch {
			case add && !has:
				tt.RoleIDs = append(tt.RoleIDs, role)
			case !add && has:
				tt.RoleIDs = slices.DeleteFunc(tt.RoleIDs, func(r int64) bool { return r == role })
			default:
				return nil
			}
			return t.UpdateTagType(tt)
		})
		return int64(1), err
	}
}

// changeTagType runs fn on the tag type ref, which must not be one the
// resource table declares: who may set those and what values they take
// is the table's, not the database's.
func (s *Service) changeTagType(ctx context.Context, c *Caller, ref any, fn func(*txn, *api.TagType) error) error {
	return s.update(ctx, c, func(t *txn) error {
		tt, err := t.tagType(ref)
		if err != nil {
			return err
		}
		if tt.Contract {
			return denied("tag type %s is the resource table's (docs/resources.md): its roles and values are fixed there", tt.TagName)
		}
		return fn(t, tt)
	})
}

func (t *txn) tagType(ref any) (*api.TagType, error) {
	recs, err := t.TagTypes(refQuery(tagTypeKind, ref))
	return one(tagTypeKind, ref, recs, err)
}

// setTagTypeFields reads PLCAPI's tag_type_fields. A tag name must be one
// a tag may have, and not one central refuses (api.LookupTag).
func setTagTypeFields(f *fieldSet, tt *api.TagType) error {
	if err := f.only("tagname", "category", "description"); err != nil {
		return err
	}
	f.str("tagname", &tt.TagName)
	f.str("category", &tt.Category)
	f.str("description", &tt.Description)
	if f.err != nil {
		return f.err
	}
	if !tagNameRE().MatchString(tt.TagName) {
		return Faultf(FaultInvalidArg, "tag_type_fields.tagname: %q is not a tag name (%s)", tt.TagName, tagNamePattern)
	}
	if _, _, err := api.LookupTag(tt.TagName); err != nil {
		return Faultf(FaultInvalidArg, "tag_type_fields.tagname: %v", err)
	}
	switch {
	case utf8.RuneCountInString(tt.Category) > 64:
		return Faultf(FaultInvalidArg, "tag_type_fields.category: longer than 64 characters")
	case utf8.RuneCountInString(tt.Description) > 254:
		return Faultf(FaultInvalidArg, "tag_type_fields.description: longer than 254 characters")
	}
	return nil
}
