package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/testutil"
)

const nodeEntry = "orbis-test-node"

func init() {
	reexec.Register(nodeEntry, func() {
		ctx := context.Background()
		err := Run(ctx, Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3], Uplink: "none",
			SniffGroup: uint16(1000 + os.Getpid()%30000),
			Log:        testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	testutil.SweepCgroups("/sys/fs/cgroup")
	testutil.SweepPins(portmgr.DefaultPinDir)
	os.Exit(m.Run())
}

// testNode runs `orbis node` as a child process, so a test can SIGKILL it.
type testNode struct {
	t                    *testing.T
	state, sock, cgroups string
	cmd                  *exec.Cmd
	client               *api.NMClient
	// sshPort is the gateway's port, which the agent lists in the
	// node's ip_local_reserved_ports when it is in the ephemeral range.
	sshPort uint16
}

func startTestNode(t *testing.T, tn *testNode) {
	t.Helper()
	restorePingGroups(t)
	tn.cmd = reexec.Command(nodeEntry, tn.state, tn.sock, tn.cgroups)
	tn.cmd.Stderr = os.Stderr
	os.Remove(tn.sock)
	if err := tn.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tn.client = api.NewNMClient(tn.sock)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := tn.client.List(context.Background()); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("node did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// spawn starts the node agent of the reexec entry, with the state
// directory, socket and cgroup parent of tn and then args as arguments,
// waits until its node manager answers, and returns the node opened
// beside it for exec, as `orbis sliver exec` does. The agent is cleaned
// up when the test ends; closing the node is the caller's.
func (tn *testNode) spawn(entry string, args ...string) *Node {
	t := tn.t
	t.Helper()
	restorePingGroups(t) // registered first: runs after cleanupNode
	tn.cmd = reexec.Command(entry, append([]string{tn.state, tn.sock, tn.cgroups}, args...)...)
	tn.cmd.Stderr = os.Stderr
	if err := tn.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tn.client = api.NewNMClient(tn.sock)
	t.Cleanup(func() { cleanupNode(t, tn) })
	ctx := testutil.Context(t)
	waitUntil(t, "node up", func() bool { _, err := tn.client.List(ctx); return err == nil })
	n, err := Open(ctx, Config{StateDir: tn.state, CgroupParent: tn.cgroups, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (tn *testNode) kill() {
	tn.cmd.Process.Signal(syscall.SIGKILL)
	tn.cmd.Wait()
}

// TestCrashDuringBind kills the node agent with SIGKILL at several points
// of a bind, restarts it, and checks that every sliver is either whole and
// known to the node manager or gone without a trace, and that slivers that
// were running before are undisturbed.
func TestCrashDuringBind(t *testing.T) {
	testutil.RequireRoot(t)
	state := t.TempDir()
	tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-node-%d", os.Getpid())}
	ctx := testutil.Context(t)
	if _, err := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t)).Build(ctx, "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
	startTestNode(t, tn)
	t.Cleanup(func() { cleanupNode(t, tn) })

	// A sliver that runs throughout: a crash of the agent must not touch it.
	bind(t, tn, "pl_survivor", "exec sleep 1000")
	waitUntil(t, "survivor running", func() bool {
		l, _ := tn.client.List(ctx)
		for _, s := range l.Slivers {
			if s.Name == "pl_survivor" && s.Procs > 0 {
				return true
			}
		}
		return false
	})
	sleepPid := procIn(t, tn, "pl_survivor")

	for i, delay := range []time.Duration{0, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		name := fmt.Sprintf("pl_crash%d", i)
		rc, err := tn.client.Acquire(ctx, api.Rspec{Privileges: api.Privileges{CreateSliver: true}})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tn.client.Bind(ctx, name, rc, api.BindAttrs{InitScript: "echo up"}) }()
		time.Sleep(delay)
		tn.kill()
		<-done
		startTestNode(t, tn)
		checkConsistent(t, tn, name)
	}
	if err := syscall.Kill(sleepPid, 0); err != nil {
		t.Errorf("the survivor's process died across agent crashes: %v", err)
	}
}

func bind(t *testing.T, tn *testNode, name, script string) api.Rcap {
	t.Helper()
	ctx := context.Background()
	rc, err := tn.client.Acquire(ctx, api.Rspec{Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.client.Bind(ctx, name, rc, api.BindAttrs{InitScript: script}); err != nil {
		t.Fatal(err)
	}
	return rc
}

// checkConsistent: the node manager and the node's disk, cgroups and
// sliver state agree on whether the sliver exists.
func checkConsistent(t *testing.T, tn *testNode, name string) {
	t.Helper()
	ctx := context.Background()
	l, err := tn.client.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	known := false
	for _, s := range l.Slivers {
		if s.Name == name {
			known = true
			if s.State != "running" && s.State != "idle" {
				t.Errorf("%s after restart: state %s (%s)", name, s.State, s.Reason)
			}
		}
	}
	traces := tracesOf(tn, name)
	if !known && len(traces) > 0 {
		t.Errorf("%s: node manager does not know it, but it left %v", name, traces)
	}
	if known && len(traces) < 3 {
		t.Errorf("%s: node manager knows it, but only %v exist", name, traces)
	}
	t.Logf("%s: known=%v traces=%v", name, known, traces)
}

// tracesOf lists what of a sliver exists on the node.
func tracesOf(tn *testNode, name string) []string {
	var out []string
	for what, p := range map[string]string{
		"state dir": filepath.Join(tn.state, "slivers", name),
		"disk dir":  filepath.Join(tn.state, "disk", "slivers", name),
		"cgroup":    filepath.Join("/sys/fs/cgroup/pids", tn.cgroups, "fair", name),
	} {
		if _, err := os.Stat(p); err == nil {
			out = append(out, what)
		}
	}
	slices.Sort(out)
	return out
}

func procIn(t *testing.T, tn *testNode, name string) int {
	b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", tn.cgroups, "fair", name, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupNode destroys every sliver through the node manager, stops the
// agent and removes its cgroups and disk.
func cleanupNode(t *testing.T, tn *testNode) {
	ctx := context.Background()
	if l, err := tn.client.List(ctx); err == nil {
		for _, s := range l.Slivers {
			if err := tn.client.Destroy(ctx, s.Name); err != nil {
				t.Errorf("cleanup: destroy %s: %v", s.Name, err)
			}
		}
	}
	tn.kill()
	// The agent died without removing its lock file and nft tables:
	// remove them.
	os.Remove(filepath.Join(RunDir, "node-"+tn.cgroups+".lock"))
	exec.Command("nft", "delete", "table", "inet", tn.cgroups).Run()
	exec.Command("nft", "delete", "table", "inet", tn.cgroups+"_rawfd").Run()
	exec.Command("nft", "delete", "table", "netdev", tn.cgroups+"_rawfd_pkt").Run()
	exec.Command("nft", "delete", "table", "inet", "orbis_rawsock").Run()
	// The agent died without detaching its port manager: unpin it.
	if err := os.RemoveAll(filepath.Join(portmgr.DefaultPinDir, tn.cgroups)); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	n, err := Open(ctx, Config{StateDir: tn.state, CgroupParent: tn.cgroups, Log: testLog()})
	if err == nil {
		names, _ := n.Slivers.List(ctx)
		for _, name := range names {
			n.Slivers.Destroy(ctx, name)
		}
		n.Close()
	}
	// The killed agent never detached: its ports stay listed.
	if tn.sshPort != 0 {
		if err := portmgr.RemoveLocalReserved("/proc/sys/net/ipv4/ip_local_reserved_ports", tn.sshPort); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	testutil.RemoveNodeCgroups(t, "/sys/fs/cgroup", tn.cgroups)
	os.RemoveAll(filepath.Dir(sliverRunDir(tn.cgroups)))
	exec.Command("umount", filepath.Join(tn.state, "disk")).Run()
}
