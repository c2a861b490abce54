package sliver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	testutil.SweepCgroups("/sys/fs/cgroup")
	os.Exit(m.Run())
}

// node is a real sliver Manager on this machine: real cgroups under a
// test-only parent, a real btrfs disk image, a busybox reference image,
// all removed when the test ends.
type node struct {
	t   *testing.T
	m   *Manager
	ctx context.Context
	cg  cgroup.Manager
	uid uint32
}

var uidNext uint32 = 2000000

func newNode(t *testing.T) *node {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	log := testutil.Logger(t)
	state := t.TempDir()
	images := rootfs.NewStore(state, rootfs.Options{}, log)
	if _, err := images.Build(ctx, "busybox", "busybox", nil); err != nil {
		t.Fatalf("build image: %v", err)
	}
	dq, err := disk.Open(ctx, state, disk.Options{ImageSize: 4 << 30}, log)
	if err != nil {
		t.Fatalf("open disk: %v", err)
	}
	t.Cleanup(func() { dq.Close() })
	parent := fmt.Sprintf("orbistest-sliver-%d", os.Getpid())
	cg, err := cgroup.New("/sys/fs/cgroup", parent, log)
	if err != nil {
		t.Fatal(err)
	}
	fair, err := cgroup.New("/sys/fs/cgroup", parent+"/fair", log)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewManager(Options{StateDir: state + "/slivers", Cgroups: cg, Fair: fair, Disk: dq,
		Images: images, DefaultImage: "busybox", NumCPU: runtime.NumCPU(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{t: t, m: m, ctx: ctx, cg: cg}
	t.Cleanup(func() {
		names, _ := m.List(context.Background())
		for _, name := range names {
			if err := m.Destroy(context.Background(), name); err != nil {
				t.Errorf("cleanup: destroy %s: %v", name, err)
			}
		}
		testutil.RemoveNodeCgroups(t, "/sys/fs/cgroup", parent)
	})
	return n
}

// create makes and starts a sliver with its own UID range.
func (n *node) create(name string, rs api.Rspec, initscript string) Spec {
	n.t.Helper()
	uidNext += 65536
	s := Spec{Name: name, UIDBase: uidNext, UIDCount: 65536, InitScript: initscript, Rspec: rs,
		Keys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbisTestKey test@orbis"}}
	if err := n.m.Create(n.ctx, s); err != nil {
		n.t.Fatalf("create %s: %v", name, err)
	}
	if err := n.m.Start(n.ctx, name); err != nil {
		n.t.Fatalf("start %s: %v", name, err)
	}
	return s
}

// run runs a shell command as the sliver's root and returns its output
// and exit status.
func (n *node) run(name, script string) (string, int) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(n.ctx, 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	p, err := n.m.Exec(ctx, name, sandbox.Cmd{Args: []string{"/bin/sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err != nil {
		n.t.Fatalf("exec in %s: %v", name, err)
	}
	code, err := p.Wait()
	if err != nil {
		n.t.Fatalf("wait in %s: %v", name, err)
	}
	return strings.TrimSpace(out.String()), code
}

// mustRun is run that fails the test on a non-zero status.
func (n *node) mustRun(name, script string) string {
	n.t.Helper()
	out, code := n.run(name, script)
	if code != 0 {
		n.t.Fatalf("%s: %q exited %d: %s", name, script, code, out)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func shCmd(script string) sandbox.Cmd { return sandbox.Cmd{Args: []string{"/bin/sh", "-c", script}} }
