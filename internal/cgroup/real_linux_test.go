package cgroup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// newRealManager returns a manager over the real cgroups at root, under a
// parent of its own named orbistest-<pid>-<tag>, and removes every cgroup
// it made when the test ends, even on failure.
func newRealManager(t *testing.T, root, tag string) *manager {
	t.Helper()
	testutil.RequireRoot(t)
	parent := fmt.Sprintf("orbistest-%d-%s", os.Getpid(), tag)
	mi, err := New(root, parent, testutil.Logger(t))
	if err != nil {
		t.Fatalf("New(%s): %v", root, err)
	}
	m := mi.(*manager)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		names, err := m.List()
		if err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, n := range names {
			if err := m.Remove(ctx, n); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		for _, h := range m.lay.hierarchies() {
			if err := m.removeTree(ctx, path.Join(h, parent)); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		m.fs.Close()
	})
	return m
}

// startProc starts a command that is killed and reaped when the test ends.
// Its exited channel closes when it has been reaped.
type realProc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // the Wait error, once exited is closed
}

func startProc(t *testing.T, cmd *exec.Cmd) *realProc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	p := &realProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// died waits up to ten seconds for the process to be reaped: every caller
// expects a death, and an emulated machine (make test-vm) takes seconds
// to start a test binary and OOM-kill it.
func (p *realProc) died() bool {
	select {
	case <-p.exited:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func sleeper(t *testing.T) testProc {
	p := startProc(t, exec.Command("sleep", "100"))
	return testProc{pid: p.cmd.Process.Pid, dead: p.died}
}

// TestHybridSuite runs the shared suite on this machine's cgroups: v1
// controllers plus the unified v2 tree (or pure v2 on such a machine).
func TestHybridSuite(t *testing.T) {
	m := newRealManager(t, "/sys/fs/cgroup", "suite")
	t.Logf("mode %s, controllers %v", m.Mode(), m.Controllers())
	testManagerSuite(t, m, sleeper)
}

// v2Root returns where this machine's cgroup v2 tree is mounted:
// /sys/fs/cgroup itself on a pure v2 machine, the unified tree under it on
// a hybrid one (where it has no controllers). Every machine Orbis supports
// has one.
func v2Root(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := parseMountinfo(f, "/sys/fs/cgroup")
	switch {
	case err != nil:
		t.Fatal(err)
	case l.unified == "":
		t.Fatal("no cgroup v2 tree at or under /sys/fs/cgroup")
	}
	return path.Join("/sys/fs/cgroup", l.unified)
}

// TestUnifiedSuite runs the shared suite in v2 mode over the machine's v2
// tree. On a hybrid machine that tree has no controllers, which exercises
// the v2 code's cgroup.procs, cpu.stat, cgroup.kill and the refusal of
// every limit for real; on a pure v2 machine it enforces every limit.
func TestUnifiedSuite(t *testing.T) {
	testutil.RequireRoot(t)
	root := v2Root(t)
	m := newRealManager(t, root, "v2")
	t.Logf("v2 tree at %s, controllers %v", root, m.Controllers())
	if m.Mode() != "v2" {
		t.Fatalf("Mode = %s, want v2", m.Mode())
	}
	testManagerSuite(t, m, sleeper)
}

// TestEnterEveryHierarchy checks, as a user would in /proc/<pid>/cgroup,
// that Enter moves a process in every hierarchy, the v2 one included.
func TestEnterEveryHierarchy(t *testing.T) {
	m := newRealManager(t, "/sys/fs/cgroup", "enter")
	const name = "orbistest-e"
	if err := m.Set(name, Resources{}); err != nil {
		t.Fatal(err)
	}
	pid := sleeper(t).pid
	if err := m.Enter(name, pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	want := "/" + m.parent + "/" + name
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if !m.isOurs(f[1]) {
			continue
		}
		seen++
		if f[2] != want {
			t.Errorf("/proc/%d/cgroup: %q, want %s there", pid, line, want)
		}
	}
	if n := len(m.lay.hierarchies()); seen != n {
		t.Errorf("process is in %d of our %d hierarchies:\n%s", seen, n, b)
	}
}

// isOurs reports whether a /proc/<pid>/cgroup controller list ("" for
// the v2 tree) names one of m's hierarchies.
func (m *manager) isOurs(ctrls string) bool {
	if ctrls == "" {
		return m.lay.unified != ""
	}
	for _, c := range strings.Split(ctrls, ",") {
		if _, ok := m.lay.v1[c]; ok && m.lay.mode == "v1" {
			return true
		}
	}
	return false
}

// TestStatsCPU checks that Stats counts a busy process's CPU time, in the
// machine's layout (cpuacct on a hybrid one) and in v2 mode over its v2
// tree (cpu.stat, with no controller on a hybrid machine).
func TestStatsCPU(t *testing.T) {
	testutil.RequireRoot(t)
	roots := []string{"/sys/fs/cgroup"}
	if r := v2Root(t); r != roots[0] {
		roots = append(roots, r)
	}
	for _, root := range roots {
		t.Run(root, func(t *testing.T) {
			m := newRealManager(t, root, "cpustat")
			const name = "orbistest-busy"
			if err := m.Set(name, Resources{}); err != nil {
				t.Fatal(err)
			}
			p := startProc(t, busyLoop())
			if err := m.Enter(name, p.cmd.Process.Pid); err != nil {
				t.Fatal(err)
			}
			before := cpuOf(t, m, name)
			time.Sleep(500 * time.Millisecond)
			if used := cpuOf(t, m, name) - before; used < 50*time.Millisecond {
				t.Errorf("busy loop used %v of CPU in 0.5 s, want at least 50ms", used)
			}
		})
	}
}

func busyLoop() *exec.Cmd { return exec.Command("sh", "-c", "while :; do :; done") }

func cpuOf(t *testing.T, m Manager, name string) time.Duration {
	t.Helper()
	st, err := m.Stats(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.CPUUsage
}
