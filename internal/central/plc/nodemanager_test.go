package plc_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// nmReport is what testdata/nm_getslivers.py prints: what NodeManager's
// own modules read and did with a node's GetSlivers answer.
type nmReport struct {
	Missing   []string          `json:"missing"`
	Errors    []string          `json:"errors"`
	Records   []nmRecord        `json:"records"`
	Fetched   []string          `json:"fetched"`
	Installed map[string]string `json:"installed"`
	Commands  []string          `json:"commands"`
	Bwlimit   [][]any           `json:"bwlimit"`
	Policy    string            `json:"policy"`
	Timers    int               `json:"timers"`
	Defaults  map[string]string `json:"defaults"`
}

// nmRecord is one sliver as slivermanager delivers it to its database.
type nmRecord struct {
	Name             string `json:"name"`
	InitScript       string `json:"initscript"`
	Vref             string `json:"vref"`
	Keys             string `json:"keys"`
	Type             string `json:"type"`
	CPUShare         int64  `json:"cpu_share"`
	ReservationAlive *bool  `json:"reservation_alive"`
}

// TestNodeManagerReadsGetSlivers runs PlanetLab's NodeManager modules
// (testdata/nodemanager, unmodified) on the GetSlivers answers of a real
// central, served over XML-RPC, for a regular and a reservable node:
// every key they read must be there, and what they make of it (the
// slivers' initscripts, images, keys and shares, the conf files, the
// site_admin and root keys, the leases) must be what central holds.
func TestNodeManagerReadsGetSlivers(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed to run NodeManager's code (it is on every machine here)")
	}
	e := newEnv(t)
	now := time.Now().Unix()
	e.clock.Store(now) // NodeManager reads leases against its own clock
	site, node, secret := e.registeredNode()
	rnode, rsecret := e.reservableNode(site, "node2.plc.org")
	scratch := t.TempDir()

	pi := e.person("pi@plc.org", site, "pi")
	e.must(pi, "AddPersonKey", pi.PersonID, map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAApi pi@plc"})
	e.must(e.admin, "AddPersonKey", e.admin.PersonID, map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAAadmin admin@plc"})
	user := e.person("user@plc.org", site, "user")
	e.must(user, "AddPersonKey", user.PersonID, map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAAuser user@plc"})

	const script = "#!/bin/sh\nexec python3 -m http.server 8080"
	e.must(e.admin, "AddInitScript", map[string]any{"name": "web", "script": script})
	web := e.id(e.admin, "AddSlice", map[string]any{"name": "plc_web"})
	e.must(e.admin, "AddSliceToNodes", web, []any{node, rnode})
	e.must(e.admin, "AddPersonToSlice", user.PersonID, web)
	e.must(e.admin, "AddSliceTag", web, "initscript", "web")
	e.must(e.admin, "AddSliceTag", web, "vref", "f39")
	e.must(e.admin, "AddSliceTag", web, "cpu_share", "7")
	def := e.id(e.admin, "AddSlice", map[string]any{"name": "plc_default"})
	e.must(e.admin, "AddSliceToNodes", def, []any{node})
	e.must(e.admin, "AddSliceTag", def, "net_max_rate", "1000")
	motd := filepath.Join(scratch, "etc", "motd")
	e.must(e.admin, "AddConfFile", map[string]any{"source": "PlanetLabConf/motd", "dest": motd, "postinstall_cmd": "touch /tmp/x"})
	e.must(e.admin, "AddLeases", []any{rnode}, web, now-60, now+3600)
	url := e.serve()

	r := e.runNodeManager(py, url, node, secret, scratch)
	if got := names(r.Records); !slices.Equal(got, []string{"plc_default", "plc_web"}) {
		t.Errorf("slivers delivered: %v, want plc_default and plc_web", got)
	}
	w := record(t, r.Records, "plc_web")
	if w.InitScript != script || w.Vref != "f39" || w.Keys != "ssh-ed25519 AAAAuser user@plc" || w.CPUShare != 7 || w.Type != "sliver.LXC" {
		t.Errorf("plc_web as NodeManager takes it: %+v", w)
	}
	if r.Defaults["net_max_rate"] != "1000" {
		t.Errorf("PLC-wide defaults from plc_default: %v", r.Defaults)
	}
	want := "https://boot.example.org/PlanetLabConf/motd?node_id=" + strconv.FormatInt(node, 10)
	if !slices.Equal(r.Fetched, []string{want}) || r.Installed[motd] != "contents of "+want || !slices.Contains(r.Commands, "touch /tmp/x") {
		t.Errorf("conf file: fetched %v, installed %q, ran %v", r.Fetched, r.Installed[motd], r.Commands)
	}
	keys := func(account string) string {
		return r.Installed[filepath.Join(scratch, "home", account, ".ssh", "authorized_keys")]
	}
	if keys("site_admin") != "ssh-ed25519 AAAApi pi@plc\n" || keys("root") != "ssh-ed25519 AAAAadmin admin@plc\n" {
		t.Errorf("accounts: site_admin %q, root %q", keys("site_admin"), keys("root"))
	}
	if r.Policy != "none" || len(r.Bwlimit) != 1 || r.Bwlimit[0][0] != "lo" {
		t.Errorf("regular node: reservation policy %q, bwlimit %v", r.Policy, r.Bwlimit)
	}

	r = e.runNodeManager(py, url, rnode, rsecret, scratch)
	w = record(t, r.Records, "plc_web")
	if r.Policy != "lease_or_idle" || r.Timers == 0 || w.ReservationAlive == nil || !*w.ReservationAlive {
		t.Errorf("reservable node: policy %q, %d timers, plc_web alive %v", r.Policy, r.Timers, w.ReservationAlive)
	}
}

// reservableNode adds a reservable node at site and registers it.
func (e *env) reservableNode(site int64, hostname string) (int64, string) {
	e.t.Helper()
	id := e.node(site, hostname)
	e.must(e.admin, "UpdateNode", id, map[string]any{"node_type": "reservable"})
	token := e.must(e.admin, "AddNodeToken", id).(string)
	id, secret, err := e.svc.RegisterNode(e.ctx, token, hostname, "127.0.0.1", "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return id, secret
}

// runNodeManager gets a session for the node as NodeManager does and
// runs testdata/nm_getslivers.py with it; missing keys and module
// errors fail the test.
func (e *env) runNodeManager(py, url string, node int64, secret, scratch string) nmReport {
	e.t.Helper()
	nc, err := e.svc.Authenticate(e.ctx, plc.NodeAuth(node, secret, "GetSession", e.clock.Load(), nil), "GetSession", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	session := e.must(nc, "GetSession").(string)
	out := runPython(e.t, e.ctx, py, "testdata/nm_getslivers.py", url, session, strconv.FormatInt(node, 10), scratch)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r nmReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		e.t.Fatalf("report: %v\n%s", err, out)
	}
	if len(r.Missing) > 0 || len(r.Errors) > 0 {
		e.t.Errorf("node %d: NodeManager read keys GetSlivers lacks: %v; its modules failed: %v", node, r.Missing, r.Errors)
	}
	return r
}

// runPython runs python3 on args, within a minute, and returns what it
// printed; it fails the test with its stderr if it fails.
func runPython(t *testing.T, ctx context.Context, py string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("python3 %s: %v\n%s%s", args[0], err, out, stderr)
	}
	return out
}

func names(recs []nmRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return out
}

func record(t *testing.T, recs []nmRecord, name string) nmRecord {
	t.Helper()
	for _, r := range recs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("NodeManager delivered no sliver %s (got %v)", name, names(recs))
	return nmRecord{}
}
