package sliver

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRevive: a command in one sliver (orbis sliver exec) revives that
// sliver only. After a Suspend (as after a reboot), Revive brings back
// the one sliver's cgroup and boots it again, and leaves the other
// sliver's gone; on a running sliver it boots nothing; an unknown sliver
// is ErrNotFound.
func TestRevive(t *testing.T) {
	testutil.RequireRoot(t)
	n := newNode(t)
	for _, name := range []string{"pl_rva", "pl_rvb"} {
		n.create(name, api.Rspec{ProcMax: 32}, "echo booted")
		waitFor(t, name+" first boot", 10*time.Second, func() bool {
			out, _ := n.run(name, "grep -c booted "+BootLog)
			return out == "1"
		})
	}
	if err := n.m.Suspend(n.ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Revive(n.ctx, "pl_rva"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.m.opts.Fair.UnifiedPath("pl_rva")); err != nil {
		t.Errorf("revived sliver's cgroup: %v", err)
	}
	if _, err := os.Stat(n.m.opts.Fair.UnifiedPath("pl_rvb")); !os.IsNotExist(err) {
		t.Errorf("the other sliver's cgroup after reviving one: %v, want it still gone", err)
	}
	waitFor(t, "second boot", 10*time.Second, func() bool {
		out, _ := n.run("pl_rva", "grep -c booted "+BootLog)
		return out == "2"
	})
	if err := n.m.Revive(n.ctx, "pl_rva"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if out, _ := n.run("pl_rva", "grep -c booted "+BootLog); out != "2" {
		t.Errorf("boots after reviving a running sliver: %s, want 2", out)
	}
	if err := n.m.Revive(n.ctx, "pl_nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revive of an unknown sliver: %v, want ErrNotFound", err)
	}
	if err := n.m.Restore(n.ctx); err != nil { // the other, for the cleanup
		t.Fatal(err)
	}
}
