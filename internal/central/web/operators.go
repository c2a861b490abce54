package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// sitesData is the sites page's.
type sitesData struct {
	Sites []api.Site
	// Admin may change quotas and approve sites.
	Admin bool
	// Token is a node registration token just issued, shown once.
	Token, TokenHost string
}

// siteQuotas are the site fields the sites page edits, as UpdateSite
// names them.
var siteQuotas = []string{"max_slices", "max_slivers", "shares"}

// sitesPage lists the sites the caller may see with their quotas; an
// admin edits the quotas and enables (approves) a site.
func (p *Portal) sitesPage(w http.ResponseWriter, r *request) {
	p.renderSites(w, r, http.StatusOK, newForm(nil), "", "")
}

func (p *Portal) renderSites(w http.ResponseWriter, r *request, status int, f *form, token, host string) {
	d := &sitesData{Admin: r.caller.IsAdmin(), Token: token, TokenHost: host}
	msg := ""
	if err := p.call(r.Context(), r.caller, "GetSites", &d.Sites); err != nil {
		msg, status = p.message("list sites", err), statusOf(err)
	}
	flash := ""
	if r.URL.Query().Get("done") == "saved" {
		flash = "Saved."
	}
	p.render(w, status, "sites", &view{Title: "Sites", Me: r.caller, CSRF: r.csrf, Error: msg, Flash: flash, Form: f, Data: d})
}

// updateSite sets a site's quotas and whether it is enabled, through
// UpdateSite (admins only, as PLCAPI says); a refused value stays in the
// form beside its error.
func (p *Portal) updateSite(w http.ResponseWriter, r *request) {
	f := newForm(r.PostForm)
	fields := map[string]any{"enabled": r.PostFormValue("enabled") == "true"}
	for _, q := range siteQuotas {
		v, err := strconv.ParseInt(strings.TrimSpace(r.PostFormValue(q)), 10, 64)
		if err != nil || v < 0 {
			f.fail(q, "a whole number, 0 or more")
			continue
		}
		fields[q] = v
	}
	status := http.StatusBadRequest
	if len(f.Errs) == 0 {
		if err := p.call(r.Context(), r.caller, "UpdateSite", nil, r.PathValue("site"), fields); err != nil {
			f.fail(fieldOf(p.message("update site", err), "site", siteQuotas...), p.message("update site", err))
			status = statusOf(err)
		}
	}
	if len(f.Errs) > 0 {
		f.Values["site"] = r.PathValue("site")
		p.renderSites(w, r, status, f, "", "")
		return
	}
	http.Redirect(w, r.Request, "/sites?done=saved", http.StatusSeeOther)
}

// nodeToken issues a node a one-time registration token (AddNodeToken:
// admins, and PIs and techs of its site) and shows it once.
func (p *Portal) nodeToken(w http.ResponseWriter, r *request) {
	host := r.PostFormValue("node")
	var tok string
	if err := p.call(r.Context(), r.caller, "AddNodeToken", &tok, host); err != nil {
		f := newForm(r.PostForm)
		f.fail("node", p.message("issue a node token", err))
		p.renderSites(w, r, statusOf(err), f, "", "")
		return
	}
	p.renderSites(w, r, http.StatusOK, newForm(nil), tok, host)
}

// eventsPage shows the change log, newest first, 100 a page (GetEvents:
// admins).
func (p *Portal) eventsPage(w http.ResponseWriter, r *request) {
	const perPage = 100
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	filter := map[string]any{"-SORT": "-event_id", "-LIMIT": perPage}
	if before > 0 {
		filter["<event_id"] = before
	}
	var evs []store.Event
	msg, status := "", http.StatusOK
	if err := p.call(r.Context(), r.caller, "GetEvents", &evs, filter); err != nil {
		msg, status = p.message("list events", err), statusOf(err)
	}
	d := struct {
		Events []store.Event
		Older  int64
	}{Events: evs}
	if len(evs) == perPage {
		d.Older = evs[len(evs)-1].EventID
	}
	p.render(w, status, "events", &view{Title: "Events", Me: r.caller, CSRF: r.csrf, Error: msg, Data: d})
}
