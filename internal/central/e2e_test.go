package central_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/centraltest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// testCentral runs central on a loopback port until stop is called.
type testCentral struct {
	c    *central.Central
	dir  string
	url  string
	rpc  *xmlrpc.Client
	auth map[string]any
	stop func()
}

func startCentral(t *testing.T) *testCentral { return startCentralB(t) }

func startCentralB(t testing.TB) *testCentral { return startCentralWith(t, central.Config{}) }

// startCentralWith is startCentralB with cfg's DB and Log (nil: to t.Log);
// the data directory and the admin are the test's.
func startCentralWith(t testing.TB, cfg central.Config) *testCentral {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cfg.DataDir, cfg.AdminEmail = dir, "admin@orbis.test"
	if cfg.Log == nil {
		cfg.Log = testutil.Logger(t)
	}
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
	var adm central.Admin
	b, err := os.ReadFile(central.AdminFile(dir))
	if err != nil || json.Unmarshal(b, &adm) != nil {
		t.Fatalf("admin.json: %v", err)
	}
	tc := &testCentral{c: c, dir: dir, url: "http://" + l.Addr().String(), auth: xmlrpc.PasswordAuth(adm.Email, adm.Password)}
	tc.rpc = xmlrpc.NewClient(tc.url + "/PLCAPI/")
	stopped := false
	tc.stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			c.Close()
		}
	}
	t.Cleanup(tc.stop)
	return tc
}

func (tc *testCentral) call(t *testing.T, method string, args ...any) any {
	return tc.callB(t, method, args...)
}

func (tc *testCentral) callB(t testing.TB, method string, args ...any) any {
	t.Helper()
	r, err := tc.rpc.Call(context.Background(), method, append([]any{tc.auth}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return r
}

// testNode is a node manager (with a fake sliver runtime) and a resource
// manager following central, in this process.
type testNode struct{ *centraltest.Node }

func startNode(t *testing.T, tc *testCentral, host, token string) *testNode {
	t.Helper()
	return &testNode{centraltest.StartNode(t, tc.url, api.Trust{}, host, token)}
}

func (n *testNode) has(slice string) bool {
	_, ok := n.RT.Sliver(slice)
	return ok
}

// TestPush: a slice added to three nodes is on all of them within a
// second; its slivers' states reach central; a node cut from central
// keeps its sliver and still expires it on time.
func TestPush(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	tc := startCentral(t)
	site := tc.call(t, "AddSite", map[string]any{"name": "Test", "abbreviated_name": "T", "login_base": "ts", "max_slices": 5, "enabled": true})
	var nodes []*testNode
	for i := range 3 {
		host := fmt.Sprintf("n%d.orbis.test", i)
		id := tc.call(t, "AddNode", site, map[string]any{"hostname": host})
		token := tc.call(t, "AddNodeToken", id).(string)
		nodes = append(nodes, startNode(t, tc, host, token))
	}
	tc.call(t, "AddSlice", map[string]any{"name": "ts_push", "url": "http://t", "description": "push test"})

	t0 := time.Now()
	tc.call(t, "AddSliceToNodes", "ts_push", []any{"n0.orbis.test", "n1.orbis.test", "n2.orbis.test"})
	for _, n := range nodes {
		waitFor(t, n.Host+" to get the sliver", 5*time.Second, func() bool { return n.has("ts_push") })
	}
	took := time.Since(t0)
	t.Logf("slice on 3 nodes after %v", took)
	if took > time.Second {
		t.Errorf("propagation to 3 nodes took %v, want < 1 s", took)
	}
	waitFor(t, "reports at central", 5*time.Second, func() bool {
		r := tc.call(t, "GetSliverReports", map[string]any{"name": "ts_push"}).([]any)
		running := 0
		for _, row := range r {
			if row.(map[string]any)["state"] == "running" {
				running++
			}
		}
		return running == 3
	})

	// Removing the slice from one node reaches it too.
	tc.call(t, "DeleteSliceFromNodes", "ts_push", []any{"n2.orbis.test"})
	waitFor(t, "n2 to drop the sliver", 2*time.Second, func() bool { return !nodes[2].has("ts_push") })

	// Cut central off with the slice about to expire: the nodes keep the
	// sliver until its expiry, then drop it on their own.
	expires := time.Now().Add(3 * time.Second).Unix()
	tc.call(t, "RenewSlice", "ts_push", expires)
	time.Sleep(500 * time.Millisecond) // let the new expiry reach the nodes
	tc.stop()
	time.Sleep(time.Until(time.Unix(expires, 0)) - 500*time.Millisecond)
	if !nodes[0].has("ts_push") || !nodes[1].has("ts_push") {
		t.Fatalf("a node cut from central dropped its sliver before its expiry: %v", nodes[0].RT.Calls())
	}
	for _, n := range nodes[:2] {
		waitFor(t, n.Host+" to expire the sliver", 5*time.Second, func() bool { return !n.has("ts_push") })
	}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
