package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/centraltest"
)

// TestCookiesOverTLS: over HTTPS, as central serves, the session and
// CSRF cookies are __Host- cookies (this host only, set only over TLS),
// Secure, HttpOnly and SameSite=Lax, so no other host or script gets or
// plants them.
func TestCookiesOverTLS(t *testing.T) {
	c := centraltest.StartTLS(t, "admin@orbis.test")
	hc := c.Verifier.HTTPClient()
	hc.Jar, _ = cookiejar.New(nil)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cl := &client{t: t, base: c.URL, http: hc}
	resp, err := hc.Get(c.URL + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	checkCookie(t, resp, "__Host-orbis_csrf")
	cl.read(resp)
	resp, err = hc.PostForm(c.URL+"/signin", url.Values{"csrf": {cl.csrf()}, "email": {c.Admin.Email}, "password": {c.Admin.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in over TLS: %d", resp.StatusCode)
	}
	checkCookie(t, resp, "__Host-orbis_session")
}

func checkCookie(t *testing.T, resp *http.Response, name string) {
	t.Helper()
	for _, ck := range resp.Cookies() {
		if ck.Name == name && ck.Value != "" {
			if !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
				t.Errorf("%s: %+v, want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", name, ck)
			}
			return
		}
	}
	var names []string
	for _, ck := range resp.Cookies() {
		names = append(names, ck.Name)
	}
	t.Errorf("no %s cookie set (got %s)", name, strings.Join(names, ", "))
}
