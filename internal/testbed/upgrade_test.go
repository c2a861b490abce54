package testbed_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// buildVersion builds orbis with the build version version.
func buildVersion(t testing.TB, version string) string {
	bin := filepath.Join(t.TempDir(), "orbis")
	out, err := exec.Command(goTool(), "build", "-ldflags", "-X github.com/orbisproject/orbis/internal/cli.Version="+version,
		"-o", bin, "github.com/orbisproject/orbis/cmd/orbis").CombinedOutput()
	if err != nil {
		t.Fatalf("build orbis %s: %v\n%s", version, err, out)
	}
	return bin
}

// adminCLI runs an orbis CLI command as the testbed's admin, in this
// process, and returns its output.
func adminCLI(t testing.TB, st *testbed.State, args ...string) (string, error) {
	adm, err := testbed.ReadAdmin(st)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := api.NewCentralClientTLS(st.CentralURL, "", centralVerifier(t, st)).Login(context.Background(), adm.Email, adm.Password)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args = append(args, "--central", st.CentralURL, "--ca", st.CAFile, "--token", tok)
	err = cli.Run(context.Background(), args, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// nodeVersions returns each node's version as `orbis nodes list` shows it.
func nodeVersions(t testing.TB, st *testbed.State) map[string]string {
	out, err := adminCLI(t, st, "nodes", "list")
	if err != nil {
		t.Fatalf("orbis nodes list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := slices.Index(strings.Fields(lines[0]), "VERSION")
	if col < 0 {
		t.Fatalf("orbis nodes list shows no VERSION:\n%s", out)
	}
	vers := map[string]string{}
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > col {
			vers[f[1]] = f[col]
		}
	}
	return vers
}

// sleepers returns the host pids of the sleep processes of the testbed's
// slivers, with their start times ("pid/start").
func sleepers(t testing.TB, st *testbed.State, ranges uint32, arg string) []string {
	var out []string
	for _, p := range sliverProcs(st, ranges) {
		f := strings.Fields(p) // "sliver process PID (uid U) of HOST"
		cmd, _ := os.ReadFile("/proc/" + f[2] + "/cmdline")
		stat, _ := os.ReadFile("/proc/" + f[2] + "/stat")
		if bytes.Equal(cmd, []byte("sleep\x00"+arg+"\x00")) {
			sf := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
			out = append(out, f[2]+"/"+sf[19])
		}
	}
	slices.Sort(out)
	return out
}

// runsNewAgent reports whether node n's agent process executes the
// node's executable as it is now and answers on its node manager socket.
func runsNewAgent(n testbed.Node) bool {
	a, err1 := os.Stat(fmt.Sprintf("/proc/%d/exe", n.Proc.Pid))
	b, err2 := os.Stat(testbed.NodeBinary(&n))
	if err1 != nil || err2 != nil || !os.SameFile(a, b) {
		return false
	}
	_, err := api.NewNMClient(n.NMSocket).List(context.Background())
	return err == nil
}

// TestUpgradeNodes upgrades a testbed's nodes from central with `orbis
// nodes upgrade`: every node runs the new build (`orbis nodes list` shows
// its version), the agent kept its pid, and a process in a running sliver
// was not disturbed (same pid, same start). Then a build that exits at
// once is published to one node: that node rolls back to the build it ran
// and refuses the bad one for good.
func TestUpgradeNodes(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	cfg.OwnBinary, cfg.UpgradeCheck = true, time.Second
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	key := newUser(t, p, "upgrade@orbis.test")
	slice := testbed.Site + "_upgrade"
	newSlice(p, slice, "upgrade@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitRunning(t, p, slice, len(st.Nodes))
	for _, n := range st.Nodes {
		ssh(t, key, slice, n, "sleep 100007 </dev/null >/dev/null 2>&1 &")
	}
	before := sleepers(t, st, cfg.UIDRanges, "100007")
	if len(before) != len(st.Nodes) {
		t.Fatalf("sleepers in the slivers: %v", before)
	}
	for host, v := range nodeVersions(t, st) {
		if v != "dev" {
			t.Fatalf("%s reports version %q before the upgrade, want the test build's \"dev\"", host, v)
		}
	}

	version := "tb-upgrade-" + strconv.Itoa(os.Getpid())
	newBin := buildVersion(t, version)
	// Refused: an unknown node, a user who is not an admin.
	if out, err := adminCLI(t, st, "nodes", "upgrade", "--binary", newBin, "--nodes", "nosuch.testbed"); err == nil || !strings.Contains(out+err.Error(), `no node "nosuch.testbed"`) {
		t.Errorf("upgrade of an unknown node: %v\n%s", err, out)
	}
	f, _ := os.Open(newBin)
	defer f.Close()
	fi, _ := f.Stat()
	_, err := api.NewCentralClientTLS(st.CentralURL, userToken(t, st, "upgrade@orbis.test"), centralVerifier(t, st)).
		PublishUpgrade(context.Background(), "evil", runtime.GOARCH, f, fi.Size(), nil, 0)
	if err == nil || !strings.Contains(err.Error(), "only an admin") {
		t.Errorf("a user who is not an admin published an upgrade: %v", err)
	}
	out, err := adminCLI(t, st, "nodes", "upgrade", "--binary", newBin)
	t.Logf("orbis nodes upgrade: %s", out)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every node to run the new version", 90*time.Second, func() bool {
		for _, v := range nodeVersions(t, st) {
			if v != version {
				return false
			}
		}
		for _, n := range st.Nodes {
			if !runsNewAgent(n) {
				return false
			}
		}
		return true
	})
	want, _ := os.ReadFile(newBin)
	for _, n := range st.Nodes {
		if !n.Proc.Alive() {
			t.Errorf("%s: the agent's pid %d is gone", n.Hostname, n.Proc.Pid)
		}
		if got, _ := os.ReadFile(testbed.NodeBinary(&n)); !bytes.Equal(got, want) {
			t.Errorf("%s runs an executable that is not the new build", n.Hostname)
		}
		if _, err := api.NewNMClient(n.NMSocket).List(context.Background()); err != nil {
			t.Errorf("%s: node manager after the upgrade: %v", n.Hostname, err)
		}
	}
	if after := sleepers(t, st, cfg.UIDRanges, "100007"); !slices.Equal(after, before) {
		t.Errorf("slivers' processes (pid/start) before the upgrade %v, after %v", before, after)
	}
	if got := ssh(t, key, slice, st.Nodes[0], "echo still here"); got != "still here\n" {
		t.Errorf("ssh into the sliver after the upgrade: %q", got)
	}

	// A build that exits at once, for node 0 alone: rolled back.
	bad := filepath.Join(t.TempDir(), "orbis")
	if data, err := os.ReadFile("/bin/false"); err != nil || os.WriteFile(bad, data, 0o755) != nil {
		t.Fatal(err)
	}
	n := st.Nodes[0]
	out, err = adminCLI(t, st, "nodes", "upgrade", "--binary", bad, "--version", "broken", "--nodes", n.Hostname)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	refused := filepath.Join(n.StateDir, "upgrade", "refused")
	waitFor(t, "node 0 to roll back the broken build", 90*time.Second, func() bool {
		b, _ := os.ReadFile(refused)
		return len(b) > 0
	})
	waitFor(t, "node 0's agent to serve again", 30*time.Second, func() bool {
		_, err := api.NewNMClient(n.NMSocket).List(context.Background())
		return err == nil
	})
	if got, _ := os.ReadFile(testbed.NodeBinary(&n)); !bytes.Equal(got, want) {
		t.Error("node 0's executable is not the build it ran before the broken one")
	}
	if !n.Proc.Alive() {
		t.Error("node 0's agent died in the rollback")
	}
	time.Sleep(3 * cfg.UpgradeCheck) // it does not try the broken build again
	if vers := nodeVersions(t, st); vers[n.Hostname] != version {
		t.Errorf("node 0 reports %q after the rollback, want %q", vers[n.Hostname], version)
	}
	if after := sleepers(t, st, cfg.UIDRanges, "100007"); !slices.Equal(after, before) {
		t.Errorf("slivers' processes (pid/start) before %v, after the rollback %v", before, after)
	}
	if b, _ := os.ReadFile(refused); strings.Count(string(b), "\n") != 1 {
		t.Errorf("the broken build was tried more than once: refused %q", b)
	}
}

// BenchmarkUpgrade upgrades every node of a testbed of N nodes
// (ORBIS_UPGRADE_NODES, default 10), each with a running sliver holding a
// long-running process, with `orbis nodes upgrade`, and reports the time
// from the publish until every node runs the new agent (its pid kept,
// answering on its node manager socket, its version at central). It fails
// if a sliver's process did not survive.
//
//	ORBIS_UPGRADE_NODES=100 go test -run XXX -bench Upgrade -benchtime 1x ./internal/testbed/
func BenchmarkUpgrade(b *testing.B) {
	testutil.RequireRoot(b)
	n, _ := strconv.Atoi(os.Getenv("ORBIS_UPGRADE_NODES"))
	if n <= 0 {
		n = 10
	}
	cfg := testConfig(b, n)
	cfg.Log, cfg.OwnBinary, cfg.UpgradeCheck = nil, true, 2*time.Second
	t0 := time.Now()
	st, err := testbed.Up(context.Background(), cfg)
	defer testbed.Down(context.Background(), cfg)
	if err != nil {
		b.Fatalf("up %d nodes: %v", n, err)
	}
	b.Logf("up %d nodes: %v", n, time.Since(t0))
	p := newPLC(b, st)
	key := newUser(b, p, "upbench@orbis.test")
	slice := testbed.Site + "_upbench"
	newSlice(p, slice, "upbench@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitFor(b, "slivers on every node", 5*time.Minute, func() bool {
		rows, _ := p.call("GetSliverReports", map[string]any{"name": slice}).([]any)
		return len(rows) == n
	})
	for _, nd := range st.Nodes {
		ssh(b, key, slice, nd, "sleep 100009 </dev/null >/dev/null 2>&1 &")
	}
	before := sleepers(b, st, cfg.UIDRanges, "100009")
	if len(before) != n {
		b.Fatalf("%d sleepers in %d slivers", len(before), n)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		version := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
		bin := buildVersion(b, version)
		b.StartTimer()
		t0 := time.Now()
		if out, err := adminCLI(b, st, "nodes", "upgrade", "--binary", bin); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		published := time.Since(t0)
		waitFor(b, "every node to run the new version", 10*time.Minute, func() bool {
			for _, nd := range st.Nodes {
				if !runsNewAgent(nd) {
					return false
				}
			}
			for _, v := range nodeVersions(b, st) {
				if v != version {
					return false
				}
			}
			return true
		})
		took := time.Since(t0)
		b.ReportMetric(took.Seconds(), "s-to-all-upgraded")
		b.ReportMetric(published.Seconds(), "s-publish")
		b.Logf("N=%d: published in %.2f s, all upgraded %.2f s after the publish (nodes check every %v)", n, published.Seconds(), took.Seconds(), cfg.UpgradeCheck)
	}
	if after := sleepers(b, st, cfg.UIDRanges, "100009"); !slices.Equal(after, before) {
		b.Fatalf("slivers' processes disturbed: before %d %v, after %d %v", len(before), before, len(after), after)
	}
	for _, nd := range st.Nodes {
		if !nd.Proc.Alive() {
			b.Fatalf("%s: agent pid changed", nd.Hostname)
		}
	}
}
