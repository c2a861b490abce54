package testbed_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestTrafficAttribution sends traffic from the slivers of two slices to
// different testbed addresses and checks, through the pages themselves in
// headless Chromium, that the sending node's traffic auditor page and
// central's archive page name the slice (and node) that sent it, and only
// that one.
// Slice A has slivers on both nodes, slice B on node 1; each connects to
// ports of its own, so a row or section of the wrong slice shows.
//
// The nodes serve their auditor pages on their testbed address (as a
// production node does on its public one), so Chromium runs on the host
// like any outsider's browser. Central's archive receives a minute once it
// closed: up to a minute, plus the auditor's grace and tick (5 s each),
// after the traffic; the node's page is checked meanwhile.
func TestTrafficAttribution(t *testing.T) {
	testutil.RequireRoot(t)
	exe := testutil.Chromium(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	n1, n2 := st.Nodes[0], st.Nodes[1]
	p := newPLC(t, st)
	a := auditSlice{name: testbed.Site + "_auda", email: "alice@orbis.test", description: "Alice measures path latency"}
	b := auditSlice{name: testbed.Site + "_audb", email: "bob@orbis.test", description: "Bob probes port reachability"}
	for _, s := range []*auditSlice{&a, &b} {
		s.key = newUser(t, p, s.email)
		p.call("AddSlice", map[string]any{"name": s.name, "url": "http://orbis.test/" + s.name, "description": s.description})
		p.call("AddPersonToSlice", s.email, s.name)
	}
	p.call("AddSliceToNodes", a.name, hostnames(st))
	p.call("AddSliceToNodes", b.name, []any{n1.Hostname})
	waitRunning(t, p, a.name, 2)
	waitRunning(t, p, b.name, 1)

	// Each connection attempt is a SYN the peer refuses: one packet out
	// per attempt, to a port that says which slice sent it.
	start := time.Now().UTC()
	connect := func(s auditSlice, from testbed.Node, to string, port int) {
		ssh(t, s.key, s.name, from, fmt.Sprintf("for i in 1 2 3; do nc -w 1 %s %d </dev/null; done; true", to, port))
	}
	connect(a, n1, n2.Addr, 7001)
	connect(b, n1, n2.Addr, 7002)
	connect(b, n1, st.HostAddr, 7003)
	connect(a, n2, n1.Addr, 7004)
	sent := time.Now().UTC()
	t.Logf("traffic sent from %s to %s", start.Format(time.TimeOnly), sent.Format(time.TimeOnly))

	br := newBrowser(t, exe, st)
	// What each destination was sent, by which slice to which port.
	sentTo := []struct {
		dst  string
		from testbed.Node
		want map[string]int // slice: port
		not  string         // a slice that sent nothing there
	}{
		{n2.Addr, n1, map[string]int{a.name: 7001, b.name: 7002}, ""},
		{st.HostAddr, n1, map[string]int{b.name: 7003}, a.name},
		{n1.Addr, n2, map[string]int{a.name: 7004}, b.name},
	}
	// The test's ssh sessions carry each slice's output to the host's
	// ephemeral ports: that is the slice's traffic too (the gateway marks
	// it), so it is checked here and left out of the rows below.
	sshPort := hostEphemeral(t)
	t.Run("NodePage", func(t *testing.T) {
		br.shot(t, n1.AuditURL, "#find", "attribution-n1-summary.png")
		for _, c := range sentTo {
			got := br.nodeDst(t, c.from.AuditURL, c.dst, slices.Collect(maps.Keys(c.want)))
			br.save(t, fmt.Sprintf("attribution-n%d-dst-%s.png", c.from.Index, c.dst))
			if c.dst == st.HostAddr {
				got = withoutSSH(t, got, a.name, sshPort)
			}
			checkNodeDst(t, c.dst, got, []auditSlice{a, b}, c.want, c.not)
		}
	})

	t.Run("CentralArchive", func(t *testing.T) {
		from, to := start.Truncate(time.Minute), sent.Truncate(time.Minute).Add(2*time.Minute)
		// The minute of the last packet is archived once it closed.
		deadline := sent.Truncate(time.Minute).Add(time.Minute + 30*time.Second)
		waitArchived(t, st, []string{n2.Addr, st.HostAddr, n1.Addr}, from, to, deadline)
		t.Logf("central archived the traffic %v after it was sent", time.Since(sent).Round(time.Second))
		for _, c := range sentTo {
			rows := br.central(t, st.CentralURL, c.dst, from, to)
			br.save(t, "attribution-central-"+c.dst+".png")
			if c.dst == st.HostAddr {
				rows = archiveWithoutSSH(rows, sshPort)
			}
			for slice, port := range c.want {
				if w := (archiveRow{slice, c.from.Hostname, fmt.Sprintf("tcp/%d", port)}); !slices.Contains(rows, w) {
					t.Errorf("central's archive for %s: %v, want %v", c.dst, rows, w)
				}
			}
			for _, r := range rows {
				if c.not != "" && r.slice == c.not {
					t.Errorf("central's archive for %s names %s, which sent nothing there: %v", c.dst, c.not, rows)
				}
			}
		}
		// The same address in the hour before the traffic: neither slice.
		for _, r := range br.central(t, st.CentralURL, n2.Addr, from.Add(-time.Hour), from) {
			if r.slice == a.name || r.slice == b.name {
				t.Errorf("central's archive for %s in the hour before the traffic: %v, want neither slice", n2.Addr, r)
			}
		}
		br.save(t, "attribution-central-before.png")
	})
}

// auditSlice is a slice of the test with its one user.
type auditSlice struct {
	name, email, description, key string
}

// nodeSlice is what a node's destination page shows of one slice.
type nodeSlice struct {
	Slice       string   `json:"slice"`
	Description string   `json:"description"`
	Mails       []string `json:"mails"`
	Ports       []string `json:"ports"`
}

// checkNodeDst checks a node's destination page: a section for each
// slice that sent there, with its description, a mail link to its user
// and the one port it sent to, and no section of the slice not.
func checkNodeDst(t *testing.T, dst string, got []nodeSlice, all []auditSlice, want map[string]int, not string) {
	t.Helper()
	for _, s := range all {
		i := slices.IndexFunc(got, func(g nodeSlice) bool { return g.Slice == s.name })
		port, sent := want[s.name]
		switch {
		case i < 0 && sent:
			t.Errorf("node page for %s: slices %+v, want %s", dst, got, s.name)
		case i >= 0 && s.name == not:
			t.Errorf("node page for %s names %s, which sent nothing there: %+v", dst, s.name, got)
		case i >= 0 && sent:
			g := got[i]
			if g.Description != s.description {
				t.Errorf("node page for %s: %s's description %q, want %q", dst, s.name, g.Description, s.description)
			}
			if len(g.Mails) != 1 || !strings.HasPrefix(g.Mails[0], "mailto:"+s.email+"?subject=") {
				t.Errorf("node page for %s: %s's mail links %q, want one to %s", dst, s.name, g.Mails, s.email)
			}
			if len(g.Ports) != 1 || g.Ports[0] != fmt.Sprint(port) {
				t.Errorf("node page for %s: %s's ports %q, want %d only", dst, s.name, g.Ports, port)
			}
		}
	}
}

// waitArchived polls central's archive (as JSON) until it has rows to
// each address, or fails at deadline.
func waitArchived(t *testing.T, st *testbed.State, addrs []string, from, to, deadline time.Time) {
	t.Helper()
	central, hc := st.CentralURL, centralHTTP(t, st)
	for _, addr := range addrs {
		u := archiveQuery(central, addr, from, to) + "&format=json"
		for {
			var body struct {
				Results []json.RawMessage `json:"results"`
			}
			resp, err := hc.Get(u)
			if err == nil {
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
			}
			if err == nil && len(body.Results) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("central's archive has nothing to %s by %s (%s): %v", addr, deadline.Format(time.TimeOnly), u, err)
			}
			time.Sleep(time.Second)
		}
	}
}

