package audit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// testNow is the fake clock of the tests.
var testNow = time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)

// flow is packets of one slice to one destination.
type flow struct {
	slice string
	dst   string
	proto uint8
	dport uint16
	flags uint8
	n     int
}

// twoSlices is the traffic of the attribution tests.
var twoSlices = []flow{
	{"alice_ping", "192.0.2.1", 6, 80, 0x02, 10},
	{"alice_ping", "198.51.100.7", 17, 53, 0, 5},
	{"bob_scan", "192.0.2.1", 6, 443, 0x12, 3},
	{"bob_scan", "2001:db8::5", 58, 0, 0, 7},
}

var testSlices = FakeSlices{
	"alice_ping": {Description: "Ping <b>measurements</b>", URL: "https://example.org/alice", Emails: []string{"alice@example.org", "carol@example.org"}},
	"bob_scan":   {Description: "Topology discovery", Emails: []string{"bob@example.net"}},
}

// startAuditor runs an auditor over a fake source until the test ends.
func startAuditor(t *testing.T, cfg Config) (*Auditor, *FakeSource) {
	t.Helper()
	src := NewFakeSource()
	cfg.Source = src
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	cfg.Logger = testutil.Logger(t)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); src.Close(); <-done })
	<-src.Subscribed()
	return a, src
}

// send feeds flows' packets, spread over the ten minutes before testNow,
// and waits until the store took them all.
func send(t *testing.T, a *Auditor, src *FakeSource, flows []flow) {
	t.Helper()
	before := a.Store().Counters().Received
	var total uint64
	for _, f := range flows {
		for i := range f.n {
			src.Send(Packet{
				Time: testNow.Add(-time.Duration(10-i%10) * time.Minute), Slice: f.slice,
				Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr(f.dst),
				Proto: f.proto, SrcPort: 40000, DstPort: f.dport, TCPFlags: f.flags, Len: 100,
			})
			total++
		}
	}
	waitReceived(t, a, before+total)
}

func waitReceived(t *testing.T, a *Auditor, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for a.Store().Counters().Received < n {
		if time.Now().After(deadline) {
			t.Fatalf("store received %d packets, want %d", a.Store().Counters().Received, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAttribution(t *testing.T) {
	a, src := startAuditor(t, Config{})
	send(t, a, src, twoSlices)
	h := NewHandler(a, HandlerConfig{Node: "node1.example.org", Slices: testSlices, ArchiveURL: "https://central.example.org/audit/"})

	_, doc := get(t, h, "/")
	wantDst := [][]string{
		{"192.0.2.1", "13", "1.3 KiB", "alice_ping, bob_scan"},
		{"2001:db8::5", "7", "700 B", "bob_scan"},
		{"198.51.100.7", "5", "500 B", "alice_ping"},
	}
	if got := tableRows(t, doc, "by-dst"); !equalRows(got, wantDst) {
		t.Errorf("by destination:\n got %q\nwant %q", got, wantDst)
	}
	wantSlice := [][]string{{"alice_ping", "15", "1.5 KiB", "2"}, {"bob_scan", "10", "1000 B", "2"}}
	if got := tableRows(t, doc, "by-slice"); !equalRows(got, wantSlice) {
		t.Errorf("by slice:\n got %q\nwant %q", got, wantSlice)
	}
	if n := len(findAll(doc, byClass("layer"))); n != 2 {
		t.Errorf("plot has %d layers, want one per slice (2)", n)
	}
	link := find(find(doc, byID("by-dst")), byTag("a"))
	if href := attr(link, "href"); href != "/dst/192.0.2.1" {
		t.Fatalf("first destination links to %q", href)
	}
	checkDestination(t, h, "/dst/192.0.2.1")
}

// checkDestination checks the page of 192.0.2.1: both slices, their
// packets, flags, ports, descriptions and mail links.
func checkDestination(t *testing.T, h http.Handler, path string) {
	t.Helper()
	res, doc := get(t, h, path)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d", path, res.StatusCode)
	}
	secs := findAll(doc, byClass("slice"))
	type want struct{ packets, flags, port, desc, mail string }
	wants := map[string]want{
		"alice_ping": {"10", "S", "80", "Ping <b>measurements</b>", "mailto:alice@example.org?subject=Traffic%20from%20slice%20alice_ping%20to%20192.0.2.1"},
		"bob_scan":   {"3", "SA", "443", "Topology discovery", "mailto:bob@example.net?subject=Traffic%20from%20slice%20bob_scan%20to%20192.0.2.1"},
	}
	if len(secs) != len(wants) {
		t.Fatalf("%s shows %d slices, want %d", path, len(secs), len(wants))
	}
	for _, sec := range secs {
		name := attr(sec, "data-slice")
		w, ok := wants[name]
		if !ok {
			t.Errorf("unexpected slice %q", name)
			continue
		}
		got := want{
			packets: text(find(sec, byClass("packets"))), flags: text(find(sec, byClass("flags"))),
			port: tableRows(t, find(sec, byClass("ports")), "")[0][1], desc: text(find(sec, byClass("description"))),
			mail: attr(find(sec, byClass("mail")), "href"),
		}
		if got != w {
			t.Errorf("slice %s:\n got %+v\nwant %+v", name, got, w)
		}
	}
	if a := find(doc, byID("archive")); a == nil || !strings.HasPrefix(attr(a, "href"), "https://central.example.org/audit/?addr=192.0.2.1&") {
		t.Errorf("no link to central's archive for older traffic")
	}
}

func equalRows(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

func TestPagesMethods(t *testing.T) {
	a, src := startAuditor(t, Config{})
	send(t, a, src, twoSlices)
	h := NewHandler(a, HandlerConfig{Node: "n"})
	for _, path := range []string{"/", "/dst/192.0.2.1"} {
		get := httptest.NewRecorder()
		h.ServeHTTP(get, httptest.NewRequest(http.MethodGet, path, nil))
		head := httptest.NewRecorder()
		h.ServeHTTP(head, httptest.NewRequest(http.MethodHead, path, nil))
		if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") != get.Header().Get("Content-Length") {
			t.Errorf("HEAD %s: status %d, %d body bytes, length %q (GET's %q)", path, head.Code, head.Body.Len(),
				head.Header().Get("Content-Length"), get.Header().Get("Content-Length"))
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(m, path, strings.NewReader("x")))
			if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: status %d, Allow %q", m, path, rec.Code, rec.Header().Get("Allow"))
			}
		}
	}
}

func TestHostileDestinationEscaped(t *testing.T) {
	a, _ := startAuditor(t, Config{})
	h := NewHandler(a, HandlerConfig{Node: "n"})
	const evil = `<script>alert(1)</script>"><img src=x onerror=alert(2)>`
	for _, path := range []string{
		"/dst/" + strings.ReplaceAll(evil, " ", "%20"),
		"/dst?addr=" + strings.NewReplacer("<", "%3C", ">", "%3E", " ", "%20", `"`, "%22", "=", "%3D").Replace(evil),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body := rec.Body.String()
		if rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: status %d, want 400", path, rec.Code)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<img") {
			t.Errorf("GET %s: hostile string not escaped:\n%s", path, body)
		}
		if !strings.Contains(body, "&lt;script&gt;") {
			t.Errorf("GET %s: the page does not show the string asked for, escaped:\n%s", path, body)
		}
	}
}

func TestFindForm(t *testing.T) {
	a, _ := startAuditor(t, Config{})
	h := NewHandler(a, HandlerConfig{Node: "n"})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dst?addr=+2001:DB8::5+", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/dst/2001:db8::5" {
		t.Errorf("form: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
}
