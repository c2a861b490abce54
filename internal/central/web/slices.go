package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// sliceRow is one slice in the list.
type sliceRow struct {
	api.Slice
	// Left says how long until it expires ("in 3 days").
	Left string
	// Soon marks a slice expiring within a week.
	Soon bool
}

// slicesData is the slice list page's.
type slicesData struct {
	Slices []sliceRow
	// Page is the page of slicesPerPage slices shown (from 0); More
	// says a next page exists.
	Page int
	More bool
	// Sites are where the person may create a slice (empty: they may not).
	Sites []api.Site
}

// slicesPerPage bounds the slices one page lists.
const slicesPerPage = 100

// sliceListFields are the fields the slice list shows.
var sliceListFields = []any{"slice_id", "name", "expires", "description", "node_ids"}

// atoi is s as an int, 0 if it is not one.
func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// renewWeeks are the renewal lengths offered, within plc.MaxRenewal.
var renewWeeks = []int{1, 2, 4, 8}

// slicesPage lists the person's slices (the ones GetSlices shows them:
// theirs, and their sites' for a PI) with their expiry.
func (p *Portal) slicesPage(w http.ResponseWriter, r *request) {
	p.renderSlices(w, r, http.StatusOK, newForm(nil), "")
}

func (p *Portal) renderSlices(w http.ResponseWriter, r *request, status int, f *form, msg string) {
	d, err := p.slicesData(r)
	if err != nil {
		msg = p.message("list slices", err)
		status = statusOf(err)
	}
	p.render(w, status, "slices", &view{Title: "Your slices", Me: r.caller, CSRF: r.csrf, Flash: flash(r.Request), Error: msg, Form: f, Data: d})
}

func (p *Portal) slicesData(r *request) (*slicesData, error) {
	d := &slicesData{}
	d.Page = max(0, atoi(r.URL.Query().Get("page")))
	var list []api.Slice
	filter := map[string]any{"-SORT": "name", "-OFFSET": int64(d.Page * slicesPerPage), "-LIMIT": int64(slicesPerPage + 1)}
	if err := p.call(r.Context(), r.caller, "GetSlices", &list, filter, sliceListFields); err != nil {
		return d, err
	}
	if len(list) > slicesPerPage {
		list, d.More = list[:slicesPerPage], true
	}
	now := p.now()
	for _, sl := range list {
		left := time.Unix(sl.Expires, 0).Sub(now)
		d.Slices = append(d.Slices, sliceRow{Slice: sl, Left: humanLeft(left), Soon: left < 7*24*time.Hour})
	}
	if !r.caller.Has(api.RolePI) && !r.caller.IsAdmin() {
		return d, nil
	}
	sites, err := p.allSites(r.Context(), r.caller)
	if err != nil {
		return d, err
	}
	for _, s := range sites {
		if s.Enabled && (r.caller.IsAdmin() || slices.Contains(r.caller.SiteIDs, s.SiteID)) {
			d.Sites = append(d.Sites, s)
		}
	}
	return d, nil
}

// humanLeft says how long d is, roughly.
func humanLeft(d time.Duration) string {
	switch {
	case d <= 0:
		return "expired"
	case d < time.Hour:
		return fmt.Sprintf("in %d minutes", int(d.Minutes())+1)
	case d < 48*time.Hour:
		return fmt.Sprintf("in %d hours", int(d.Hours()))
	}
	return fmt.Sprintf("in %d days", int(d.Hours()/24))
}

// createSlice makes a slice named SITE_NAME, as AddSlice does.
func (p *Portal) createSlice(w http.ResponseWriter, r *request) {
	f := newForm(r.PostForm)
	f.require("site", "Choose the site the slice belongs to.")
	f.require("suffix", "Enter a name: lower-case letters, digits and _.")
	if f.failed() {
		p.renderSlices(w, r, http.StatusBadRequest, f, "")
		return
	}
	name := f.Value("site") + "_" + strings.TrimSpace(f.Value("suffix"))
	fields := map[string]any{"name": name, "description": f.Value("description"), "url": strings.TrimSpace(f.Value("url"))}
	var id int64
	if err := p.call(r.Context(), r.caller, "AddSlice", &id, fields); err != nil {
		msg := p.message("create slice", err)
		f.fail(fieldOf(msg, "suffix", "url", "description", "site"), msg)
		p.renderSlices(w, r, statusOf(err), f, "")
		return
	}
	http.Redirect(w, r.Request, "/slices/"+url.PathEscape(name)+"?done=created", http.StatusSeeOther)
}

