package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestOperators: an admin edits a site's quotas and approves it (a bad
// quota is refused beside its field, the typed values kept); a PI sees
// them but cannot change them, issues a token for a node of their site
// and not for another site's; only an admin reads the events log.
func TestOperators(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	tc.call(t, "AddNode", w.site, map[string]any{"hostname": "n1.pt.test"})
	tc.call(t, "AddNode", "ev", map[string]any{"hostname": "n1.ev.test"})
	id := tc.call(t, "AddPerson", map[string]any{"first_name": "A", "last_name": "D", "email": "ops@orbis.test", "password": testPassword})
	tc.call(t, "UpdatePerson", id, map[string]any{"enabled": true})
	tc.call(t, "AddRoleToPerson", "admin", id)
	admin, pi, atk := tc.client(t), tc.client(t), tc.client(t)
	admin.signin("ops@orbis.test")
	pi.signin(w.pi)
	atk.signin(w.atk)

	form := url.Values{"max_slices": {"25"}, "max_slivers": {"-3"}, "shares": {"7"}, "enabled": {"false"}}
	if code := admin.submit("/sites", "/sites/ev", form); code != http.StatusBadRequest ||
		!strings.Contains(admin.last, `name="max_slivers" size="6" aria-label="Max slivers of ev" value="-3" aria-invalid="true"`) ||
		!strings.Contains(admin.last, `value="25"`) {
		t.Errorf("a negative quota: %d, want 400 with the error beside it and the values kept", code)
	}
	form.Set("max_slivers", "300")
	if code := admin.submit("/sites", "/sites/ev", form); code != http.StatusOK || !strings.Contains(admin.last, "Saved.") {
		t.Fatalf("admin saves quotas: %d", code)
	}
	site := tc.call(t, "GetSites", "ev").([]any)[0].(map[string]any)
	if site["max_slices"] != int64(25) || site["max_slivers"] != int64(300) || site["shares"] != int64(7) || site["enabled"] != false {
		t.Errorf("site after the update: %v", site)
	}

	if code := pi.submit("/sites", "/sites/pt", url.Values{"max_slices": {"9999"}, "max_slivers": {"9999"}, "shares": {"9999"}, "enabled": {"true"}}); code != http.StatusForbidden {
		t.Errorf("a PI raises their own quota: %d, want 403", code)
	}
	if got := tc.call(t, "GetSites", "pt").([]any)[0].(map[string]any)["max_slices"]; got != int64(10) {
		t.Errorf("pt's max_slices %v after a PI's attempt", got)
	}
	if strings.Contains(pi.last, `<form id="site-pt"`) {
		t.Error("a PI is offered the quota form")
	}

	tok := regexp.MustCompile(`--token ([0-9a-f]{64})</code>`)
	if code := pi.submit("/sites", "/node-tokens", url.Values{"node": {"n1.pt.test"}}); code != http.StatusOK || tok.FindStringSubmatch(pi.last) == nil {
		t.Errorf("a PI's token for their node: %d", code)
	}
	if code := atk.submit("/sites", "/node-tokens", url.Values{"node": {"n1.pt.test"}}); code != http.StatusForbidden || tok.MatchString(atk.last) ||
		!strings.Contains(atk.last, `value="n1.pt.test" aria-invalid="true"`) {
		t.Errorf("another site's PI gets a token for pt's node: %d", code)
	}

	if code := admin.get("/events"); code != http.StatusOK || !strings.Contains(admin.last, "UpdateSite") {
		t.Errorf("admin's events: %d", code)
	}
	if code := pi.get("/events"); code != http.StatusForbidden || strings.Contains(pi.last, "UpdateSite") {
		t.Errorf("a PI reads the events log: %d", code)
	}
}

