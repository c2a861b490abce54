package store

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/orbisproject/orbis/api"
)

// personTable is what a person Query may name.
var personTable = &table{
	kind: "person", from: "persons t", pk: "t.person_id",
	cols: map[string]column{
		"person_id": {"t.person_id", kInt, false}, "first_name": {"t.first_name", kString, false},
		"last_name": {"t.last_name", kString, false}, "email": {"t.email", kString, true},
		"phone": {"t.phone", kString, false}, "url": {"t.url", kString, false},
		"bio": {"t.bio", kString, false}, "enabled": {"t.enabled", kBool, false},
		"date_created": {"t.date_created", kInt, false}, "last_updated": {"t.last_updated", kInt, false},
	},
	lists: map[string]listCol{
		"role_ids":  {table: "person_roles", owner: "person_id", member: "role_id"},
		"roles":     {table: "person_roles", owner: "person_id", member: "role_id", toID: roleID},
		"site_ids":  {table: "person_sites", owner: "person_id", member: "site_id"},
		"key_ids":   {table: "keys", owner: "person_id", member: "key_id"},
		"slice_ids": {table: "slice_persons", owner: "person_id", member: "slice_id"},
	},
}

// personListFields are a person's list fields, left out of change details.
var personListFields = []string{"role_ids", "roles", "site_ids", "key_ids", "slice_ids"}

// roleID maps a role name (or id) to its id.
func roleID(v any) (any, error) {
	s, ok := v.(string)
	if !ok {
		return v, nil
	}
	for id, name := range api.RoleNames {
		if name == s || strconv.Itoa(id) == s {
			return int64(id), nil
		}
	}
	return nil, fmt.Errorf("no role %q", s)
}

func (t *tx) personCols() string {
	return "t.person_id, t.first_name, t.last_name, t.email, t.phone, t.url, t.bio, t.enabled, " +
		"t.date_created, t.last_updated, " +
		t.d.listAgg("role_id", "person_roles", "person_id = t.person_id") + ", " +
		t.d.listAgg("site_id", "person_sites", "person_id = t.person_id") + ", " +
		t.d.listAgg("key_id", "keys", "person_id = t.person_id") + ", " +
		t.d.listAgg("slice_id", "slice_persons", "person_id = t.person_id") + ", " +
		"(SELECT MIN(site_id) FROM person_sites WHERE person_id = t.person_id AND is_primary = 1)"
}

func scanPerson(r *sql.Rows) (api.Person, error) {
	var p api.Person
	var roles, sites, keys, slices sql.NullString
	var primary sql.NullInt64
	err := r.Scan(&p.PersonID, &p.FirstName, &p.LastName, &p.Email, &p.Phone, &p.URL, &p.Bio,
		&p.Enabled, &p.DateCreated, &p.LastUpdated, &roles, &sites, &keys, &slices, &primary)
	p.RoleIDs, p.SiteIDs, p.KeyIDs, p.SliceIDs = idList(roles), idList(sites), idList(keys), idList(slices)
	p.SiteIDs = primaryFirst(p.SiteIDs, primary)
	p.Roles = []string{}
	for _, id := range p.RoleIDs {
		if name, ok := api.RoleNames[int(id)]; ok {
			p.Roles = append(p.Roles, name)
		}
	}
	return p, err
}

// Persons lists persons.
func (t *tx) Persons(q Query) ([]api.Person, error) {
	return list(t, personTable, t.personCols(), q, scanPerson)
}

func personValues(p *api.Person) ([]string, []any) {
	return []string{"first_name", "last_name", "email", "phone", "url", "bio", "enabled", "last_updated"},
		[]any{p.FirstName, p.LastName, p.Email, p.Phone, p.URL, p.Bio, p.Enabled, p.LastUpdated}
}

// AddPerson adds a person with a password hash.
func (t *tx) AddPerson(p *api.Person, passwordHash string) error {
	if err := t.writable(); err != nil {
		return err
	}
	p.DateCreated, p.LastUpdated = t.now, t.now
	cols, vals := personValues(p)
	id, err := t.insert("persons", "person_id", append(cols, "date_created", "password_hash"),
		append(vals, p.DateCreated, passwordHash), fmt.Errorf("%w: email %q exists", ErrConflict, p.Email))
	if err != nil {
		return err
	}
	p.PersonID = id
	return t.event("AddPerson", "person", id, fields(p, personListFields...))
}

// UpdatePerson writes a person's scalar fields.
func (t *tx) UpdatePerson(p *api.Person) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, personTable, t.personCols(), "person_id", p.PersonID, scanPerson)
	if err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: email %q exists", ErrConflict, p.Email)
	if prev.Email != p.Email {
		if taken, err := t.taken("persons", "person_id", "email", true, p.Email, p.PersonID); err != nil {
			return err
		} else if taken {
			return conflict
		}
	}
	p.DateCreated, p.LastUpdated = prev.DateCreated, t.now
	cols, vals := personValues(p)
	if err := t.update("persons", "person_id", p.PersonID, cols, vals, conflict); err != nil {
		return err
	}
	return t.event("UpdatePerson", "person", p.PersonID, changed(prev, p, append(personListFields, "last_updated")...))
}

