package web_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orbisproject/orbis/internal/central/web/webtest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPortalBrowser walks the portal in headless Chromium as a PI does:
// sign in, create a slice, add a user, pick two nodes in the picker, see
// their slivers running (real node managers and resource managers
// following central; slivers are the fake runtime's), renew, remove a
// node, sign out. Screenshots go to $ORBIS_TEST_ARTIFACTS.
func TestPortalBrowser(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	exe := testutil.Chromium(t)
	tc := startCentral(t)
	w := tc.world(t)
	n1 := tc.startNode(t, w.site, "n1.pt.test")
	n2 := tc.startNode(t, w.site, "n2.pt.test")
	id1, id2 := tc.nodeID(t, n1.Host), tc.nodeID(t, n2.Host)
	tc.call(t, "UpdateSite", w.site, map[string]any{"latitude": 40.35, "longitude": -74.65})
	b := webtest.New(t, exe, 120*time.Second)

	webtest.Step(t, "sign in", chromedp.Do(b.Ctx, chromedp.Navigate(tc.url+"/"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), w.pi), chromedp.SendKeys(chromedp.CSS("#password"), testPassword)))
	b.Save("portal-01-signin.png")
	webtest.Step(t, "submit sign-in", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`form[action="/signin"] button`))))
	b.WaitText("h1", "Your slices")

	webtest.Step(t, "upload key", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`nav a[href="/keys"]`)), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), testKey(t)), chromedp.Click(chromedp.CSS(`form[action="/keys"] button`))))
	b.WaitText(".flash", "key is added")
	b.WaitText("#keys", "me@laptop")
	b.Save("portal-keys.png")
	webtest.Step(t, "back to slices", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`nav a[href="/slices"]`))))
	b.WaitText("h1", "Your slices")

	webtest.Step(t, "create form", chromedp.Do(b.Ctx, chromedp.SetValue(chromedp.CSS("#site"), "pt"),
		chromedp.SendKeys(chromedp.CSS("#suffix"), "web"), chromedp.SendKeys(chromedp.CSS("#description"), "portal test"),
		chromedp.SendKeys(chromedp.CSS("#url"), "http://example.org/web")))
	b.Save("portal-02-create.png")
	webtest.Step(t, "create", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`form[action="/slices"] button`))))
	b.WaitText("h1", "Slice pt_web")
	b.WaitText("#expires", "Expires")
	expires := tc.sliceOf(t, "pt_web")["expires"].(int64)

	webtest.Step(t, "add user", chromedp.Do(b.Ctx, chromedp.SendKeys(chromedp.CSS("#user-email"), w.user),
		chromedp.Click(chromedp.CSS(`form[action$="/users"] button`))))
	b.WaitText(".flash", "user is added")
	b.WaitText("ul.users", w.user)

	webtest.Step(t, "filter picker", chromedp.Do(b.Ctx, chromedp.SetValue(chromedp.CSS("#f-site"), "pt"),
		chromedp.SetValue(chromedp.CSS("#f-sort"), "slivers"), chromedp.Click(chromedp.CSS("form.filter button"))))
	b.WaitJS("the filtered picker", "location.search", "sort=slivers")
	b.WaitText("#picker caption", "(2)")
	b.WaitJS("the map's points", `String(document.querySelectorAll("#node-map circle.pick").length)`, "2")
	b.Save("portal-03-picker.png")
	webtest.Step(t, "pick nodes", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS("#add-"+id1)), chromedp.Click(chromedp.CSS("#add-"+id2)),
		chromedp.Click(chromedp.CSS(`form:has(#picker) button`))))
	b.WaitText(".flash", "nodes are added")

	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		webtest.Step(t, "reload", chromedp.Do(b.Ctx, chromedp.Navigate(tc.url+"/slices/pt_web"), chromedp.WaitVisible(chromedp.CSS("#slivers"))))
		states, err := chromedp.Run(b.Ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#slivers tbody tr"), r => r.cells[1].textContent + "=" + r.cells[3].textContent)`))
		webtest.Step(t, "read slivers", err)
		want := []string{n1.Host + "=running", n2.Host + "=running"}
		if fmt.Sprint(states) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slivers on the page: %v, want %v", states, want)
		}
	}
	if _, ok := n1.RT.Sliver("pt_web"); !ok {
		t.Fatal("the page says running but n1 has no pt_web sliver")
	}
	b.Save("portal-04-slivers.png")

	webtest.Step(t, "add a tag", chromedp.Do(b.Ctx, chromedp.SendKeys(chromedp.CSS("#tagname"), "initscript"),
		chromedp.SetValue(chromedp.CSS("#tagvalue"), "#!/bin/sh\necho hello"), chromedp.Click(chromedp.CSS(`form[action$="/tags"] button`))))
	b.WaitText(".flash", "tag is added")
	b.WaitText("#tags", "initscript")
	if got := tc.call(t, "GetSliceTags", map[string]any{"tagname": "initscript"}).([]any); len(got) != 1 || got[0].(map[string]any)["value"] != "#!/bin/sh\necho hello" {
		t.Fatalf("the tag at central: %v", got)
	}

	webtest.Step(t, "renew", chromedp.Do(b.Ctx, chromedp.SetValue(chromedp.CSS("#weeks"), "8"), chromedp.Click(chromedp.CSS(`form[action$="/renew"] button`))))
	b.WaitText(".flash", "renewed")
	if renewed := tc.sliceOf(t, "pt_web")["expires"].(int64); renewed < expires+5*7*24*3600 {
		t.Fatalf("renewed for 8 weeks: expires %d, was %d", renewed, expires)
	}

	webtest.Step(t, "remove n2", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS("#rm-"+id2)), chromedp.Click(chromedp.CSS(`form:has(#slivers) button`))))
	b.WaitText(".flash", "nodes are removed")
	deadline := time.Now().Add(10 * time.Second)
	for _, ok := n2.RT.Sliver("pt_web"); ok; _, ok = n2.RT.Sliver("pt_web") {
		if time.Now().After(deadline) {
			t.Fatal("n2 kept pt_web after its removal in the portal")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, ok := n1.RT.Sliver("pt_web"); !ok {
		t.Fatal("removing n2 removed n1's sliver too")
	}
	b.Save("portal-05-removed.png")

	webtest.Step(t, "nodes", chromedp.Do(b.Ctx, chromedp.Navigate(tc.url+"/nodes?sort=slivers"), chromedp.WaitVisible(chromedp.CSS("#nodes"))))
	b.WaitText("#nodes", n2.Host)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		webtest.Step(t, "reload nodes", chromedp.Do(b.Ctx, chromedp.Navigate(tc.url+"/nodes?sort=load"), chromedp.WaitVisible(chromedp.CSS("#nodes"))))
		n, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#nodes td.num").length - document.querySelectorAll("#nodes td[colspan]").length`))
		webtest.Step(t, "read summaries", err)
		if n >= 10 { // both nodes' load, memory, disk, slivers and bandwidth
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes' summaries never reached the nodes page")
		}
	}
	b.Save("portal-nodes.png")
	webtest.Step(t, "node page", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`#nodes a[href="/nodes/`+id1+`"]`)), chromedp.WaitVisible(chromedp.CSS("#load-plot"))))
	b.WaitText("#mem", "free of")
	b.Save("portal-node.png")
	webtest.Step(t, "sites", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`nav a[href="/sites"]`)), chromedp.WaitVisible(chromedp.CSS("#sites"))))
	b.WaitText("#sites", "pt")
	b.Save("portal-sites.png")
	webtest.Step(t, "phone", chromedp.Do(b.Ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(tc.url+"/slices/pt_web"),
		chromedp.WaitVisible(chromedp.CSS("#expires"))))
	b.Save("portal-06-phone.png")
	webtest.Step(t, "sign out", chromedp.Do(b.Ctx, chromedp.Click(chromedp.CSS(`form.signout button`))))
	b.WaitText(".flash", "signed out")
}