// TestRegisterSite: a new site registers itself with its PI; a bad
// latitude is refused beside its field with the rest kept; the site and
// its PI wait disabled, with no quota, until an admin approves the site
// and enables the PI; then the PI signs in.
func TestRegisterSite(t *testing.T) {
	tc := startCentral(t)
	anon := tc.client(t)
	form := url.Values{"site_name": {"New U"}, "login_base": {"newu"}, "url": {"https://new.example"}, "latitude": {"north"},
		"longitude": {"2.35"}, "first_name": {"Pat"}, "last_name": {"Lee"}, "email": {"pat@new.example"}, "password": {testPassword}}
	if code := anon.submit("/register-site", "/register-site", form); code != http.StatusBadRequest ||
		!strings.Contains(anon.last, `id="latitude" name="latitude" value="north" aria-invalid="true"`) || !strings.Contains(anon.last, `value="pat@new.example"`) {
		t.Errorf("a bad latitude: %d, want 400 beside the field with the form kept", code)
	}
	form.Set("latitude", "48.85")
	if code := anon.submit("/register-site", "/register-site", form); code != http.StatusOK || !strings.Contains(anon.last, "Your site is registered") {
		t.Fatalf("register a site: %d", code)
	}
	site := tc.call(t, "GetSites", "newu").([]any)[0].(map[string]any)
	if site["enabled"] != false || site["max_slices"] != int64(0) || site["shares"] != int64(0) || site["latitude"] != 48.85 {
		t.Errorf("new site %v: want it disabled, with no quota, at latitude 48.85", site)
	}
	form.Set("email", "other@new.example")
	if code := anon.submit("/register-site", "/register-site", form); code == http.StatusOK || !strings.Contains(anon.last, `id="login_base" name="login_base" value="newu" aria-invalid="true"`) {
		t.Errorf("a taken login base: %d, want the error beside it", code)
	}
	pi := tc.client(t)
	pi.get("/signin")
	if code := pi.post("/signin", url.Values{"csrf": {pi.csrf()}, "email": {"pat@new.example"}, "password": {testPassword}}); code == http.StatusOK && strings.Contains(pi.last, "Sign out") {
		t.Fatal("the PI of a site not yet approved signed in")
	}
	tc.call(t, "UpdateSite", "newu", map[string]any{"enabled": true, "max_slices": 5})
	tc.call(t, "UpdatePerson", "pat@new.example", map[string]any{"enabled": true})
	pi.signin("pat@new.example")
	if pi.get("/sites"); !strings.Contains(pi.last, "<th scope=\"row\">newu</th>") {
		t.Error("the approved PI does not see their site")
	}
}

// TestPeopleRoles: the people page grants and takes roles as
// AddRoleToPerson and DeleteRoleFromPerson do; a refused grant shows its
// error beside the person's role field with the choice kept.
func TestPeopleRoles(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	pi := tc.client(t)
	pi.signin(w.pi)
	uid := fmt.Sprint(tc.call(t, "GetPersons", []any{w.user}, []any{"person_id"}).([]any)[0].(map[string]any)["person_id"])
	if code := pi.submit("/people", "/people/roles", url.Values{"email": {w.user}, "role": {"admin"}, "op": {"add"}}); code != http.StatusForbidden ||
		!strings.Contains(pi.last, `id="role-`+uid+`-err"`) || !strings.Contains(pi.last, `<option selected>admin</option>`) {
		t.Fatalf("a PI granting admin: %d, want 403 beside the field with the choice kept:\n%s", code, pi.last)
	}
	if code := pi.submit("/people", "/people/roles", url.Values{"email": {w.user}, "role": {"tech"}, "op": {"add"}}); code != http.StatusOK {
		t.Fatalf("a PI granting tech: %d", code)
	}
	roles := func() string {
		return fmt.Sprint(tc.call(t, "GetPersons", []any{w.user}, []any{"roles"}).([]any)[0].(map[string]any)["roles"])
	}
	if r := roles(); !strings.Contains(r, "tech") {
		t.Fatalf("roles after the grant: %s", r)
	}
	if code := pi.submit("/people", "/people/roles", url.Values{"email": {w.user}, "role": {"tech"}, "op": {"remove"}}); code != http.StatusOK || strings.Contains(roles(), "tech") {
		t.Fatalf("take tech: %d, roles %s", code, roles())
	}
	atk := tc.client(t)
	atk.signin(w.atk)
	if code := atk.submit("/slices", "/people/roles", url.Values{"email": {w.user}, "role": {"user"}, "op": {"remove"}}); code < 400 || !strings.Contains(roles(), "user") {
		t.Fatalf("another site's PI took a role: %d, roles %s", code, roles())
	}
}
