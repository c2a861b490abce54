package sensor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/orbisproject/orbis/internal/testutil"
	"golang.org/x/net/html"
)

// browserAccept is what Chromium sends for a page.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

// pageSlices are ten slices, slice k sending 1.6k kbit/s; the last has a
// name a page must escape.
var pageSlices = func() []string {
	names := []string{`x<b>&"`}
	for k := 1; k < 10; k++ {
		names = append(names, fmt.Sprintf("site_slice%d", k))
	}
	return names
}()

// pageServer returns a server whose history holds 15 minutes of samples
// of pageSlices and of a load growing from 0 to 1.5, taken up to t0.
func pageServer(t *testing.T) (*Server, time.Time) {
	t.Helper()
	s := New(Config{ProcRoot: "testdata/proc", Slices: growingSlices(), Log: testutil.Logger(t)})
	t0 := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	start := t0.Add(-DefaultHistory)
	for i := 0; !start.Add(time.Duration(i) * DefaultSampleInterval).After(t0); i++ {
		var samples []SliceSample
		for k, name := range pageSlices {
			samples = append(samples, SliceSample{Name: name, CPUUsage: time.Duration(i*k) * 50 * time.Millisecond,
				MemoryBytes: int64(k) << 20, Procs: int64(k), TxBytes: uint64(i*k) * 1000, RxBytes: uint64(i) * 500})
		}
		now := start.Add(time.Duration(i) * DefaultSampleInterval)
		s.hist.add(now, samples)
		if i%2 == 0 {
			s.loads.add(now, float64(i)/120)
		}
	}
	return s, t0
}

// getPage asks s for / as a browser does.
func getPage(t *testing.T, s *Server, method string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, "/", nil)
	req.Header.Set("Accept", browserAccept)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestIndexNegotiation(t *testing.T) {
	_, base := startServer(t, Config{})
	for _, accept := range []string{"", "*/*", "text/csv", "text/plain, */*;q=0.1", "text/html;q=0"} {
		req, _ := http.NewRequest("GET", base+"/", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("Content-Type") != csvType {
			t.Errorf("Accept %q: %q, want the CSV list", accept, res.Header.Get("Content-Type"))
		}
	}
	for _, accept := range []string{browserAccept, "text/html", "TEXT/HTML; q=0.5"} {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Header.Set("Accept", accept)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("Content-Type") != htmlType || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("Accept %q: %q, CSP %q; want the page under a strict CSP", accept, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
		}
	}
}

func TestPage(t *testing.T) {
	s, _ := pageServer(t)
	rec := getPage(t, s, "GET")
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != htmlType {
		t.Fatalf("page: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if strings.Contains(body, "<b>") || strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("page has an unescaped slice name or an external resource")
	}
	head := getPage(t, s, "HEAD")
	if head.Body.Len() != 0 || head.Header().Get("Content-Length") != rec.Header().Get("Content-Length") {
		t.Errorf("HEAD: %d bytes, length %q; GET length %q", head.Body.Len(), head.Header().Get("Content-Length"), rec.Header().Get("Content-Length"))
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plots := map[string]*html.Node{}
	var rows [][]string
	walk(doc, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "svg" {
			plots[attr(n, "id")] = n
		}
		if n.Type == html.ElementNode && n.Data == "tr" && n.Parent != nil && n.Parent.Data == "tbody" && attr(n.Parent.Parent, "id") == "slices" {
			var cells []string
			walk(n, func(c *html.Node) {
				if c.Type == html.ElementNode && c.Data == "td" {
					cells = append(cells, text(c))
				}
			})
			rows = append(rows, cells)
		}
	})
	if p := plots["load-plot"]; p == nil || count(p, "polygon") != 1 || !strings.Contains(text(p), "load1 1.50") {
		t.Errorf("no load plot ending at 1.50: %v", p != nil && count(p, "polygon") == 1)
	}
	for _, id := range []string{"cpu-plot", "tx-plot", "rx-plot"} {
		p := plots[id]
		if p == nil {
			t.Fatalf("no %s", id)
		}
		txt := text(p)
		for _, name := range pageSlices[2:] {
			if !strings.Contains(txt, name) {
				t.Errorf("%s lacks slice %s", id, name)
			}
		}
		if !strings.Contains(txt, otherSlices) || strings.Contains(txt, pageSlices[1]+" ") || count(p, "polygon") != 9 {
			t.Errorf("%s: %d bands, want 8 slices and %s: %q", id, count(p, "polygon"), otherSlices, txt)
		}
	}
	// slice k sends k*1000 bytes per 5 s: 1.6k kbit/s; others are slices 0 and 1.
	if txt := text(plots["tx-plot"]); !strings.Contains(txt, "site_slice9 14.40") || !strings.Contains(txt, "others 1.60") {
		t.Errorf("tx plot's legend: %q", txt)
	}
	if len(rows) != len(pageSlices) || len(rows[0]) != len(slicesSchema) || rows[len(rows)-1][0] != pageSlices[0] {
		t.Errorf("slices table: %q", rows)
	}
}

func TestPageBounded(t *testing.T) {
	r := newLoadRing(loadInterval, DefaultHistory)
	t0 := time.Unix(1e9, 0)
	for i := range 10000 {
		r.add(t0.Add(time.Duration(i)*time.Second), 1)
	}
	if got := len(r.since(0)); got != 91 || cap(r.pts) != 91 {
		t.Errorf("load ring keeps %d points (cap %d), want 91", got, cap(r.pts))
	}
	if got := len(r.since(t0.Add(9999*time.Second - DefaultHistory).UnixNano())); got != 91 {
		t.Errorf("last 15 minutes at 1 s: %d points, want all 91 kept", got)
	}
}

// TestPageBrowser renders the page in headless Chromium and keeps a
// screenshot, sensor-page.png.
func TestPageBrowser(t *testing.T) {
	exe := testutil.Chromium(t)
	s, _ := pageServer(t)
	srv := httptest.NewServer(s)
	defer srv.Close()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#tx-plot"))); err != nil {
		t.Fatalf("chromium: load /: %v", err)
	}
	bands, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tx-plot polygon.layer").length`))
	if err != nil {
		t.Fatalf("chromium: count bands: %v", err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#slices tbody tr").length`))
	if err != nil {
		t.Fatalf("chromium: count rows: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("chromium: screenshot: %v", err)
	}
	p := filepath.Join(testutil.ArtifactDir(t), "sensor-page.png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
	if bands != 9 || rows != len(pageSlices) {
		t.Errorf("browser shows %d tx bands and %d slice rows; want 9 and %d", bands, rows, len(pageSlices))
	}
}

func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// text is n's text, its pieces joined by spaces.
func text(n *html.Node) string {
	var parts []string
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode && strings.TrimSpace(c.Data) != "" {
			parts = append(parts, strings.TrimSpace(c.Data))
		}
	})
	return strings.Join(parts, " ")
}

// count is how many elements named tag are under n.
func count(n *html.Node, tag string) int {
	c := 0
	walk(n, func(e *html.Node) {
		if e.Type == html.ElementNode && e.Data == tag {
			c++
		}
	})
	return c
}
