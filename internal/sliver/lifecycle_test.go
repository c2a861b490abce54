package sliver

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

func TestLifecycle(t *testing.T) {
	n := newNode(t)
	n.create("pl_life", api.Rspec{}, "echo booted as $(id -u) on $(hostname)\n")
	bootLog := func() string { out, _ := n.run("pl_life", "cat "+BootLog); return out }
	waitFor(t, "boot script", 10*time.Second, func() bool { return strings.Contains(bootLog(), "booted as 0 on pl_life") })

	// The keys are in place, owned by the sliver's root.
	if got := n.mustRun("pl_life", "stat -c '%u %a' /root/.ssh/authorized_keys; cat /root/.ssh/authorized_keys"); !strings.HasPrefix(got, "0 600\nssh-ed25519 ") {
		t.Errorf("authorized_keys: %q", got)
	}

	// Idle: once the boot script and the command are done, no process is left.
	waitFor(t, "idle sliver", 10*time.Second, func() bool {
		st, err := n.m.Status(n.ctx, "pl_life")
		return err == nil && st.State == StateIdle && st.Procs == 0
	})

	// Stop refuses logins; start again runs the boot script again.
	if err := n.m.Stop(n.ctx, "pl_life"); err != nil {
		t.Fatal(err)
	}
	if st, _ := n.m.Status(n.ctx, "pl_life"); st.State != StateStopped {
		t.Errorf("after stop: state %s", st.State)
	}
	if _, err := n.m.Exec(n.ctx, "pl_life", shCmd("true")); !errors.Is(err, ErrStopped) {
		t.Errorf("exec in a stopped sliver: err %v, want ErrStopped", err)
	}
	if err := n.m.Start(n.ctx, "pl_life"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second boot", 10*time.Second, func() bool { return strings.Count(bootLog(), "booted as 0") == 2 })

	// A running sliver shows up as running, and a file written inside
	// survives a restart.
	n.mustRun("pl_life", "echo kept > /root/note")
	if err := n.m.Stop(n.ctx, "pl_life"); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Start(n.ctx, "pl_life"); err != nil {
		t.Fatal(err)
	}
	if got := n.mustRun("pl_life", "cat /root/note"); got != "kept" {
		t.Errorf("file after restart: %q", got)
	}

	// Destroy removes everything, and is idempotent.
	if err := n.m.Destroy(n.ctx, "pl_life"); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Destroy(n.ctx, "pl_life"); err != nil {
		t.Errorf("second destroy: %v", err)
	}
	if _, err := n.m.Status(n.ctx, "pl_life"); !errors.Is(err, ErrNotFound) {
		t.Errorf("status after destroy: %v", err)
	}
	if names, _ := n.m.List(n.ctx); len(names) != 0 {
		t.Errorf("left after destroy: %v", names)
	}
	if _, err := os.Stat(n.m.dir("pl_life")); !os.IsNotExist(err) {
		t.Errorf("state dir left: %v", err)
	}
}

func TestBadNames(t *testing.T) {
	for _, name := range []string{"", "nounderscore", "../x_y", "a_b/c", ".a_b", "A_b", strings.Repeat("a", 60) + "_bcdef"} {
		if CheckName(name) == nil {
			t.Errorf("CheckName(%q) accepted", name)
		}
	}
	for _, name := range []string{"pl_demo", "princeton_codeen", "a.b_C.d_e"} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
}

// TestSuspendRestore: Suspend leaves no process and no cgroup; Restore
// (as after a reboot) brings the cgroups back, and the sliver works with
// its files intact.
func TestSuspendRestore(t *testing.T) {
	n := newNode(t)
	n.create("pl_sus", api.Rspec{ProcMax: 32}, "echo booted")
	waitFor(t, "first boot", 10*time.Second, func() bool {
		out, _ := n.run("pl_sus", "grep -c booted "+BootLog)
		return out == "1"
	})
	n.mustRun("pl_sus", "echo kept > /root/f")
	spawn(t, n, "pl_sus", "exec sleep 1000")
	n.pidOf(t, "pl_sus", "sleep")
	if err := n.m.Suspend(n.ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.m.opts.Fair.UnifiedPath("pl_sus")); !os.IsNotExist(err) {
		t.Errorf("cgroup left after Suspend: %v", err)
	}
	if err := n.m.Restore(n.ctx); err != nil {
		t.Fatal(err)
	}
	if got := n.mustRun("pl_sus", "cat /root/f"); got != "kept" {
		t.Errorf("after Restore: %q", got)
	}
	// Restored from nothing, as after a reboot, the sliver booted again.
	waitFor(t, "second boot", 10*time.Second, func() bool {
		out, _ := n.run("pl_sus", "grep -c booted "+BootLog)
		return out == "2"
	})
	// A second Restore, as after a restart of the agent, boots nothing.
	if err := n.m.Restore(n.ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if out, _ := n.run("pl_sus", "grep -c booted "+BootLog); out != "2" {
		t.Errorf("boots after an agent restart: %s, want 2", out)
	}
	if st, err := n.m.Status(n.ctx, "pl_sus"); err != nil || st.State == StateStopped {
		t.Errorf("after Restore: %+v %v", st, err)
	}
}
