package plc

import (
	"context"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var personFields = []string{"first_name", "last_name", "email", "password", "phone", "url", "bio", "enabled"}

func (s *Service) registerPersons() {
	s.add(method{name: "GetPersons", roles: rolesPersons, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the persons that match the filter (an id, an email, a list of them, or a struct). Admins see everyone; others see themselves and the persons of their sites and slices. Passwords are never returned.",
		call: s.getPersons})
	s.add(method{name: "AddPerson", roles: rolesPI, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds a person (first_name, last_name and email required; new persons start disabled) and returns its person_id.",
		call: s.addPerson})
	s.add(method{name: "UpdatePerson", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a person (by person_id or email): themself, a PI of their site (not for admins), or an admin. Only admins and PIs may change enabled. A new password, or enabled false, ends the person's sessions and API tokens (changing one's own password keeps the session or token making the call).",
		call: s.updatePerson})
	s.add(method{name: "DeletePerson", roles: rolesPersons, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a person, with the same rights as UpdatePerson.",
		call: s.deletePerson})
	s.add(method{name: "AddPersonToSite", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Adds a person to a site. A PI may add to their site a person of one of their sites or of no site yet.",
		call: s.personSite(true)})
	s.add(method{name: "DeletePersonFromSite", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Removes a person from a site (admins, and PIs of the site).",
		call: s.personSite(false)})
	s.add(method{name: "AddRoleToPerson", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Grants a role (id or name, first) to a person. A PI may grant only roles below their own (user, tech) to persons of their sites.",
		call: s.personRole(true)})
	s.add(method{name: "DeleteRoleFromPerson", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Takes a role (id or name, first) from a person, with the rights of AddRoleToPerson.",
		call: s.personRole(false)})
	s.add(method{name: "GetRoles", roles: rolesPublic, sig: []string{"array"},
		help: "Returns the roles: [{role_id, name}].",
		call: getRoles})
}

func getRoles(context.Context, *Caller, []any) (any, error) {
	var out []any
	for _, id := range []int{api.RoleAdmin, api.RolePI, api.RoleUser, api.RoleTech} {
		out = append(out, map[string]any{"role_id": int64(id), "name": api.RoleNames[id]})
	}
	return out, nil
}

func (s *Service) getPersons(ctx context.Context, c *Caller, args []any) (any, error) {
	args, tags, dropID := splitReturnFields(args, "person", "person_id")
	args, filter := splitTagFilter(args, "person")
	recs, err := getter(s, ctx, c, args, personKind, func(t *txn, q store.Query) ([]api.Person, error) { return t.Persons(q) },
		func(x *api.Person) any { return x.PersonID },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visiblePersonIDs()
			r := inRestriction("person_id", ids, all)
			if err != nil || r.none {
				return r, err
			}
			byTag, err := t.tagRestriction("person", "person_id", filter)
			r.conds, r.none = append(r.conds, byTag.conds...), byTag.none
			return r, err
		})
	if err != nil {
		return nil, err
	}
	return s.addTagFields(ctx, c, recs, "person", "person_id", tags, dropID)
}

func (s *Service) addPerson(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "person_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(personFields...); err != nil {
		return nil, err
	}
	if err := f.require("first_name", "last_name", "email"); err != nil {
		return nil, err
	}
	var p api.Person
	pw, err := setPersonFields(f, &p)
	if err != nil {
		return nil, err
	}
	hash := ""
	if pw != "" {
		hash = hashPassword(pw)
	}
	err = s.update(ctx, c, func(t *txn) error { return t.AddPerson(&p, hash) })
	return p.PersonID, err
}

// setPersonFields applies f to p and returns the new password, if any.
func setPersonFields(f *fieldSet, p *api.Person) (string, error) {
	var pw string
	f.str("first_name", &p.FirstName)
	f.str("last_name", &p.LastName)
	f.str("email", &p.Email)
	f.str("password", &pw)
	f.str("phone", &p.Phone)
	f.str("url", &p.URL)
	f.str("bio", &p.Bio)
	f.bool("enabled", &p.Enabled)
	if f.err != nil {
		return "", f.err
	}
	if f.has("email") {
		if err := checkEmail(p.Email); err != nil {
			return "", Faultf(FaultInvalidArg, "person_fields.email: %v", err)
		}
	}
	switch {
	case f.has("password") && len(pw) < MinPasswordLen:
		return "", Faultf(FaultInvalidArg, "person_fields.password: at least %d characters", MinPasswordLen)
	case strings.TrimSpace(p.FirstName+p.LastName) == "":
		return "", Faultf(FaultInvalidArg, "person_fields: first_name and last_name are empty")
	}
	return pw, nil
}

