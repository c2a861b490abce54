// Package webtest drives the portal in headless Chromium (chromedp) for
// tests: the web package's own and the testbed's end-to-end one.
// Screenshots go to $ORBIS_TEST_ARTIFACTS (testutil.ArtifactDir).
package webtest

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

// Browser is a headless Chromium for one test.
type Browser struct {
	// Ctx runs chromedp actions in the browser's tab.
	Ctx context.Context
	// Dir is where screenshots go.
	Dir string
	t   testing.TB
}

// New starts Chromium exe (testutil.Chromium), ended with the test, with
// extra options (e.g. a pinned certificate) and a budget of timeout for
// the whole test's browsing.
func New(t testing.TB, exe string, timeout time.Duration, extra ...chromedp.ExecAllocatorOption) *Browser {
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true),
	}, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return &Browser{Ctx: ctx, Dir: testutil.ArtifactDir(t), t: t}
}

// Step fails the test if a browser step failed.
func Step(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("chromium: %s: %v", what, err)
	}
}

// Submit runs steps that end in loading a new page (a form sent, a
// link followed) and waits up to 10 s for that page to be loaded, so
// that what follows never reads the page it left.
func (b *Browser) Submit(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	_, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](`window.webtestLeft = true`))
	Step(b.t, what+": mark the page", err)
	Step(b.t, what, chromedp.Do(b.Ctx, steps...))
	b.WaitJS(what+": the new page", `window.webtestLeft ? "" : document.readyState`, "complete")
}

// WaitText waits up to 10 s for the element sel to contain want.
func (b *Browser) WaitText(sel, want string) {
	b.t.Helper()
	b.WaitJS(sel, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel), want)
}

// WaitJS waits up to 10 s for the string expression js to contain want.
func (b *Browser) WaitJS(what, js, want string) {
	b.t.Helper()
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var err error
		if got, err = chromedp.Run(b.Ctx, chromedp.Evaluate[string](js)); err == nil && strings.Contains(got, want) {
			return
		}
	}
	b.failShot()
	b.t.Fatalf("chromium: %s shows %q, want %q", what, got, want)
}

// failShot keeps a screenshot of the page a test failed on.
func (b *Browser) failShot() {
	b.Save("portal-failed-" + strings.NewReplacer(" ", "_", "/", "_").Replace(b.t.Name()) + ".png")
}

// Save keeps a screenshot of the whole page as name.
func (b *Browser) Save(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("chromium: screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.Dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}
