package testbed_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orbisproject/orbis/internal/central/web/webtest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPortalEndToEnd walks the portal in headless Chromium on a real
// testbed, as PlanetLab's users did on its web site: a person registers
// at the testbed's site, the admin enables them and makes them its PI;
// they upload an SSH key, create a slice, pick the two testbed nodes in
// the picker and see the slivers running; they ssh into each sliver with
// the uploaded key through the node's SSH gateway, renew the slice and
// remove its nodes, after which the slivers are gone and ssh is refused.
// Screenshots go to $ORBIS_TEST_ARTIFACTS as portal-e2e-*.png.
func TestPortalEndToEnd(t *testing.T) {
	testutil.RequireRoot(t)
	exe := testutil.Chromium(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	adm, err := testbed.ReadAdmin(st)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ann@laptop", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	p.call("UpdateSite", testbed.Site, map[string]any{"latitude": 46.52, "longitude": 6.57}) // the picker's map places the nodes
	const email, password, slice = "ann@tb.test", "ann's long passphrase", testbed.Site + "_web"
	b := webtest.New(t, exe, 240*time.Second, chromedp.Flag("ignore-certificate-errors-spki-list", mustCAPin(t, st)))
	u := st.CentralURL
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		webtest.Step(t, what, chromedp.Do(b.Ctx, actions...))
	}

	do("register", chromedp.Navigate(u+"/register"), chromedp.WaitVisible(chromedp.CSS("#site")),
		chromedp.SetValue(chromedp.CSS("#site"), testbed.Site), chromedp.SendKeys(chromedp.CSS("#first_name"), "Ann"),
		chromedp.SendKeys(chromedp.CSS("#last_name"), "Lee"), chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.Save("portal-e2e-01-register.png")
	b.Submit("submit registration", chromedp.Click(chromedp.CSS(`form[action="/register"] button`)))
	b.WaitText(".flash", "You are registered")

	signin(t, b, u, adm.Email, adm.Password)
	b.Submit("people", chromedp.Click(chromedp.CSS(`nav a[href="/people"]`)), chromedp.WaitVisible(chromedp.CSS("#people")))
	b.WaitText("#people", email)
	b.Submit("enable", chromedp.Click(chromedp.CSS(`button[aria-label="Enable `+email+`"]`)))
	b.WaitText(".flash", "Saved")
	id := fmt.Sprint(p.call("GetPersons", []any{email}, []any{"person_id"}).([]any)[0].(map[string]any)["person_id"])
	b.Submit("make PI", chromedp.SetValue(chromedp.CSS("#role-"+id), "pi"), chromedp.Click(chromedp.CSS(`button[aria-label="Grant the role to `+email+`"]`)))
	b.WaitText(".flash", "Saved")
	b.Save("portal-e2e-02-enabled.png")
	b.Submit("admin signs out", chromedp.Click(chromedp.CSS(`form.signout button`)))
	b.WaitText(".flash", "signed out")

	signin(t, b, u, email, password)
	b.Submit("keys page", chromedp.Click(chromedp.CSS(`nav a[href="/keys"]`)), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.Submit("upload key", chromedp.SetValue(chromedp.CSS("#key"), strings.TrimSpace(string(pub))), chromedp.Click(chromedp.CSS(`form[action="/keys"] button`)))
	b.WaitText(".flash", "key is added")
	b.Submit("slices page", chromedp.Click(chromedp.CSS(`nav a[href="/slices"]`)), chromedp.WaitVisible(chromedp.CSS("#suffix")))
	b.Submit("create", chromedp.SetValue(chromedp.CSS("#site"), testbed.Site), chromedp.SendKeys(chromedp.CSS("#suffix"), "web"),
		chromedp.SendKeys(chromedp.CSS("#description"), "portal end to end"), chromedp.SendKeys(chromedp.CSS("#url"), "http://orbis.test/web"),
		chromedp.Click(chromedp.CSS(`form[action="/slices"] button`)))
	b.WaitText("h1", "Slice "+slice)
	b.Submit("add herself as a user", chromedp.SendKeys(chromedp.CSS("#user-email"), email), chromedp.Click(chromedp.CSS(`form[action$="/users"] button`)))
	b.WaitText(".flash", "user is added")
	b.WaitText("ul.users", email)

	b.Submit("filter picker", chromedp.SetValue(chromedp.CSS("#f-site"), testbed.Site), chromedp.Click(chromedp.CSS("form.filter button")))
	b.WaitJS("the filtered picker", "location.search", "site="+testbed.Site)
	b.WaitText("#picker caption", "(2)")
	b.Save("portal-e2e-03-picker.png")
	var ids []string
	for _, n := range st.Nodes {
		ids = append(ids, fmt.Sprint(p.call("GetNodes", []any{n.Hostname}, []any{"node_id"}).([]any)[0].(map[string]any)["node_id"]))
		do("tick "+n.Hostname, chromedp.Click(chromedp.CSS("#add-"+ids[len(ids)-1])))
	}
	b.Submit("add nodes", chromedp.Click(chromedp.CSS(`form:has(#picker) button`)))
	b.WaitText(".flash", "nodes are added")

	want := fmt.Sprint([]string{st.Nodes[0].Hostname + "=running", st.Nodes[1].Hostname + "=running"})
	var states []string
	waitFor(t, "the slice's page to show both slivers running", 90*time.Second, func() bool {
		do("reload", chromedp.Navigate(u+"/slices/"+slice), chromedp.WaitVisible(chromedp.CSS("#slivers")))
		states, err = chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#slivers tbody tr"), r => r.cells[1].textContent + "=" + r.cells[3].textContent)`))
		return err == nil && fmt.Sprint(states) == want
	})
	b.Save("portal-e2e-04-running.png")

	for _, n := range st.Nodes {
		var out string
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
			if out, err = sshOut(key, slice, n, "echo hello from $(hostname)"); err == nil {
				break
			}
		}
		if err != nil || !strings.Contains(out, "hello from") {
			t.Fatalf("ssh %s@%s with the key uploaded in the portal: %v: %q", slice, n.Hostname, err, out)
		}
	}

	expires := p.call("GetSlices", []any{slice}, []any{"expires"}).([]any)[0].(map[string]any)["expires"].(int64)
	b.Submit("renew", chromedp.SetValue(chromedp.CSS("#weeks"), "8"), chromedp.Click(chromedp.CSS(`form[action$="/renew"] button`)))
	b.WaitText(".flash", "renewed")
	if renewed := p.call("GetSlices", []any{slice}, []any{"expires"}).([]any)[0].(map[string]any)["expires"].(int64); renewed < expires+5*7*24*3600 {
		t.Fatalf("renewed for 8 weeks: expires %d, was %d", renewed, expires)
	}
	b.Save("portal-e2e-05-renewed.png")

	b.Submit("remove nodes", chromedp.Click(chromedp.CSS("#rm-"+ids[0])), chromedp.Click(chromedp.CSS("#rm-"+ids[1])),
		chromedp.Click(chromedp.CSS(`form:has(#slivers) button`)))
	b.WaitText(".flash", "nodes are removed")
	for _, n := range st.Nodes {
		waitFor(t, "the sliver gone from "+n.Hostname, 60*time.Second, func() bool {
			_, ok := boundRspecNow(n, slice)
			return !ok
		})
		if sshWorks(key, slice, n) {
			t.Errorf("ssh %s@%s works after its removal in the portal", slice, n.Hostname)
		}
	}
	b.Save("portal-e2e-06-removed.png")
}

// signin signs in to the portal at u in b as email.
func signin(t *testing.T, b *webtest.Browser, u, email, password string) {
	t.Helper()
	webtest.Step(t, "sign in as "+email, chromedp.Do(b.Ctx, chromedp.Navigate(u+"/signin"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button`))))
	b.WaitText("h1", "Your slices")
}
