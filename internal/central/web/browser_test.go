package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	b := newBrowser(t, exe)

	step(t, "sign in", chromedp.Do(b.ctx, chromedp.Navigate(tc.url+"/"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), w.pi), chromedp.SendKeys(chromedp.CSS("#password"), testPassword)))
	b.save(t, "portal-01-signin.png")
	step(t, "submit sign-in", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`form[action="/signin"] button`))))
	b.waitText(t, "h1", "Your slices")

	step(t, "upload key", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`nav a[href="/keys"]`)), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SetValue(chromedp.CSS("#key"), testKey(t)), chromedp.Click(chromedp.CSS(`form[action="/keys"] button`))))
	b.waitText(t, ".flash", "key is added")
	b.waitText(t, "#keys", "me@laptop")
	b.save(t, "portal-keys.png")
	step(t, "back to slices", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`nav a[href="/slices"]`))))
	b.waitText(t, "h1", "Your slices")

	step(t, "create form", chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS("#site"), "pt"),
		chromedp.SendKeys(chromedp.CSS("#suffix"), "web"), chromedp.SendKeys(chromedp.CSS("#description"), "portal test"),
		chromedp.SendKeys(chromedp.CSS("#url"), "http://example.org/web")))
	b.save(t, "portal-02-create.png")
	step(t, "create", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`form[action="/slices"] button`))))
	b.waitText(t, "h1", "Slice pt_web")
	b.waitText(t, "#expires", "Expires")
	expires := tc.sliceOf(t, "pt_web")["expires"].(int64)

	step(t, "add user", chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#user-email"), w.user),
		chromedp.Click(chromedp.CSS(`form[action$="/users"] button`))))
	b.waitText(t, ".flash", "user is added")
	b.waitText(t, "ul.users", w.user)

	step(t, "filter picker", chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS("#f-site"), "pt"),
		chromedp.SetValue(chromedp.CSS("#f-sort"), "slivers"), chromedp.Click(chromedp.CSS("form.filter button"))))
	b.waitJS(t, "the filtered picker", "location.search", "sort=slivers")
	b.waitText(t, "#picker caption", "(2)")
	b.waitJS(t, "the map's points", `String(document.querySelectorAll("#node-map circle.pick").length)`, "2")
	b.save(t, "portal-03-picker.png")
	step(t, "pick nodes", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#add-"+id1)), chromedp.Click(chromedp.CSS("#add-"+id2)),
		chromedp.Click(chromedp.CSS(`form:has(#picker) button`))))
	b.waitText(t, ".flash", "nodes are added")

	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		step(t, "reload", chromedp.Do(b.ctx, chromedp.Navigate(tc.url+"/slices/pt_web"), chromedp.WaitVisible(chromedp.CSS("#slivers"))))
		states, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#slivers tbody tr"), r => r.cells[1].textContent + "=" + r.cells[3].textContent)`))
		step(t, "read slivers", err)
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
	b.save(t, "portal-04-slivers.png")

	step(t, "add a tag", chromedp.Do(b.ctx, chromedp.SendKeys(chromedp.CSS("#tagname"), "initscript"),
		chromedp.SetValue(chromedp.CSS("#tagvalue"), "#!/bin/sh\necho hello"), chromedp.Click(chromedp.CSS(`form[action$="/tags"] button`))))
	b.waitText(t, ".flash", "tag is added")
	b.waitText(t, "#tags", "initscript")
	if got := tc.call(t, "GetSliceTags", map[string]any{"tagname": "initscript"}).([]any); len(got) != 1 || got[0].(map[string]any)["value"] != "#!/bin/sh\necho hello" {
		t.Fatalf("the tag at central: %v", got)
	}

	step(t, "renew", chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS("#weeks"), "8"), chromedp.Click(chromedp.CSS(`form[action$="/renew"] button`))))
	b.waitText(t, ".flash", "renewed")
	if renewed := tc.sliceOf(t, "pt_web")["expires"].(int64); renewed < expires+5*7*24*3600 {
		t.Fatalf("renewed for 8 weeks: expires %d, was %d", renewed, expires)
	}

	step(t, "remove n2", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS("#rm-"+id2)), chromedp.Click(chromedp.CSS(`form:has(#slivers) button`))))
	b.waitText(t, ".flash", "nodes are removed")
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
	b.save(t, "portal-05-removed.png")

	step(t, "nodes", chromedp.Do(b.ctx, chromedp.Navigate(tc.url+"/nodes?sort=slivers"), chromedp.WaitVisible(chromedp.CSS("#nodes"))))
	b.waitText(t, "#nodes", n2.Host)
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		step(t, "reload nodes", chromedp.Do(b.ctx, chromedp.Navigate(tc.url+"/nodes?sort=load"), chromedp.WaitVisible(chromedp.CSS("#nodes"))))
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#nodes td.num").length - document.querySelectorAll("#nodes td[colspan]").length`))
		step(t, "read summaries", err)
		if n >= 10 { // both nodes' load, memory, disk, slivers and bandwidth
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes' summaries never reached the nodes page")
		}
	}
	b.save(t, "portal-nodes.png")
	step(t, "node page", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`#nodes a[href="/nodes/`+id1+`"]`)), chromedp.WaitVisible(chromedp.CSS("#load-plot"))))
	b.waitText(t, "#mem", "free of")
	b.save(t, "portal-node.png")
	step(t, "sites", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`nav a[href="/sites"]`)), chromedp.WaitVisible(chromedp.CSS("#sites"))))
	b.waitText(t, "#sites", "pt")
	b.save(t, "portal-sites.png")
	step(t, "phone", chromedp.Do(b.ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(tc.url+"/slices/pt_web"),
		chromedp.WaitVisible(chromedp.CSS("#expires"))))
	b.save(t, "portal-06-phone.png")
	step(t, "sign out", chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(`form.signout button`))))
	b.waitText(t, ".flash", "signed out")
}

// browser is a headless Chromium for the test.
type browser struct {
	ctx context.Context
	dir string // where screenshots go
}

// newBrowser starts Chromium, ended with the test.
func newBrowser(t *testing.T, exe string) *browser {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return &browser{ctx: ctx, dir: testutil.ArtifactDir(t)}
}

// step fails the test if a browser step failed.
func step(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("chromium: %s: %v", what, err)
	}
}

// waitText waits up to 10 s for the element sel to contain want.
func (b *browser) waitText(t *testing.T, sel, want string) {
	t.Helper()
	b.waitJS(t, sel, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel), want)
}

// waitJS waits up to 10 s for the string expression js to contain want.
func (b *browser) waitJS(t *testing.T, what, js, want string) {
	t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if got, err = chromedp.Run(b.ctx, chromedp.Evaluate[string](js)); err == nil && strings.Contains(got, want) {
			return
		}
	}
	b.save(t, "portal-failed-"+strings.NewReplacer(" ", "_", "/", "_").Replace(t.Name())+".png")
	t.Fatalf("chromium: %s shows %q, want %q", what, got, want)
}

// save keeps a screenshot of the whole page as name.
func (b *browser) save(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	step(t, "screenshot "+name, err)
	p := filepath.Join(b.dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
