package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/testutil"
)

// prodEntry runs the node agent as production runs it: shaping its
// uplink, the SSH gateway, sensors, auditor and the whole network layer on,
// slivers left running at exit, SIGTERM ending it.
const prodEntry = "orbis-test-node-prod"

func init() {
	reexec.Register(prodEntry, func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		a := os.Args
		err := Run(ctx, Config{StateDir: a[1], NMSocket: a[2], CgroupParent: a[3], Uplink: a[4],
			SSHAddr: DefaultSSHAddr, SensorAddr: DefaultSensorAddr, AuditAddr: "127.0.0.1:8080",
			PortScope: "node", Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// prodNode is an agent of prodEntry in a network namespace of its own,
// whose veth is its uplink.
type prodNode struct {
	*testNode
	net *nettest.Pair
}

// start starts the agent, always with the same command line, and waits
// for its node manager.
func (pn *prodNode) start() {
	t := pn.t
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// nsenter puts the agent in the namespace; bash's exec -a gives it
	// the argv[0] that selects the entry point.
	pn.cmd = exec.Command("nsenter", "--net="+pn.net.SendNS, "--", "bash", "-c", `exec -a "$0" "$@"`,
		prodEntry, exe, pn.state, pn.sock, pn.cgroups, pn.net.SendDev)
	pn.cmd.Stderr = os.Stderr
	os.Remove(pn.sock)
	if err := pn.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { pn.cmd.Process.Wait(); close(exited) }()
	pn.client = api.NewNMClient(pn.sock)
	began := time.Now()
	deadline := began.Add(30 * time.Second)
	for {
		if l, err := pn.client.List(context.Background()); err == nil {
			t.Logf("agent up in %v with %d slivers", time.Since(began).Round(time.Millisecond), len(l.Slivers))
			return
		}
		select {
		case <-exited:
			t.Fatal("node agent exited at start-up (see its log)")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("node did not come up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the agent with sig and waits for it.
func (pn *prodNode) stop(sig syscall.Signal) {
	pn.cmd.Process.Signal(sig)
	pn.cmd.Wait()
}

// TestRestartProduction stops the agent of a production node (shaping on,
// no --suspend-on-exit) with SIGKILL and SIGTERM while it is idle, while
// 20 slices are being deployed and while they are being removed, and
// restarts it with the same command line: it comes up every time, a
// sliver running throughout is undisturbed, its uplink stays shaped with
// exactly the classes of the slivers it has, and every sliver converges.
func TestRestartProduction(t *testing.T) {
	testutil.RequireRoot(t)
	state := t.TempDir()
	pn := &prodNode{
		testNode: &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-prod-%d", os.Getpid())},
		net:      nettest.NewPair(t),
	}
	ctx := testutil.Context(t)
	if _, err := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t)).Build(ctx, "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
	pn.start()
	t.Cleanup(func() { cleanupNode(t, pn.testNode) })
	bind(t, pn.testNode, "pl_survivor", "exec sleep 1000")
	waitUntil(t, "survivor running", func() bool { return procsOf(pn, "pl_survivor") > 0 })
	sleepPid := procIn(t, pn.testNode, "pl_survivor")

	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("pl_dep%02d", i)
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			pn.t = t
			// Idle.
			pn.stop(sig)
			pn.restartAndCheck()
			// Mid-deployment: converge by deploying what is missing, as
			// central would.
			pn.during(sig, func(ctx context.Context) {
				for _, name := range names {
					if ctx.Err() != nil || bindErr(pn, name) != nil {
						return
					}
				}
			})
			for _, name := range names {
				if !pn.known(name) {
					if err := bindErr(pn, name); err != nil {
						t.Errorf("deploy %s after restart: %v", name, err)
					}
				}
			}
			waitUntil(t, "20 slivers running", func() bool {
				for _, name := range names {
					if procsOf(pn, name) == 0 {
						return false
					}
				}
				return true
			})
			pn.checkShaped()
			// Mid-removal: converge by removing what is left.
			pn.during(sig, func(ctx context.Context) {
				for _, name := range names {
					if ctx.Err() != nil || pn.client.Destroy(context.Background(), name) != nil {
						return
					}
				}
			})
			for _, name := range names {
				if pn.known(name) {
					if err := pn.client.Destroy(ctx, name); err != nil {
						t.Errorf("remove %s after restart: %v", name, err)
					}
				}
				if tr := tracesOf(pn.testNode, name); len(tr) > 0 {
					t.Errorf("%s removed, but %v remain", name, tr)
				}
			}
			pn.checkShaped()
		})
	}
	pn.t = t
	if err := syscall.Kill(sleepPid, 0); err != nil {
		t.Errorf("the survivor's process died across agent restarts: %v", err)
	}
	if procIn(t, pn.testNode, "pl_survivor") != sleepPid {
		t.Errorf("the survivor's process was replaced")
	}
}

// during runs work and stops the agent with sig part-way through it (once
// a few slivers came or went), then restarts the agent and checks it.
func (pn *prodNode) during(sig syscall.Signal, work func(ctx context.Context)) {
	before := len(pn.list().Slivers)
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); work(wctx) }()
	waitUntil(pn.t, "work under way", func() bool {
		n := len(pn.list().Slivers)
		return n >= before+5 || n <= before-5
	})
	pn.stop(sig)
	cancel()
	<-done
	pn.restartAndCheck()
}

// restartAndCheck restarts the agent and checks that every sliver is
// whole or gone, and the survivor runs.
func (pn *prodNode) restartAndCheck() {
	t := pn.t
	t.Helper()
	pn.start()
	for _, s := range pn.list().Slivers {
		checkConsistent(t, pn.testNode, s.Name)
	}
	if procsOf(pn, "pl_survivor") == 0 {
		t.Error("the survivor has no process after the restart")
	}
	pn.checkShaped()
	// The SSH gateway answers again in the node's namespace.
	err := nettest.InNS(pn.net.SendNS, func() error {
		c, err := net.DialTimeout("tcp", DefaultSSHAddr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 8)
		if _, err := c.Read(b); err != nil || !strings.HasPrefix(string(b), "SSH-2.0") {
			return fmt.Errorf("banner %q: %v", b, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("ssh gateway after restart: %v", err)
	}
}

// checkShaped checks that the uplink is shaped by the agent's HTB tree,
// with two classes for each sliver (after the restart's pruning).
func (pn *prodNode) checkShaped() {
	t := pn.t
	t.Helper()
	ns := strings.TrimPrefix(pn.net.SendNS, "/run/netns/")
	q, err := exec.Command("ip", "netns", "exec", ns, "tc", "qdisc", "show", "dev", pn.net.SendDev).CombinedOutput()
	if err != nil || !strings.Contains(string(q), "qdisc htb 1: root") {
		t.Fatalf("uplink not shaped: %v: %s", err, q)
	}
	out, err := exec.Command("ip", "netns", "exec", ns, "tc", "class", "show", "dev", pn.net.SendDev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc class show: %v: %s", err, out)
	}
	classes := strings.Count(string(out), "class htb")
	if want := 2 + 2*len(pn.list().Slivers); classes != want {
		t.Errorf("%d HTB classes on the uplink, want %d (root, node, two per sliver):\n%s", classes, want, out)
	}
}

func (pn *prodNode) list() api.NMList {
	l, err := pn.client.List(context.Background())
	if err != nil {
		pn.t.Fatal(err)
	}
	return l
}

func (pn *prodNode) known(name string) bool {
	for _, s := range pn.list().Slivers {
		if s.Name == name {
			return true
		}
	}
	return false
}

func procsOf(pn *prodNode, name string) int {
	for _, s := range pn.list().Slivers {
		if s.Name == name {
			return s.Procs
		}
	}
	return 0
}

func bindErr(pn *prodNode, name string) error {
	ctx := context.Background()
	rc, err := pn.client.Acquire(ctx, api.Rspec{Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		return err
	}
	if err := pn.client.Bind(ctx, name, rc, api.BindAttrs{InitScript: "exec sleep 1000"}); err != nil {
		return errors.Join(err, pn.client.Release(ctx, rc))
	}
	return nil
}