// DeletePerson deletes a person, their keys, memberships, sessions and
// tokens.
func (t *tx) DeletePerson(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, personTable, t.personCols(), "person_id", id, scanPerson)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM persons WHERE person_id = ?", id); err != nil {
		return fmt.Errorf("delete person: %w", err)
	}
	return t.event("DeletePerson", "person", id, map[string]any{"email": prev.Email})
}

// PasswordHash finds a person's password hash by email.
func (t *tx) PasswordHash(email string) (int64, string, error) {
	var id int64
	var hash string
	err := t.queryRow("SELECT person_id, password_hash FROM persons WHERE lower(email) = lower(?)", email).Scan(&id, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("person %q: %w", email, ErrNotFound)
	}
	if err != nil {
		return 0, "", fmt.Errorf("find password: %w", err)
	}
	return id, hash, nil
}

// SetPasswordHash replaces a person's password hash.
func (t *tx) SetPasswordHash(personID int64, hash string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("persons", "person_id", personID, []string{"password_hash", "last_updated"},
		[]any{hash, t.now}, nil); err != nil {
		return err
	}
	return t.event("SetPasswordHash", "person", personID, map[string]any{})
}

// addMember inserts a membership row unless it is there, after checking
// both ends exist, and logs it if it was new.
func (t *tx) addMember(action, tableName string, cols [2]string, ids [2]int64, parents [2]string, objType string, objID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	for i := range 2 {
		if err := t.exists(parents[i]+"s", parents[i]+"_id", ids[i]); err != nil {
			return err
		}
	}
	return t.insertMember(action, tableName, cols, ids, objType, objID)
}

// insertMember inserts a membership row unless it is there, and logs it
// if it was new; the caller checked both ends exist.
func (t *tx) insertMember(action, tableName string, cols [2]string, ids [2]int64, objType string, objID int64) error {
	n, err := t.execCount("INSERT INTO "+tableName+" ("+cols[0]+", "+cols[1]+") VALUES (?, ?) ON CONFLICT DO NOTHING", ids[0], ids[1])
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if n == 0 {
		return nil
	}
	return t.event(action, objType, objID, map[string]any{cols[0]: ids[0], cols[1]: ids[1]})
}

// deleteMember removes a membership row and logs it; ErrNotFound if it
// was not there.
func (t *tx) deleteMember(action, tableName string, cols [2]string, ids [2]int64, objType string, objID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("DELETE FROM "+tableName+" WHERE "+cols[0]+" = ? AND "+cols[1]+" = ?", ids[0], ids[1])
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %d, %s %d: %w", cols[0], ids[0], cols[1], ids[1], ErrNotFound)
	}
	return t.event(action, objType, objID, map[string]any{cols[0]: ids[0], cols[1]: ids[1]})
}

// AddPersonToSite makes a person a member of a site.
func (t *tx) AddPersonToSite(personID, siteID int64) error {
	return t.addMember("AddPersonToSite", "person_sites", [2]string{"person_id", "site_id"},
		[2]int64{personID, siteID}, [2]string{"person", "site"}, "person", personID)
}

// DeletePersonFromSite ends a person's membership of a site.
func (t *tx) DeletePersonFromSite(personID, siteID int64) error {
	return t.deleteMember("DeletePersonFromSite", "person_sites", [2]string{"person_id", "site_id"},
		[2]int64{personID, siteID}, "person", personID)
}

// AddRoleToPerson grants a role.
func (t *tx) AddRoleToPerson(roleID, personID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if _, ok := api.RoleNames[int(roleID)]; !ok {
		return fmt.Errorf("role %d: %w", roleID, ErrNotFound)
	}
	if err := t.exists("persons", "person_id", personID); err != nil {
		return err
	}
	n, err := t.execCount("INSERT INTO person_roles (person_id, role_id) VALUES (?, ?) ON CONFLICT DO NOTHING", personID, roleID)
	if err != nil {
		return fmt.Errorf("add role: %w", err)
	}
	if n == 0 {
		return nil
	}
	return t.event("AddRoleToPerson", "person", personID, map[string]any{"role_id": roleID})
}

// DeleteRoleFromPerson revokes a role.
func (t *tx) DeleteRoleFromPerson(roleID, personID int64) error {
	return t.deleteMember("DeleteRoleFromPerson", "person_roles", [2]string{"person_id", "role_id"},
		[2]int64{personID, roleID}, "person", personID)
}
