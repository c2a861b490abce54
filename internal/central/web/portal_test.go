package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestHeaders: every page, the sign-in page and an error page included,
// carries the Content-Security-Policy and refuses framing.
func TestHeaders(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	cl := tc.client(t)
	cl.signin(w.pi)
	for _, path := range []string{"/signin", "/slices", "/slices/pt_none", "/static/style.css", "/nosuchpage"} {
		resp, err := cl.http.Get(tc.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

// TestSignInOut: a wrong password is refused beside the field with the
// email kept; the API's throttle applies; signing out revokes the
// session, so a stolen copy of the cookie is worthless afterwards.
func TestSignInOut(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	cl := tc.client(t)
	if st := cl.get("/slices"); st != 200 || !strings.Contains(cl.last, `action="/signin"`) {
		t.Fatalf("signed out, /slices: %d, want the sign-in form", st)
	}
	st := cl.submit("/signin", "/signin", url.Values{"email": {w.pi}, "password": {"wrong"}})
	if st != http.StatusUnauthorized || !strings.Contains(cl.last, `id="password-err"`) || !strings.Contains(cl.last, `value="`+w.pi+`"`) {
		t.Fatalf("wrong password: %d, want 401 with the error beside the password and the email kept:\n%s", st, cl.last)
	}
	// A guesser: after the API's burst of failures, even the right
	// password is refused from this address for this account.
	for range 6 {
		cl.submit("/signin", "/signin", url.Values{"email": {w.user}, "password": {"guess"}})
	}
	st = cl.submit("/signin", "/signin", url.Values{"email": {w.user}, "password": {testPassword}})
	if st == 200 || strings.Contains(cl.last, "Sign out") {
		t.Fatalf("after 7 wrong guesses the right one got in (%d): the portal bypasses the login throttle", st)
	}

	cl.signin(w.pi)
	var session *http.Cookie
	for _, ck := range cl.http.Jar.Cookies(mustURL(t, tc.url)) {
		if ck.Name == "orbis_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	if st := cl.submit("/slices", "/signout", url.Values{}); st != 200 || !strings.Contains(cl.last, "You are signed out") {
		t.Fatalf("sign out: %d\n%s", st, cl.last)
	}
	thief := tc.client(t)
	thief.http.Jar.SetCookies(mustURL(t, tc.url), []*http.Cookie{{Name: "orbis_session", Value: session.Value}})
	if thief.get("/slices"); strings.Contains(thief.last, "Sign out") {
		t.Fatal("the session cookie still works after signing out")
	}
}

// TestCSRF: a signed-in PI's browser made to post a form by another
// site, or by a page without the session's token, changes nothing.
func TestCSRF(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	victim := tc.client(t)
	victim.signin(w.pi)
	form := url.Values{"site": {"pt"}, "suffix": {"csrf"}, "description": {"x"}, "url": {"http://x"}}

	// No token, then the attacker's own session's token.
	if st := victim.post("/slices", form); st != http.StatusForbidden {
		t.Errorf("form without a CSRF token: %d, want 403", st)
	}
	atk := tc.client(t)
	atk.signin(w.atk)
	atk.get("/slices")
	form.Set("csrf", atk.csrf())
	if st := victim.post("/slices", form); st != http.StatusForbidden {
		t.Errorf("form with another session's CSRF token: %d, want 403", st)
	}
	// The right token, but the browser says another site sent it.
	victim.get("/slices")
	form.Set("csrf", victim.csrf())
	req, _ := http.NewRequest("POST", tc.url+"/slices", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := victim.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if victim.read(resp); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form: %d, want 403", resp.StatusCode)
	}
	// Sign-in CSRF (logging the victim into the attacker's account).
	fresh := tc.client(t)
	if st := fresh.post("/signin", url.Values{"email": {w.atk}, "password": {testPassword}}); st != http.StatusForbidden {
		t.Errorf("sign-in form without a CSRF token: %d, want 403", st)
	}
	if tc.sliceOf(t, "pt_csrf") != nil {
		t.Fatal("a forged form created pt_csrf")
	}
	// The genuine form works.
	if st := victim.post("/slices", form); st != 200 || tc.sliceOf(t, "pt_csrf") == nil {
		t.Fatalf("genuine form: %d\n%s", st, victim.last)
	}
}

// TestRoles: the portal grants nothing the API does not. A PI of another
// site cannot see, renew, change, or add nodes to pt's slice, nor
// create one at pt; a plain user cannot create slices at all.
func TestRoles(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	tc.call(t, "AddNode", w.site, map[string]any{"hostname": "n1.pt.test"})
	pi := tc.client(t)
	pi.signin(w.pi)
	if st := pi.submit("/slices", "/slices", url.Values{"site": {"pt"}, "suffix": {"exp"}, "description": {"d"}, "url": {"http://d"}}); st != 200 {
		t.Fatalf("create pt_exp: %d\n%s", st, pi.last)
	}
	before := tc.sliceOf(t, "pt_exp")

	atk := tc.client(t)
	atk.signin(w.atk)
	if atk.get("/slices"); strings.Contains(atk.last, "pt_exp") {
		t.Error("another site's PI sees pt_exp in their list")
	}
	if st := atk.get("/slices/pt_exp"); st == 200 || strings.Contains(atk.last, `id="expires"`) {
		t.Errorf("another site's PI opens /slices/pt_exp: %d", st)
	}
	node := tc.nodeID(t, "n1.pt.test")
	for path, form := range map[string]url.Values{
		"/slices/pt_exp/renew": {"weeks": {"1"}},
		"/slices/pt_exp/edit":  {"description": {"pwned"}, "url": {"http://evil"}},
		"/slices/pt_exp/nodes": {"node": {node}},
		"/slices/pt_exp/users": {"email": {w.atk}},
		"/slices":              {"site": {"pt"}, "suffix": {"evil"}, "description": {"d"}, "url": {"http://d"}},
	} {
		if st := atk.submit("/slices", path, form); st < 400 {
			t.Errorf("another site's PI: POST %s: %d, want refused", path, st)
		}
	}
	user := tc.client(t)
	user.signin(w.user)
	if user.get("/slices"); strings.Contains(user.last, "Create a slice") {
		t.Error("a plain user is offered slice creation")
	}
	if st := user.submit("/slices", "/slices", url.Values{"site": {"pt"}, "suffix": {"byuser"}, "description": {"d"}, "url": {"http://d"}}); st < 400 {
		t.Errorf("a plain user created a slice: %d", st)
	}
	after := tc.sliceOf(t, "pt_exp")
	if after["description"] != before["description"] || after["expires"] != before["expires"] || len(after["node_ids"].([]any)) != 0 || len(after["person_ids"].([]any)) != 0 {
		t.Fatalf("pt_exp changed by others: before %v, after %v", before, after)
	}
	if tc.sliceOf(t, "pt_evil") != nil || tc.sliceOf(t, "pt_byuser") != nil {
		t.Fatal("a slice was created at pt by someone not its PI")
	}
}

// TestRefusedFormKept: a refused form shows the error beside its field
// and keeps everything typed; markup in a description is shown as text.
func TestRefusedFormKept(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	pi := tc.client(t)
	pi.signin(w.pi)
	desc := `my <script>alert(1)</script> experiment`
	st := pi.submit("/slices", "/slices", url.Values{"site": {"pt"}, "suffix": {"Bad Name!"}, "description": {desc}, "url": {"http://example.org/x"}})
	if st != http.StatusBadRequest || !strings.Contains(pi.last, `id="suffix-err"`) {
		t.Fatalf("bad name: %d, want 400 with the error beside the name:\n%s", st, pi.last)
	}
	for _, kept := range []string{`value="Bad Name!"`, "my &lt;script&gt;alert(1)&lt;/script&gt; experiment", `value="http://example.org/x"`} {
		if !strings.Contains(pi.last, kept) {
			t.Errorf("refused form lost %s", kept)
		}
	}
	if strings.Contains(pi.last, "<script>") {
		t.Error("the description's markup reached the page unescaped")
	}
	if st := pi.submit("/slices", "/slices", url.Values{"site": {"pt"}, "suffix": {"ok"}, "description": {desc}, "url": {"http://example.org/x"}}); st != 200 {
		t.Fatalf("create pt_ok: %d", st)
	}
	if pi.get("/slices"); strings.Contains(pi.last, "<script>") || !strings.Contains(pi.last, "&lt;script&gt;") {
		t.Error("the stored description's markup is not escaped in the list")
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestKeys: a person uploads and removes their SSH key; a bad key is
// refused beside the field and kept; another site's PI can neither see
// nor remove it.
func TestKeys(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	pi := tc.client(t)
	pi.signin(w.pi)
	if st := pi.submit("/keys", "/keys", url.Values{"key": {"not-a-key"}}); st != http.StatusBadRequest || !strings.Contains(pi.last, `id="key-err"`) || !strings.Contains(pi.last, "not-a-key") {
		t.Fatalf("bad key: %d, want 400 with the error beside the key and the key kept:\n%s", st, pi.last)
	}
	key := testKey(t)
	if st := pi.submit("/keys", "/keys", url.Values{"key": {key}}); st != 200 || !strings.Contains(pi.last, "SHA256:") {
		t.Fatalf("add key: %d\n%s", st, pi.last)
	}
	keys := tc.call(t, "GetKeys", map[string]any{"person_id": personID(t, tc, w.pi)}).([]any)
	if len(keys) != 1 {
		t.Fatalf("keys after upload: %v", keys)
	}
	keyID := fmt.Sprint(keys[0].(map[string]any)["key_id"])

	atk := tc.client(t)
	atk.signin(w.atk)
	if atk.get("/keys"); strings.Contains(atk.last, "SHA256:") {
		t.Error("another site's PI sees the key")
	}
	if st := atk.submit("/keys", "/keys/remove", url.Values{"key_id": {keyID}}); st < 400 {
		t.Errorf("another site's PI removed the key: %d", st)
	}
	if n := len(tc.call(t, "GetKeys", []any{keys[0].(map[string]any)["key_id"]}).([]any)); n != 1 {
		t.Fatal("the key is gone after another's attempt to remove it")
	}
	if st := pi.submit("/keys", "/keys/remove", url.Values{"key_id": {keyID}}); st != 200 || strings.Contains(pi.last, "SHA256:") {
		t.Fatalf("remove key: %d\n%s", st, pi.last)
	}
}

// testKey is a new ed25519 public key in authorized_keys form.
func testKey(t testing.TB) string {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sk))) + " me@laptop"
}

// personID is email's person_id.
func personID(t testing.TB, tc *testCentral, email string) int64 {
	p := tc.call(t, "GetPersons", []any{email}, []any{"person_id"}).([]any)
	if len(p) != 1 {
		t.Fatalf("person %s: %v", email, p)
	}
	return p[0].(map[string]any)["person_id"].(int64)
}

// TestTokens: a person sees every live token of theirs (browsers and
// the JSON API's logins) and revokes any; a revoked one no longer works.
// Another site's PI can neither list nor revoke them.
func TestTokens(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	a, b := tc.client(t), tc.client(t)
	a.signin(w.pi)
	b.signin(w.pi)
	apiToken := apiLogin(t, tc, w.pi)
	if a.get("/tokens"); strings.Count(a.last, `name="token_id"`) != 3 || strings.Count(a.last, "(this browser)") != 1 {
		t.Fatalf("tokens page: want 3 tokens, one this browser's:\n%s", a.last)
	}
	ids := regexp.MustCompile(`name="token_id" value="([0-9a-f]+)"`).FindAllStringSubmatch(a.last, -1)

	atk := apiLogin(t, tc, w.atk)
	if st, _ := apiCall(t, tc, atk, "GetAPITokens", w.pi); st != http.StatusForbidden {
		t.Errorf("another site's PI lists the PI's tokens: %d", st)
	}
	for _, id := range ids {
		if st, _ := apiCall(t, tc, atk, "DeleteAPIToken", w.pi, id[1]); st < 400 {
			t.Errorf("another site's PI revoked token %s: %d", id[1], st)
		}
	}
	if a.get("/tokens"); strings.Count(a.last, `name="token_id"`) != 3 {
		t.Fatal("a token is gone after another's attempt to revoke it")
	}
	// Revoke every token but this browser's.
	for _, id := range ids {
		if !strings.Contains(a.last, id[1]+`</code> (this browser)`) {
			if st := a.submit("/tokens", "/tokens/revoke", url.Values{"token_id": {id[1]}}); st != 200 {
				t.Fatalf("revoke %s: %d\n%s", id[1], st, a.last)
			}
		}
	}
	if b.get("/slices"); strings.Contains(b.last, "Sign out") {
		t.Error("the other browser is still signed in after its token was revoked")
	}
	if st, _ := apiCall(t, tc, apiToken, "GetSlices"); st != http.StatusUnauthorized {
		t.Errorf("the revoked JSON API token still works: %d", st)
	}
	if a.get("/slices"); !strings.Contains(a.last, "Sign out") {
		t.Error("revoking the others signed this browser out")
	}
}

// apiLogin logs in to the JSON API and returns the token.
func apiLogin(t testing.TB, tc *testCentral, email string) string {
	body, _ := json.Marshal(map[string]string{"username": email, "password": testPassword})
	resp, err := http.Post(tc.url+"/api/v1/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Result struct {
			Token string `json:"token"`
		} `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Result.Token == "" {
		t.Fatalf("API login %s: %d %v", email, resp.StatusCode, err)
	}
	return r.Result.Token
}

// apiCall calls a method of the JSON API with token, returning the status.
func apiCall(t testing.TB, tc *testCentral, token, method string, args ...any) (int, string) {
	if args == nil {
		args = []any{}
	}
	body, _ := json.Marshal(args)
	req, _ := http.NewRequest("POST", tc.url+"/api/v1/"+method, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRegister: a person registers at a site and cannot sign in until a
// PI of that site enables them; another site's PI cannot; a flood of
// registrations stops at the site's bound of waiting persons.
func TestRegister(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	anon := tc.client(t)
	form := url.Values{"site": {"pt"}, "first_name": {"New"}, "last_name": {""}, "email": {"new@pt.test"}, "password": {testPassword}}
	if st := anon.submit("/register", "/register", form); st != http.StatusBadRequest || !strings.Contains(anon.last, `id="last_name-err"`) ||
		!strings.Contains(anon.last, `value="new@pt.test"`) || strings.Contains(anon.last, testPassword) {
		t.Fatalf("registration without a last name: %d, want 400 with the error beside it, the email kept, the password not echoed:\n%s", st, anon.last)
	}
	form.Set("last_name", "Person")
	if st := anon.submit("/register", "/register", form); st != 200 || !strings.Contains(anon.last, "You are registered") {
		t.Fatalf("register: %d\n%s", st, anon.last)
	}
	if st := anon.submit("/signin", "/signin", url.Values{"email": {"new@pt.test"}, "password": {testPassword}}); st == 200 || !strings.Contains(anon.last, "disabled") {
		t.Fatalf("a registered person signed in before a PI enabled them: %d", st)
	}
	atk := tc.client(t)
	atk.signin(w.atk)
	if st := atk.submit("/slices", "/people/enable", url.Values{"email": {"new@pt.test"}, "enabled": {"true"}}); st < 400 {
		t.Errorf("another site's PI enabled pt's registrant: %d", st)
	}
	pi := tc.client(t)
	pi.signin(w.pi)
	if pi.get("/people"); !strings.Contains(pi.last, "Enable new@pt.test") {
		t.Fatalf("the PI does not see the registrant waiting:\n%s", pi.last)
	}
	if st := pi.submit("/people", "/people/enable", url.Values{"email": {"new@pt.test"}, "enabled": {"true"}}); st != 200 {
		t.Fatalf("enable: %d\n%s", st, pi.last)
	}
	anon.signin("new@pt.test")
	if anon.get("/slices"); strings.Contains(anon.last, "Create a slice") {
		t.Error("a registrant got more than the user role")
	}

	// A flood from one address stops at the login throttle.
	made := 0
	for i := range plc.DefaultMaxPending + 3 {
		f := url.Values{"site": {"pt"}, "first_name": {"F"}, "last_name": {"L"}, "email": {fmt.Sprintf("flood%d@x.test", i)}, "password": {testPassword}}
		if st := anon.submit("/register", "/register", f); st == 200 {
			made++
		} else if !strings.Contains(anon.last, "too many") {
			t.Fatalf("flood registration %d refused for another reason: %d", i, st)
		}
	}
	if made == 0 || made > plc.DefaultLoginWideBurst {
		t.Fatalf("flood from one address: %d registered, want 1 to %d", made, plc.DefaultLoginWideBurst)
	}
	// A flood from many addresses stops at the site's bound of persons
	// waiting for its PI.
	for i := 0; ; i++ {
		ctx := plc.WithClientAddr(context.Background(), fmt.Sprintf("10.9.%d.%d", i/200, i%200))
		_, err := tc.c.Service.RegisterPerson(ctx, plc.Registration{LoginBase: "pt", FirstName: "F", LastName: "L", Email: fmt.Sprintf("wide%d@x.test", i), Password: testPassword})
		if err != nil {
			if !strings.Contains(err.Error(), "waiting") {
				t.Fatalf("wide flood refused for another reason: %v", err)
			}
			break
		}
		if i > plc.DefaultMaxPending {
			t.Fatalf("%d registrations from many addresses, all accepted", i)
		}
	}
	waiting := 0 // read from the store: the flood has this address's password logins throttled
	err := tc.c.Store.View(context.Background(), func(tx store.Tx) error {
		persons, err := tx.Persons(store.Query{})
		for _, p := range persons {
			if !p.Enabled && slices.Contains(p.SiteIDs, w.site.(int64)) {
				waiting++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if waiting != plc.DefaultMaxPending {
		t.Fatalf("%d persons waiting at pt after the flood, want %d", waiting, plc.DefaultMaxPending)
	}
}

// TestPasswordReset: the reset page says the same for any email; the
// one-time link goes to central's log as a path (a forged Host header
// does not reach it); using it sets the password, ends every session,
// and it works only once. Reset requests count against the login
// throttle.
func TestPasswordReset(t *testing.T) {
	var logged testutil.Buffer
	tc := startCentralLog(t, slog.New(slog.NewTextHandler(&logged, nil)))
	w := tc.world(t)
	old := tc.client(t)
	old.signin(w.pi)

	anon := tc.client(t)
	anon.get("/reset")
	req, _ := http.NewRequest("POST", tc.url+"/reset", strings.NewReader(url.Values{"email": {w.pi}, "csrf": {anon.csrf()}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "evil.example"
	req.AddCookie(&http.Cookie{Name: "orbis_csrf", Value: anon.csrf()}) // the jar keeps it for 127.0.0.1 only
	resp, err := anon.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if st := anon.read(resp); st != 200 || !strings.Contains(anon.last, "If "+w.pi+" has an account") {
		t.Fatalf("reset request: %d\n%s", st, anon.last[len(anon.last)-600:])
	}
	known := anon.last
	anon.submit("/reset", "/reset", url.Values{"email": {"nobody@pt.test"}})
	if strip(anon.last, "nobody@pt.test") != strip(known, w.pi) {
		t.Error("the reset page tells an unknown email from a known one")
	}
	m := regexp.MustCompile(`path=/reset/([0-9a-f]{64})`).FindStringSubmatch(logged.String())
	if m == nil || strings.Count(logged.String(), "path=/reset/") != 1 {
		t.Fatalf("want one reset path in central's log:\n%s", logged.String())
	}
	if strings.Contains(logged.String(), "evil.example") {
		t.Error("the forged Host header reached the logged link")
	}
	link := "/reset/" + m[1]
	if st := anon.submit(link, link, url.Values{"password": {"short"}}); st != http.StatusBadRequest || !strings.Contains(anon.last, `id="password-err"`) {
		t.Fatalf("short password: %d", st)
	}
	const newPW = "a new long passphrase"
	if st := anon.submit(link, link, url.Values{"password": {newPW}}); st != 200 || !strings.Contains(anon.last, "Your password is set") {
		t.Fatalf("reset (the link must survive a refused password): %d\n%s", st, anon.last)
	}
	if old.get("/slices"); strings.Contains(old.last, "Sign out") {
		t.Error("a session made before the reset still works")
	}
	if st := anon.submit(link, link, url.Values{"password": {"another long passphrase"}}); st < 400 {
		t.Errorf("the reset link worked twice: %d", st)
	}
	if st := anon.submit("/signin", "/signin", url.Values{"email": {w.pi}, "password": {testPassword}}); st == 200 {
		t.Error("the old password still works")
	}
	if st := anon.submit("/signin", "/signin", url.Values{"email": {w.pi}, "password": {newPW}}); st != 200 || !strings.Contains(anon.last, "Sign out") {
		t.Fatalf("the new password: %d", st)
	}

	// A flood of reset requests for one account from one address.
	refused := 0
	for range 8 {
		if anon.submit("/reset", "/reset", url.Values{"email": {w.user}}); strings.Contains(anon.last, "too many") {
			refused++
		}
	}
	if refused == 0 || strings.Count(logged.String(), "path=/reset/") > 6 {
		t.Fatalf("8 reset requests for one account from one address: %d refused, %d links made", refused, strings.Count(logged.String(), "path=/reset/"))
	}
}

// strip is a page without email and its CSRF tokens, to compare pages.
func strip(page, email string) string {
	return csrfField.ReplaceAllString(strings.ReplaceAll(page, email, "EMAIL"), "")
}

// TestNodesPage: the nodes table shows every node with its site and
// slivers, filtered and sorted by the query.
func TestNodesPage(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	for _, h := range []string{"b.pt.test", "a.pt.test", "c.pt.test"} {
		tc.call(t, "AddNode", w.site, map[string]any{"hostname": h})
	}
	tc.call(t, "AddSlice", map[string]any{"name": "pt_busy", "url": "http://x", "description": "x"})
	tc.call(t, "AddSliceToNodes", "pt_busy", []any{"b.pt.test"})
	user := tc.client(t)
	user.signin(w.user)
	order := func() string {
		rows := regexp.MustCompile(`<tr><th scope="row"><a href="/nodes/\d+">([a-z.]+)</a></th><td>pt</td><td>[a-z]*</td><td colspan="4">no summary yet</td><td class="num">0 of (\d+)</td>`).FindAllStringSubmatch(user.last, -1)
		var out []string
		for _, r := range rows {
			out = append(out, r[1]+"="+r[2])
		}
		return strings.Join(out, " ")
	}
	if user.get("/nodes?sort=hostname"); order() != "a.pt.test=0 b.pt.test=1 c.pt.test=0" {
		t.Errorf("by hostname: %q", order())
	}
	if user.get("/nodes?sort=slivers&site=pt"); order() != "a.pt.test=0 c.pt.test=0 b.pt.test=1" {
		t.Errorf("by slivers: %q", order())
	}
	if user.get("/nodes?site=ev"); order() != "" {
		t.Errorf("site ev: %q", order())
	}
}

// TestSlicePages: the slice list shows 100 slices a page, in name order,
// with links between pages.
func TestSlicePages(t *testing.T) {
	tc := startCentral(t)
	loadPortalWorld(t, tc.c.Store, 1, 2, 150)
	tc.call(t, "UpdatePerson", "pi@s0.example", map[string]any{"password": testPassword})
	pi := tc.client(t)
	pi.signin("pi@s0.example")
	rows := regexp.MustCompile(`<th scope="row"><a href="/slices/(s0_slice\d+)">`)
	pi.get("/slices")
	first := rows.FindAllStringSubmatch(pi.last, -1)
	if len(first) != 100 || first[0][1] != "s0_slice0" || first[1][1] != "s0_slice1" || !strings.Contains(pi.last, `href="/slices?page=1"`) {
		t.Fatalf("page 0: %d rows, starting %v, want 100 in name order and a next link", len(first), first[:min(2, len(first))])
	}
	pi.get("/slices?page=1")
	second := rows.FindAllStringSubmatch(pi.last, -1)
	if len(second) != 50 || !strings.Contains(pi.last, `href="/slices?page=0"`) || strings.Contains(pi.last, `href="/slices?page=2"`) {
		t.Fatalf("page 1: %d rows, want 50 with only a previous link", len(second))
	}
}

// TestSliverFailure: a sliver its node cannot create shows on the
// slice's page with the node's reason.
func TestSliverFailure(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	tc := startCentral(t)
	w := tc.world(t)
	n := tc.startNode(t, w.site, "nf.pt.test")
	noSpace := errors.New("no space left for the sliver")
	n.RT.FailNext("create", noSpace)
	n.RT.SetHook(func(step, _ string) {
		if step == "create:before" {
			n.RT.FailNext("create", noSpace) // every create fails
		}
	})
	pi := tc.client(t)
	pi.signin(w.pi)
	pi.submit("/slices", "/slices", url.Values{"site": {"pt"}, "suffix": {"fail"}, "description": {"d"}, "url": {"http://d"}})
	if st := pi.submit("/slices/pt_fail", "/slices/pt_fail/nodes", url.Values{"node": {tc.nodeID(t, n.Host)}}); st != 200 {
		t.Fatalf("add node: %d", st)
	}
	row := regexp.MustCompile(`<th scope="row">nf.pt.test</th><td>pt</td>\s*<td class="state state-([a-z]+)">[^<]*</td><td>([^<]*)</td>`)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pi.get("/slices/pt_fail")
		if m := row.FindStringSubmatch(pi.last); m != nil && m[1] == "failed" && strings.Contains(m[2], "no space left") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the page shows %v, want the sliver failed with the node's reason", m)
		}
	}
}
