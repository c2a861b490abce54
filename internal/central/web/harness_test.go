package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/centraltest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// testCentral is a real central on a loopback port, portal included.
type testCentral struct {
	c   *central.Central
	url string
	rpc *xmlrpc.Client
	adm map[string]any
}

// startCentral runs central until the test ends.
func startCentral(t testing.TB) *testCentral { return startCentralLog(t, testutil.Logger(t)) }

// startCentralLog is startCentral logging to log.
func startCentralLog(t testing.TB, log *slog.Logger) *testCentral {
	t.Helper()
	return startCentralConfig(t, central.Config{Log: log})
}

// startCentralConfig is startCentral with cfg (its data directory and
// admin are the test's).
func startCentralConfig(t testing.TB, cfg central.Config) *testCentral {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.DataDir, cfg.AdminEmail = dir, "admin@orbis.test"
	c, err := central.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	var adm central.Admin
	b, err := os.ReadFile(central.AdminFile(dir))
	if err != nil || json.Unmarshal(b, &adm) != nil {
		t.Fatalf("admin.json: %v", err)
	}
	tc := &testCentral{c: c, url: "http://" + l.Addr().String(), adm: xmlrpc.PasswordAuth(adm.Email, adm.Password)}
	tc.rpc = xmlrpc.NewClient(tc.url + "/PLCAPI/")
	return tc
}

// call calls a PLCAPI method as the admin.
func (tc *testCentral) call(t testing.TB, method string, args ...any) any {
	t.Helper()
	r, err := tc.rpc.Call(context.Background(), method, append([]any{tc.adm}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return r
}

// world is a site "pt" with a PI and a user (password "pw-"+role) and
// max_slices 10.
type world struct {
	site          any
	pi, user, atk string
}

const testPassword = "correct horse battery"

func (tc *testCentral) world(t testing.TB) world {
	w := world{pi: "pi@pt.test", user: "user@pt.test", atk: "mallory@evil.test"}
	w.site = tc.call(t, "AddSite", map[string]any{"name": "Portal Test", "abbreviated_name": "PT", "login_base": "pt", "max_slices": 10, "enabled": true})
	evil := tc.call(t, "AddSite", map[string]any{"name": "Evil", "abbreviated_name": "EV", "login_base": "ev", "max_slices": 10, "enabled": true})
	for _, p := range []struct {
		email string
		role  string
		site  any
	}{{w.pi, "pi", w.site}, {w.user, "user", w.site}, {w.atk, "pi", evil}} {
		id := tc.call(t, "AddPerson", map[string]any{"first_name": "T", "last_name": p.role, "email": p.email, "password": testPassword})
		tc.call(t, "UpdatePerson", id, map[string]any{"enabled": true})
		tc.call(t, "AddPersonToSite", id, p.site)
		tc.call(t, "AddRoleToPerson", p.role, id)
		if p.role == "pi" {
			tc.call(t, "AddRoleToPerson", "user", id)
		}
	}
	return w
}

// client is a browser without JavaScript: a cookie jar and forms.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	// last is the body of the last page read.
	last string
}

func (tc *testCentral) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: tc.url, http: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// get reads a page, returning its status.
func (cl *client) get(path string) int {
	cl.t.Helper()
	resp, err := cl.http.Get(cl.base + path)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.read(resp)
}

func (cl *client) read(resp *http.Response) int {
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	cl.last = string(b)
	return resp.StatusCode
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token in the last page.
func (cl *client) csrf() string {
	m := csrfField.FindStringSubmatch(cl.last)
	if m == nil {
		cl.t.Fatalf("no csrf field in page:\n%s", cl.last)
	}
	return m[1]
}

// post sends a form as it is, returning the status of the page it ends on.
func (cl *client) post(path string, form url.Values) int {
	cl.t.Helper()
	resp, err := cl.http.PostForm(cl.base+path, form)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.read(resp)
}

// submit posts a form with the CSRF token of the page at from.
func (cl *client) submit(from, path string, form url.Values) int {
	cl.t.Helper()
	cl.get(from)
	form.Set("csrf", cl.csrf())
	return cl.post(path, form)
}

// signin signs in as email, failing the test if refused.
func (cl *client) signin(email string) {
	cl.t.Helper()
	if st := cl.submit("/signin", "/signin", url.Values{"email": {email}, "password": {testPassword}}); st != 200 || !strings.Contains(cl.last, "Sign out") {
		cl.t.Fatalf("sign in as %s: %d\n%s", email, st, cl.last)
	}
}

// startNode registers host at site and runs its agent until the test ends.
func (tc *testCentral) startNode(t *testing.T, site any, host string) *centraltest.Node {
	t.Helper()
	id := tc.call(t, "AddNode", site, map[string]any{"hostname": host})
	token := tc.call(t, "AddNodeToken", id).(string)
	return centraltest.StartNode(t, tc.url, api.Trust{}, host, token)
}

// nodeID is host's node_id.
func (tc *testCentral) nodeID(t testing.TB, host string) string {
	n := tc.call(t, "GetNodes", []any{host}, []any{"node_id"}).([]any)
	if len(n) != 1 {
		t.Fatalf("node %s: %v", host, n)
	}
	return fmt.Sprint(n[0].(map[string]any)["node_id"])
}

// sliceOf returns the slice name's record as the admin sees it, nil if none.
func (tc *testCentral) sliceOf(t testing.TB, name string) map[string]any {
	r := tc.call(t, "GetSlices", []any{name}).([]any)
	if len(r) == 0 {
		return nil
	}
	return r[0].(map[string]any)
}
