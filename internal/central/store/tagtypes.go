package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// tagTypeTable is what a tag type Query may name.
var tagTypeTable = &table{
	kind: "tag type", from: "tag_types t", pk: "t.tag_type_id",
	cols: map[string]column{
		"tag_type_id": {"t.tag_type_id", kInt, false}, "tagname": {"t.tagname", kString, false},
		"category": {"t.category", kString, false}, "description": {"t.description", kString, false},
	},
	lists: map[string]listCol{
		"role_ids": {table: "tag_type_roles", owner: "tag_type_id", member: "role_id"},
		"roles":    {table: "tag_type_roles", owner: "tag_type_id", member: "role_id", toID: roleID},
	},
}

const tagTypeCols = "t.tag_type_id, t.tagname, t.category, t.description, t.contract"

func scanTagType(r *sql.Rows) (api.TagType, error) {
	var a api.TagType
	err := r.Scan(&a.TagTypeID, &a.TagName, &a.Category, &a.Description, &a.Contract)
	a.RoleIDs, a.Roles = []int64{}, []string{}
	return a, err
}

// TagTypes lists tag types, each with its roles (in id order).
func (t *tx) TagTypes(q Query) ([]api.TagType, error) {
	types, err := list(t, tagTypeTable, tagTypeCols, q, scanTagType)
	if err != nil || len(types) == 0 {
		return types, err
	}
	at := make(map[int64]int, len(types))
	ids := make([]any, len(types))
	for i, a := range types {
		at[a.TagTypeID], ids[i] = i, a.TagTypeID
	}
	sel := "SELECT tag_type_id, role_id FROM tag_type_roles"
	if len(ids) <= maxInList {
		sel += " WHERE tag_type_id IN (" + placeholders("?", len(ids)) + ")"
	} else {
		ids = nil // read them all: a query holds a bounded number of parameters
	}
	type role struct{ typ, role int64 }
	roles, err := scanAll(t, t.d.rebind(sel+" ORDER BY tag_type_id, role_id"), ids, func(r *sql.Rows) (role, error) {
		var x role
		return x, r.Scan(&x.typ, &x.role)
	})
	if err != nil {
		return nil, fmt.Errorf("list tag type roles: %w", err)
	}
	for _, x := range roles {
		if i, ok := at[x.typ]; ok {
			types[i].RoleIDs = append(types[i].RoleIDs, x.role)
			types[i].Roles = append(types[i].Roles, api.RoleNames[int(x.role)])
		}
	}
	return types, nil
}

func tagTypeValues(a *api.TagType) ([]string, []any) {
	return []string{"tagname", "category", "description", "contract"}, []any{a.TagName, a.Category, a.Description, a.Contract}
}

// AddTagType adds a tag type with its roles; ErrConflict if its name is
// taken.
func (t *tx) AddTagType(a *api.TagType) error {
	if err := t.writable(); err != nil {
		return err
	}
	cols, vals := tagTypeValues(a)
	id, err := t.insert("tag_types", "tag_type_id", cols, vals, fmt.Errorf("%w: tag type %q exists", ErrConflict, a.TagName))
	if err != nil {
		return err
	}
	a.TagTypeID = id
	if err := t.setTagTypeRoles(id, a.RoleIDs); err != nil {
		return err
	}
	return t.event("AddTagType", "tag type", id, fields(a))
}

// UpdateTagType writes a tag type's name, category, description, contract
// mark and roles.
func (t *tx) UpdateTagType(a *api.TagType) error {
	if err := t.writable(); err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: tag type %q exists", ErrConflict, a.TagName)
	if taken, err := t.taken("tag_types", "tag_type_id", "tagname", false, a.TagName, a.TagTypeID); err != nil {
		return err
	} else if taken {
		return conflict
	}
	cols, vals := tagTypeValues(a)
	if err := t.update("tag_types", "tag_type_id", a.TagTypeID, cols, vals, conflict); err != nil {
		return err
	}
	if err := t.setTagTypeRoles(a.TagTypeID, a.RoleIDs); err != nil {
		return err
	}
	return t.event("UpdateTagType", "tag type", a.TagTypeID, fields(a))
}

// setTagTypeRoles makes roles the roles of the tag type id.
func (t *tx) setTagTypeRoles(id int64, roles []int64) error {
	if _, err := t.exec("DELETE FROM tag_type_roles WHERE tag_type_id = ?", id); err != nil {
		return fmt.Errorf("set tag type roles: %w", err)
	}
	for _, r := range roles {
		if _, ok := api.RoleNames[int(r)]; !ok {
			return fmt.Errorf("%w: role %d", ErrNotFound, r)
		}
		if _, err := t.exec("INSERT INTO tag_type_roles (tag_type_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING", id, r); err != nil {
			return fmt.Errorf("set tag type roles: %w", err)
		}
	}
	return nil
}

// DeleteTagType deletes a tag type.
func (t *tx) DeleteTagType(id int64) error {
	return t.deleteRow("tag_types", "tag_type_id", "tag type", "DeleteTagType", id)
}
