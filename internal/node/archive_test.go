package node

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// testCentral is central in this process, on a fixed loopback address so
// that it can stop and start again where the node looks for it.
type testCentral struct {
	t    *testing.T
	dir  string
	addr string
	url  string
	rpc  *xmlrpc.Client
	auth map[string]any
	stop func()
}

func (tc *testCentral) start() {
	t := tc.t
	ctx, cancel := context.WithCancel(context.Background())
	c, err := central.Open(ctx, central.Config{DataDir: tc.dir, AdminEmail: "admin@orbis.test", Addr: tc.addr, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", tc.addr)
	if err != nil {
		t.Fatal(err)
	}
	tc.addr, tc.url = l.Addr().String(), "http://"+l.Addr().String()
	done := make(chan struct{})
	go func() { c.Serve(ctx, l); close(done) }()
	var once sync.Once
	tc.stop = func() { once.Do(func() { cancel(); <-done; c.Close() }) }
	t.Cleanup(tc.stop)
	var adm central.Admin
	if b, err := os.ReadFile(central.AdminFile(tc.dir)); err != nil || json.Unmarshal(b, &adm) != nil {
		t.Fatalf("admin.json: %v", err)
	}
	tc.auth = xmlrpc.PasswordAuth(adm.Email, adm.Password)
	tc.rpc = xmlrpc.NewClient(tc.url + "/PLCAPI/")
}

func (tc *testCentral) call(method string, args ...any) any {
	tc.t.Helper()
	r, err := tc.rpc.Call(context.Background(), method, append([]any{tc.auth}, args...)...)
	if err != nil {
		tc.t.Fatalf("%s: %v", method, err)
	}
	return r
}

// get answers a GET of url's body, failing on a status other than 200.
func get(t *testing.T, u string) string {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", u, res.Status, body)
	}
	return string(body)
}

// fakeClock is the auditor's clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestAuditArchiveToCentral: a node's auditor pushes its closed minutes to
// central over the node channel; while central is down they wait in the
// spool, and once it is back they arrive, none twice. Central's /audit/
// page then answers which slice sent to the address, and the node's page
// shows the slice's description and mail links from central's list.
func TestAuditArchiveToCentral(t *testing.T) {
	tc := &testCentral{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	tc.start()
	const host = "audit1.orbis.test"
	site := tc.call("AddSite", map[string]any{"name": "Audit", "abbreviated_name": "A", "login_base": "ta", "max_slices": 5, "enabled": true})
	nodeID := tc.call("AddNode", site, map[string]any{"hostname": host})
	tc.call("AddSlice", map[string]any{"name": "ta_web", "url": "http://ta.example/web", "description": "a web crawler of ours"})
	tc.call("AddPerson", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@ta.example"})
	tc.call("UpdatePerson", "ada@ta.example", map[string]any{"enabled": true})
	tc.call("AddPersonToSlice", "ada@ta.example", "ta_web")
	tc.call("AddSliceToNodes", "ta_web", []any{host})
	token := tc.call("AddNodeToken", nodeID).(string)

	state := t.TempDir()
	rmDir := filepath.Join(state, "rm")
	startResourceManager(t, tc.url, rmDir, host, token)
	waitUntil(t, "the node to keep central's list", func() bool {
		l, _ := rm.LastList(rmDir)
		return len(l.Slivers) == 1
	})

	// The auditor, fed by hand, on a clock of its own ten minutes ago.
	src := audit.NewFakeSource()
	clock := &fakeClock{t: time.Now().Truncate(time.Minute).Add(-10 * time.Minute)}
	s, err := serveAudit(t.Context(), auditSetup{Source: src, Addr: "127.0.0.1:0", StateDir: state, Hostname: host,
		Log: testutil.Logger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	<-src.Subscribed()
	dst := netip.MustParseAddr("203.0.113.9")
	send := func(slice string, n int) {
		for range n {
			src.Send(audit.Packet{Time: clock.Now().Add(10 * time.Second), Slice: slice, Src: netip.MustParseAddr("192.0.2.1"),
				Dst: dst, Proto: 6, SrcPort: 40000, DstPort: 443, TCPFlags: 0x02, Len: 60})
		}
	}
	ar := s.auditor.Archiver()
	tick := func() {
		clock.Advance(time.Minute)
		time.Sleep(50 * time.Millisecond) // the auditor takes the packets sent
		s.auditor.Tick(t.Context())
	}

	// Central down: the closed minutes wait in the spool.
	send("ta_web", 30)
	tc.stop()
	tick()
	send("ta_web", 12)
	send("", 5) // the node's own traffic
	tick()
	if st := ar.Stats(); st.Spooled == 0 || st.PushedRows != 0 {
		t.Fatalf("central down: %+v; want batches spooled, none pushed", st)
	}

	// Central back: the spool drains at the next tick, each batch once.
	tc.start()
	tick()
	tick()
	if st := ar.Stats(); st.Spooled != 0 || st.PushedBatches < 2 {
		t.Fatalf("central back: %+v; want the spool drained", st)
	}
	from, to := clock.Now().Add(-time.Hour), clock.Now()
	results := archiveQuery(t, tc.url, dst, from, to)
	if len(results) != 2 {
		t.Fatalf("archive results %+v; want ta_web and the node's own", results)
	}
	web := results[0]
	if web.Slice != "ta_web" || web.Node != host || web.Packets != 42 || web.Bytes != 42*60 {
		t.Errorf("archive says %+v; want ta_web from %s, 42 packets (none twice)", web, host)
	}
	// A retry of a batch central already has (a lost answer) adds nothing.
	creds, _, _ := rm.LoadCredentials(rmDir)
	rows := []audit.Row{{Minute: from.Truncate(time.Minute), Slice: "ta_web", Dst: dst, Proto: 6, DstPort: 443, Packets: 1, Bytes: 60}}
	batch := api.TrafficBatch{ID: audit.BatchID(rows), Rows: audit.RowsToAPI(rows)}
	for i := range 2 {
		rec, err := creds.Client().PushTraffic(t.Context(), batch)
		if err != nil || rec.Duplicate != (i == 1) {
			t.Fatalf("push %d: %+v, %v", i, rec, err)
		}
	}
	// A range that ends before the traffic finds nothing.
	if r := archiveQuery(t, tc.url, dst, from.Add(-time.Hour), from); len(r) != 0 {
		t.Errorf("archive before the traffic: %+v", r)
	}
	page := get(t, tc.url+"/audit/?addr=203.0.113.9&from="+url.QueryEscape(from.Format(time.RFC3339))+"&to="+url.QueryEscape(to.Format(time.RFC3339)))
	if !strings.Contains(page, "ta_web") || !strings.Contains(page, host) {
		t.Errorf("central's archive page does not name ta_web on %s:\n%.3000s", host, page)
	}

	// The node's page for the address: the slice, its description, its
	// URL and a mail link to its user.
	page = get(t, "http://"+s.addr+"/dst/203.0.113.9")
	for _, want := range []string{"ta_web", "a web crawler of ours", "http://ta.example/web", `href="mailto:ada@ta.example?`} {
		if !strings.Contains(page, want) {
			t.Errorf("node page lacks %q:\n%.3000s", want, page)
		}
	}
}

// archiveQuery asks central's archive page, in JSON, who sent to dst.
func archiveQuery(t *testing.T, base string, dst netip.Addr, from, to time.Time) []audit.SliceTraffic {
	t.Helper()
	q := url.Values{"addr": {dst.String()}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}, "format": {"json"}}
	var ans struct {
		Results []audit.SliceTraffic `json:"results"`
	}
	if err := json.Unmarshal([]byte(get(t, base+"/audit/?"+q.Encode())), &ans); err != nil {
		t.Fatal(err)
	}
	return ans.Results
}

// startResourceManager registers the node and follows central with a
// node manager over a fake sliver runtime, until the test ends.
func startResourceManager(t *testing.T, centralURL, rmDir, host, token string) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	rt, _ := nodemgr.NewFakeRuntime("")
	nm, err := nodemgr.Open(ctx, nodemgr.Options{StateDir: filepath.Join(dir, "nm"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go nm.Serve(ctx, l)
	creds, err := rm.Register(ctx, rmDir, centralURL, api.Trust{}, api.NodeRegisterRequest{Token: token, Hostname: host})
	if err != nil {
		t.Fatalf("register %s: %v", host, err)
	}
	done := make(chan struct{})
	go func() {
		rm.Run(ctx, rm.Options{Central: creds.Client(), NM: api.NewNMClient(sock), StateDir: rmDir,
			Every: 200 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; nm.Close() })
}
