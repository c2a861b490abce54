package sensor

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/testutil"
)

// startCentral runs a real central on a loopback port with one site and
// two nodes, and returns its URL.
func startCentral(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := central.Open(ctx, central.Config{DataDir: dir, AdminEmail: "admin@orbis.test", Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	url := "http://" + ln.Addr().String()
	var adm central.Admin
	if b, err := os.ReadFile(central.AdminFile(dir)); err != nil || json.Unmarshal(b, &adm) != nil {
		t.Fatalf("admin.json: %v", err)
	}
	token, err := api.NewCentralClient(url, "").Login(ctx, adm.Email, adm.Password)
	if err != nil {
		t.Fatal(err)
	}
	admin := api.NewCentralClient(url, token)
	site, err := admin.AddSite(ctx, map[string]any{"name": "Princeton", "abbreviated_name": "P", "login_base": "princeton", "enabled": true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []map[string]any{{"hostname": "planetlab-1.cs.princeton.edu", "ip": "128.112.139.71"}, {"hostname": "planetlab-2.cs.princeton.edu", "ip": "128.112.139.72"}} {
		if _, err := admin.AddNode(ctx, site, n); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// TestCentralNodes reads the node list from a real central, anonymously,
// through the sensor server as the paper's example does.
func TestCentralNodes(t *testing.T) {
	url := startCentral(t)
	var centralURL string
	src := NewCentralNodes(func() string { return centralURL })
	if _, err := src.Nodes(context.Background()); err == nil {
		t.Error("a node following no central lists nodes")
	}
	centralURL = url + "/"
	_, base := startServer(t, Config{Nodes: src})
	res, body := get(t, "GET", base+"/nodes/ip/name")
	want := "ip,name\n128.112.139.71,planetlab-1.cs.princeton.edu\n128.112.139.72,planetlab-2.cs.princeton.edu\n"
	if res.StatusCode != 200 || body != want {
		t.Errorf("/nodes/ip/name: %d %q, want %q", res.StatusCode, body, want)
	}
	_, body = get(t, "GET", base+"/nodes/site")
	if body != "site\nprinceton\nprinceton\n" {
		t.Errorf("/nodes/site: %q", body)
	}
}