func archiveQuery(central, addr string, from, to time.Time) string {
	return central + "/audit/?" + url.Values{"addr": {addr}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}.Encode()
}

// browser is a headless Chromium for the test.
type browser struct {
	ctx context.Context
	dir string // where screenshots go
}

// newBrowser starts Chromium, ended with the test. Screenshots go to
// $ORBIS_TEST_ARTIFACTS, or a directory of the test's. It trusts
// central's certificate for its chain's CA, pinned by the hash of its
// public key (Chromium's form: base64, not hex).
func newBrowser(t *testing.T, exe string, st *testbed.State) *browser {
	dir := testutil.ArtifactDir(t)
	pin := mustCAPin(t, st)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1100, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-proxy-server", true), chromedp.Flag("ignore-certificate-errors-spki-list", pin),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	t.Cleanup(func() { cancel(); cancelCtx(); cancelAlloc() })
	return &browser{ctx: ctx, dir: dir}
}

// step fails the test if a browser step failed.
func step(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("chromium: %s: %v", what, err)
	}
}

// shot loads a page, waits for sel and keeps a screenshot as name.
func (b *browser) shot(t *testing.T, u, sel, name string) {
	t.Helper()
	step(t, "load "+u, chromedp.Do(b.ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(sel))))
	b.save(t, name)
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

