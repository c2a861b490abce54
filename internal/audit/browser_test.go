package audit

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orbisproject/orbis/internal/testutil"
)

// FullScreenshot(100) is a PNG (less is a JPEG).

// TestBrowser loads the node's page in headless Chromium, checks that the
// plot and tables render, clicks through to a destination and keeps
// screenshots of both pages.
func TestBrowser(t *testing.T) {
	exe := testutil.Chromium(t)
	a, src := startAuditor(t, Config{})
	send(t, a, src, twoSlices)
	srv := httptest.NewServer(NewHandler(a, HandlerConfig{Node: "node1.example.org", Slices: testSlices,
		ArchiveURL: "https://central.example.org/audit/"}))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	defer cancel()

	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("chromium: %s: %v", step, err)
		}
	}
	fail("load /", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#plot"))))
	count := func(sel string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("`+sel+`").length`))
		fail("count "+sel, err)
		return n
	}
	layers, dstRows, sliceRows := count("#plot polygon.layer"), count("#by-dst tbody tr"), count("#by-slice tbody tr")
	summaryPNG, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot /", err)
	fail("click a destination", chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#by-dst tbody tr:first-child a")),
		chromedp.WaitVisible(chromedp.CSS("#addr"))))
	addr, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#addr")))
	fail("read the address", err)
	firstSlice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("section.slice .name")))
	fail("read the first slice", err)
	dstPNG, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	fail("screenshot the destination", err)
	dir := testutil.ArtifactDir(t)
	for name, png := range map[string][]byte{"audit-summary.png": summaryPNG, "audit-dst.png": dstPNG} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", p)
	}
	if layers != 2 || dstRows != 3 || sliceRows != 2 {
		t.Errorf("summary shows %d plot layers, %d destinations, %d slices; want 2, 3, 2", layers, dstRows, sliceRows)
	}
	if strings.TrimSpace(addr) != "192.0.2.1" || strings.TrimSpace(firstSlice) != "alice_ping" {
		t.Errorf("clicked through to %q, first slice %q; want 192.0.2.1 and alice_ping", addr, firstSlice)
	}
}