// renewSlice moves the slice's expiry to the chosen number of weeks from
// now; the core applies the renewal policy.
func (p *Portal) renewSlice(w http.ResponseWriter, r *request) {
	name := r.PathValue("name")
	weeks := 0
	fmt.Sscan(r.PostFormValue("weeks"), &weeks)
	if !slices.Contains(renewWeeks, weeks) {
		p.sliceError(w, r, "weeks", fmt.Sprintf("Choose one of %v weeks.", renewWeeks))
		return
	}
	until := p.now().Add(time.Duration(weeks) * 7 * 24 * time.Hour).Unix()
	if err := p.call(r.Context(), r.caller, "RenewSlice", nil, name, until); err != nil {
		p.sliceError(w, r, "weeks", p.message("renew slice", err))
		return
	}
	p.done(w, r, "renewed")
}

// editSlice sets the slice's description and URL.
func (p *Portal) editSlice(w http.ResponseWriter, r *request) {
	fields := map[string]any{"description": r.PostFormValue("description"), "url": strings.TrimSpace(r.PostFormValue("url"))}
	if err := p.call(r.Context(), r.caller, "UpdateSlice", nil, r.PathValue("name"), fields); err != nil {
		msg := p.message("edit slice", err)
		p.sliceError(w, r, fieldOf(msg, "description", "url", "description"), msg)
		return
	}
	p.done(w, r, "saved")
}

// addUser makes a person, by email, a user of the slice.
func (p *Portal) addUser(w http.ResponseWriter, r *request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	if email == "" {
		p.sliceError(w, r, "email", "Enter the email address of the person to add.")
		return
	}
	if err := p.call(r.Context(), r.caller, "AddPersonToSlice", nil, email, r.PathValue("name")); err != nil {
		p.sliceError(w, r, "email", p.message("add user", err))
		return
	}
	p.done(w, r, "useradded")
}

// removeUser removes a user from the slice.
func (p *Portal) removeUser(w http.ResponseWriter, r *request) {
	var id int64
	fmt.Sscan(r.PostFormValue("person_id"), &id)
	if err := p.call(r.Context(), r.caller, "DeletePersonFromSlice", nil, id, r.PathValue("name")); err != nil {
		p.sliceError(w, r, "", p.message("remove user", err))
		return
	}
	p.done(w, r, "usergone")
}

// addNodes adds the slice to the nodes ticked in the picker.
func (p *Portal) addNodes(w http.ResponseWriter, r *request) {
	p.changeNodes(w, r, "AddSliceToNodes", "added")
}

// removeNodes removes the slice from the nodes ticked.
func (p *Portal) removeNodes(w http.ResponseWriter, r *request) {
	p.changeNodes(w, r, "DeleteSliceFromNodes", "removed")
}

func (p *Portal) changeNodes(w http.ResponseWriter, r *request, method, done string) {
	var ids []any
	for _, v := range r.PostForm["node"] {
		var id int64
		if _, err := fmt.Sscan(v, &id); err == nil {
			ids = append(ids, id)
		}
	}
	field := "pick"
	if done == "removed" {
		field = "nodes"
	}
	if len(ids) == 0 {
		p.sliceError(w, r, field, "Tick at least one node.")
		return
	}
	if err := p.call(r.Context(), r.caller, method, nil, r.PathValue("name"), ids); err != nil {
		p.sliceError(w, r, field, p.message(method, err))
		return
	}
	p.done(w, r, done)
}

// done sends the browser back to the slice's page, saying what was done.
func (p *Portal) done(w http.ResponseWriter, r *request, what string) {
	http.Redirect(w, r.Request, "/slices/"+url.PathEscape(r.PathValue("name"))+"?done="+what, http.StatusSeeOther)
}

// sliceError shows the slice's page again with msg beside field and the
// form as it was sent.
func (p *Portal) sliceError(w http.ResponseWriter, r *request, field, msg string) {
	f := newForm(r.PostForm)
	f.fail(field, msg)
	p.renderSlice(w, r, http.StatusBadRequest, f)
}