// nodeDst finds dst with the form of the node's page at u and returns the
// slices its page shows. The sniffer stream may lag the traffic: until
// the page shows every slice of want, it asks again, for up to 10 s.
func (b *browser) nodeDst(t *testing.T, u, dst string, want []string) []nodeSlice {
	t.Helper()
	const read = `Array.from(document.querySelectorAll("section.slice")).map(s => ({
		slice: s.dataset.slice,
		description: (s.querySelector(".description") || {textContent: ""}).textContent,
		mails: Array.from(s.querySelectorAll("a.mail"), a => a.getAttribute("href")),
		ports: Array.from(s.querySelectorAll("table.ports tbody tr td:nth-child(2)"), td => td.textContent.trim()),
	}))`
	deadline := time.Now().Add(10 * time.Second)
	for {
		step(t, "find "+dst+" on "+u, chromedp.Do(b.ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS("#find")),
			chromedp.SetValue(chromedp.CSS("#find #addr"), dst), chromedp.Click(chromedp.CSS("#find button")),
			chromedp.WaitVisible(chromedp.CSS("h1 span#addr"))))
		got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]nodeSlice](read))
		step(t, "read the slices to "+dst, err)
		shown := func(slice string) bool {
			return slices.ContainsFunc(got, func(s nodeSlice) bool { return s.Slice == slice })
		}
		if !slices.ContainsFunc(want, func(s string) bool { return !shown(s) }) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// archiveRow is one row of central's archive page.
type archiveRow struct{ slice, node, ports string }

// central asks central's archive page, with its form, which slices sent
// traffic to dst in [from, to).
func (b *browser) central(t *testing.T, central, dst string, from, to time.Time) []archiveRow {
	t.Helper()
	step(t, "query central for "+dst, chromedp.Do(b.ctx, chromedp.Navigate(central+"/audit/"), chromedp.WaitVisible(chromedp.CSS("#query")),
		chromedp.SetValue(chromedp.CSS("#query #addr"), dst),
		chromedp.SetValue(chromedp.CSS("#query #from"), from.Format(time.RFC3339)),
		chromedp.SetValue(chromedp.CSS("#query #to"), to.Format(time.RFC3339)),
		chromedp.Click(chromedp.CSS("#query button")), chromedp.WaitVisible(chromedp.CSS("#qaddr"))))
	cells, err := chromedp.Run(b.ctx, chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll("#results tbody tr"),
		tr => Array.from(tr.querySelectorAll("td"), td => td.textContent.trim()))`))
	step(t, "read central's answer for "+dst, err)
	var rows []archiveRow
	for _, c := range cells {
		if len(c) >= 5 { // "No archived traffic..." is one cell
			rows = append(rows, archiveRow{c[0], c[1], c[4]})
		}
	}
	return rows
}

// hostEphemeral reports whether a port is in the host's ephemeral range,
// which the test's ssh clients connect from.
func hostEphemeral(t *testing.T) func(port string) bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	var lo, hi int
	if err == nil {
		_, err = fmt.Sscan(string(b), &lo, &hi)
	}
	if err != nil {
		t.Fatalf("ephemeral port range: %v", err)
	}
	return func(port string) bool {
		var p int
		_, err := fmt.Sscan(strings.TrimPrefix(port, "tcp/"), &p)
		return err == nil && p >= lo && p <= hi
	}
}

// withoutSSH drops from a node page's rows the ports of the test's ssh
// sessions, checking first that sshSlice's session output is shown as
// that slice's (the gateway's traffic is its slice's), and drops rows
// left without ports.
func withoutSSH(t *testing.T, rows []nodeSlice, sshSlice string, ssh func(string) bool) []nodeSlice {
	t.Helper()
	var out []nodeSlice
	seen := false
	for _, r := range rows {
		n := len(r.Ports)
		r.Ports = slices.DeleteFunc(slices.Clone(r.Ports), ssh)
		seen = seen || (r.Slice == sshSlice && len(r.Ports) < n)
		if len(r.Ports) > 0 {
			out = append(out, r)
		}
	}
	if !seen {
		t.Errorf("node page: %s's ssh session output is not shown as its traffic: %+v", sshSlice, rows)
	}
	return out
}

// archiveWithoutSSH drops from central's rows the ports of the test's ssh
// sessions, and rows left without ports.
func archiveWithoutSSH(rows []archiveRow, ssh func(string) bool) []archiveRow {
	var out []archiveRow
	for _, r := range rows {
		ports := slices.DeleteFunc(strings.Split(r.ports, ", "), ssh)
		if len(ports) > 0 {
			r.ports = strings.Join(ports, ", ")
			out = append(out, r)
		}
	}
	return out
}
