package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// siteFormFields are the new site form's text fields, in order, with
// their labels.
var siteFormFields = [][2]string{
	{"site_name", "Site name"}, {"login_base", "Login base (the slices' prefix: a-z, 0-9, dots)"}, {"url", "Site URL"},
	{"latitude", "Latitude (optional, -90 to 90)"}, {"longitude", "Longitude (optional, -180 to 180)"},
	{"first_name", "Your first name"}, {"last_name", "Your last name"}, {"email", "Your email"},
}

// registerSitePage shows the new site form.
func (p *Portal) registerSitePage(w http.ResponseWriter, r *http.Request) {
	p.renderRegisterSite(w, r, http.StatusOK, newForm(nil))
}

func (p *Portal) renderRegisterSite(w http.ResponseWriter, r *http.Request, status int, f *form) {
	v := anonView(w, r, "Register a site", f)
	v.Data = siteFormFields
	p.render(w, status, "registersite", v)
}

// registerSite adds a disabled site with its PI (disabled), for an admin
// to approve on the sites page.
func (p *Portal) registerSite(w http.ResponseWriter, r *http.Request) {
	if !p.anonForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	for field, msg := range map[string]string{"site_name": "Enter the site's name.", "login_base": "Choose a login base.",
		"first_name": "Enter your first name.", "last_name": "Enter your last name.", "email": "Enter your email address.", "password": "Choose a password."} {
		f.require(field, msg)
	}
	lat, lon := f.coordinate("latitude"), f.coordinate("longitude")
	if f.failed() {
		p.renderRegisterSite(w, r, http.StatusBadRequest, f)
		return
	}
	reg := plc.SiteRegistration{
		Name: f.Value("site_name"), LoginBase: strings.TrimSpace(f.Value("login_base")), URL: f.Value("url"), Latitude: lat, Longitude: lon,
		PI: plc.Registration{FirstName: f.Value("first_name"), LastName: f.Value("last_name"), Email: strings.TrimSpace(f.Value("email")), Password: r.PostFormValue("password")}}
	_, err := p.registrar.RegisterSite(plc.WithRequestAddr(r), reg)
	if err != nil {
		msg := p.message("register site", err)
		field := fieldOf(msg, "login_base", "login_base", "latitude", "longitude", "url", "password", "email", "first_name", "last_name")
		if strings.Contains(msg, "site_fields.name") {
			field = "site_name"
		}
		f.fail(field, msg)
		p.renderRegisterSite(w, r, statusOf(err), f)
		return
	}
	p.tellAdmins(r.Context(), reg.Name, reg.LoginBase, reg.PI.Email)
	http.Redirect(w, r, "/signin?done=site-registered", http.StatusSeeOther)
}

// coordinate is the optional number in field, nil if empty; a bad one
// fails the field.
func (f *form) coordinate(field string) *float64 {
	s := strings.TrimSpace(f.Value(field))
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		f.fail(field, "a number in degrees, such as 40.35")
		return nil
	}
	return &v
}
