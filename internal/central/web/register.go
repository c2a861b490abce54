package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// Registrar adds self-registered persons and sites: the core implements it.
type Registrar interface {
	RegisterPerson(ctx context.Context, reg plc.Registration) (int64, error)
	RegisterSite(ctx context.Context, reg plc.SiteRegistration) (int64, error)
}

// registerPage shows the registration form.
func (p *Portal) registerPage(w http.ResponseWriter, r *http.Request) {
	p.renderRegister(w, r, http.StatusOK, newForm(nil))
}

func (p *Portal) renderRegister(w http.ResponseWriter, r *http.Request, status int, f *form) {
	v := anonView(w, r, "Register", f)
	var sites []api.Site
	if err := p.call(r.Context(), &plc.Caller{Anonymous: true}, "GetSites", &sites, map[string]any{"enabled": true}, []any{"login_base", "name"}); err != nil {
		v.Error = p.message("list sites", err)
	}
	slices.SortFunc(sites, func(a, b api.Site) int { return strings.Compare(a.LoginBase, b.LoginBase) })
	v.Data = sites
	p.render(w, status, "register", v)
}

// register adds a disabled person at the chosen site, for its PI to
// enable.
func (p *Portal) register(w http.ResponseWriter, r *http.Request) {
	if !p.anonForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	for field, msg := range map[string]string{"site": "Choose your site.", "first_name": "Enter your first name.",
		"last_name": "Enter your last name.", "email": "Enter your email address.", "password": "Choose a password."} {
		f.require(field, msg)
	}
	if f.failed() {
		p.renderRegister(w, r, http.StatusBadRequest, f)
		return
	}
	reg := plc.Registration{LoginBase: f.Value("site"), FirstName: f.Value("first_name"), LastName: f.Value("last_name"),
		Email: strings.TrimSpace(f.Value("email")), Password: r.PostFormValue("password")}
	_, err := p.registrar.RegisterPerson(plc.WithRequestAddr(r), reg)
	if err != nil {
		msg := p.message("register", err)
		f.fail(fieldOf(msg, "email", "password", "email", "first_name", "last_name", "site"), msg)
		p.renderRegister(w, r, statusOf(err), f)
		return
	}
	p.tellPIs(r.Context(), reg.LoginBase, reg.Email, reg.FirstName+" "+reg.LastName)
	http.Redirect(w, r, "/signin?done=registered", http.StatusSeeOther)
}

// personRow is a person of the PI's sites.
type personRow struct {
	api.Person
	Sites string
}

// peoplePage lists the persons of the PI's sites, those waiting to be
// enabled first.
func (p *Portal) peoplePage(w http.ResponseWriter, r *request) {
	p.renderPeople(w, r, http.StatusOK, "", newForm(nil))
}

// peopleData is the people page's.
type peopleData struct {
	Rows []personRow
	// RoleNames are the roles the role forms offer.
	RoleNames []string
}

// roleNames are the roles, least powerful (the default choice) first.
var roleNames = []string{"user", "tech", "pi", "admin"}

func (p *Portal) renderPeople(w http.ResponseWriter, r *request, status int, msg string, f *form) {
	var persons []api.Person
	var sites []api.Site
	if err := p.call(r.Context(), r.caller, "GetSites", &sites, nil, []any{"site_id", "login_base"}); err != nil {
		msg, status = p.message("list sites", err), statusOf(err)
	}
	if err := p.call(r.Context(), r.caller, "GetPersons", &persons); err != nil {
		msg, status = p.message("list persons", err), statusOf(err)
	}
	base := map[int64]string{}
	for _, s := range sites {
		base[s.SiteID] = s.LoginBase
	}
	var rows []personRow
	for _, ps := range persons {
		if !r.caller.IsAdmin() && !slices.ContainsFunc(ps.SiteIDs, func(id int64) bool { return slices.Contains(r.caller.SiteIDs, id) }) {
			continue
		}
		row := personRow{Person: ps}
		for _, id := range ps.SiteIDs {
			row.Sites += base[id] + " "
		}
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b personRow) int {
		if a.Enabled != b.Enabled {
			if a.Enabled {
				return 1
			}
			return -1
		}
		return strings.Compare(a.Email, b.Email)
	})
	p.render(w, status, "people", &view{Title: "People of your sites", Me: r.caller, CSRF: r.csrf, Flash: flash(r.Request), Error: msg, Form: f,
		Data: &peopleData{Rows: rows, RoleNames: roleNames}})
}

// enablePerson enables (or disables) a person, as UpdatePerson does: a
// PI of their site or an admin.
func (p *Portal) enablePerson(w http.ResponseWriter, r *request) {
	email := r.PostFormValue("email")
	enable := r.PostFormValue("enabled") == "true"
	if err := p.call(r.Context(), r.caller, "UpdatePerson", nil, email, map[string]any{"enabled": enable}); err != nil {
		p.renderPeople(w, r, statusOf(err), p.message("enable person", err), newForm(nil))
		return
	}
	if enable {
		p.tellEnabled(email)
	}
	http.Redirect(w, r.Request, "/people?done=saved", http.StatusSeeOther)
}

// changeRole grants or takes a role, as AddRoleToPerson and
// DeleteRoleFromPerson do: the core checks who may.
func (p *Portal) changeRole(w http.ResponseWriter, r *request) {
	f := newForm(r.PostForm)
	email, role := r.PostFormValue("email"), r.PostFormValue("role")
	method := "AddRoleToPerson"
	if r.PostFormValue("op") == "remove" {
		method = "DeleteRoleFromPerson"
	}
	var persons []api.Person
	err := p.call(r.Context(), r.caller, "GetPersons", &persons, []any{email}, []any{"person_id"})
	if err == nil && len(persons) == 0 {
		err = notFound("no person %q that you can see", email)
	}
	if err == nil && !slices.Contains(roleNames, role) {
		err = notFound("choose one of the roles %v", roleNames)
	}
	if err == nil {
		err = p.call(r.Context(), r.caller, method, nil, role, email)
	}
	if err != nil {
		msg := p.message("change role", err)
		if len(persons) == 0 {
			p.renderPeople(w, r, statusOf(err), msg, f)
			return
		}
		f.fail(fmt.Sprintf("role-%d", persons[0].PersonID), msg)
		p.renderPeople(w, r, statusOf(err), "", f)
		return
	}
	http.Redirect(w, r.Request, "/people?done=saved", http.StatusSeeOther)
}
