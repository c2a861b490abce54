package nodemgr

import (
	"context"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestUIDRangesNeverShared performs issue 18's overlap: two nodes on one
// machine started with the same UID base (two testbeds' first nodes).
// Each sliver still gets a host UID range of its own; a node whose
// sliver's range another node took while it was down refuses to start,
// saying why; and a range comes back once its holder frees it.
func TestUIDRangesNeverShared(t *testing.T) {
	claims := t.TempDir()
	a, b := newEnv(t), newEnv(t)
	for _, e := range []*testEnv{a, b} {
		e.m.Close()
		e.claimDir = claims
		e.open()
	}
	a.bind("pl_one", a.acquire(api.Rspec{Privileges: sliverRights}))
	b.bind("pl_two", b.acquire(api.Rspec{Privileges: sliverRights}))
	ua, _ := a.rt.Sliver("pl_one")
	ub, _ := b.rt.Sliver("pl_two")
	if ua.Spec.UIDBase == ub.Spec.UIDBase {
		t.Fatalf("two nodes on one machine gave their slivers the same host UIDs %d", ua.Spec.UIDBase)
	}

	// a stops; b takes a's range for a new sliver; a cannot start again.
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	b.bind("pl_three", b.acquire(api.Rspec{Privileges: sliverRights}))
	if u, _ := b.rt.Sliver("pl_three"); u.Spec.UIDBase != ua.Spec.UIDBase {
		t.Fatalf("b did not reuse the range a freed by stopping: %d, want %d", u.Spec.UIDBase, ua.Spec.UIDBase)
	}
	_, err := Open(testutil.Context(t), a.options())
	if err == nil || !strings.Contains(err.Error(), "held by another Orbis node on this machine") || !strings.Contains(err.Error(), "--uid-base") {
		t.Fatalf("a's start with its sliver's range held by b: %v", err)
	}
	if err := b.m.DestroySliver(context.Background(), "pl_three"); err != nil {
		t.Fatal(err)
	}
	a.open()
}