func (s *Service) updatePerson(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "person_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(personFields...); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(ref)
		if err != nil {
			return err
		}
		if err := t.mayUpdatePerson(p, "update"); err != nil {
			return err
		}
		if f.has("enabled") && !c.IsAdmin() && !(c.Has(api.RolePI) && c.PersonID != p.PersonID) {
			return denied("only an admin or a PI of their site may enable or disable %s", p.Email)
		}
		wasEnabled, wasEmail := p.Enabled, p.Email
		pw, err := setPersonFields(f, p)
		if err != nil {
			return err
		}
		if pw != "" {
			if err := t.SetPasswordHash(p.PersonID, hashPassword(pw)); err != nil {
				return err
			}
		}
		if err := t.revokeOnUpdate(p, pw != "", wasEnabled); err != nil {
			return err
		}
		// Slivers carry their enabled users' keys and emails.
		if p.Enabled != wasEnabled || p.Email != wasEmail {
			if err := t.bumpSlices(p.SliceIDs); err != nil {
				return err
			}
		}
		return t.UpdatePerson(p)
	})
	return int64(1), err
}

// revokeOnUpdate ends p's sessions and API tokens when their password
// changed or they were disabled. A person changing their own password
// keeps the session or token they made the call with, and loses every
// other.
func (t *txn) revokeOnUpdate(p *api.Person, newPassword, wasEnabled bool) error {
	disabled := wasEnabled && !p.Enabled
	if !newPassword && !disabled {
		return nil
	}
	var keepSession, keepToken string
	if !disabled && t.c.PersonID == p.PersonID {
		keepSession, keepToken = t.c.sessionHash, t.c.tokenHash
	}
	_, err := t.RevokePerson(p.PersonID, keepSession, keepToken)
	return err
}

func (s *Service) deletePerson(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(ref)
		if err != nil {
			return err
		}
		if err := t.mayUpdatePerson(p, "delete"); err != nil {
			return err
		}
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.DeletePerson(p.PersonID)
	})
	return int64(1), err
}

// personSite adds a person to a site, or removes them.
func (s *Service) personSite(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		pref, err := argRef(args, 0, "person_id_or_email")
		if err != nil {
			return nil, err
		}
		sref, err := argRef(args, 1, "site_id_or_login_base")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			p, err := t.person(pref)
			if err != nil {
				return err
			}
			site, err := t.site(sref)
			if err != nil {
				return err
			}
			if err := t.mayManageSite(site.SiteID, "change the persons of site "+site.LoginBase); err != nil {
				return err
			}
			if !add {
				return t.DeletePersonFromSite(p.PersonID, site.SiteID)
			}
			if !c.IsAdmin() && len(p.SiteIDs) > 0 && !intersects(p.SiteIDs, c.SiteIDs) {
				return denied("%s belongs to sites you are not at; ask an admin", p.Email)
			}
			return t.AddPersonToSite(p.PersonID, site.SiteID)
		})
		return int64(1), err
	}
}

// roleID reads a role by id or name.
func roleID(ref any) (int64, error) {
	if s, ok := ref.(string); ok {
		for id, n := range api.RoleNames {
			if n == s {
				return int64(id), nil
			}
		}
		return 0, Faultf(FaultInvalidArg, "no such role: %q (admin, pi, user, tech)", s)
	}
	id := ref.(int64)
	if _, ok := api.RoleNames[int(id)]; !ok {
		return 0, Faultf(FaultInvalidArg, "no such role: %d (10 admin, 20 pi, 30 user, 40 tech)", id)
	}
	return id, nil
}

// personRole grants a role to a person, or takes it away.
func (s *Service) personRole(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		rref, err := argRef(args, 0, "role_id_or_name")
		if err != nil {
			return nil, err
		}
		role, err := roleID(rref)
		if err != nil {
			return nil, err
		}
		pref, err := argRef(args, 1, "person_id_or_email")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			p, err := t.person(pref)
			if err != nil {
				return err
			}
			if err := t.mayUpdatePerson(p, "change the roles of"); err != nil {
				return err
			}
			if !c.IsAdmin() && role <= minRole(c.Roles) {
				return denied("you may only grant or take roles below your own (role %d)", minRole(c.Roles))
			}
			if add {
				return t.AddRoleToPerson(role, p.PersonID)
			}
			return t.DeleteRoleFromPerson(role, p.PersonID)
		})
		return int64(1), err
	}
}

func minRole(roles []int64) int64 {
	m := int64(1 << 62)
	for _, r := range roles {
		m = min(m, r)
	}
	return m
}
