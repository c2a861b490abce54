package nodemgr

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestUIDRangesNeverShared performs issue 18's overlap: two nodes on one
// machine started with the same UID base (two testbeds' first nodes).
// Each sliver still gets a host UID range of its own, also while the
// other node is stopped with its slivers left; a node whose sliver's
// range another took (its claim was lost) refuses to start, saying why;
// and a range comes back once its holder frees it.
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

	// a stops, its sliver left running: b never takes its range.
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}
	b.bind("pl_three", b.acquire(api.Rspec{Privileges: sliverRights}))
	if u, _ := b.rt.Sliver("pl_three"); u.Spec.UIDBase == ua.Spec.UIDBase {
		t.Fatalf("b took the range %d of a's sliver while a was stopped", u.Spec.UIDBase)
	}
	a.open()
	if err := a.m.Close(); err != nil {
		t.Fatal(err)
	}

	// a's claim lost (its file removed): b takes the range, and a says so
	// rather than share it.
	if err := os.Remove(filepath.Join(claims, "uid-"+strconv.FormatUint(uint64(ua.Spec.UIDBase), 10)+".lock")); err != nil {
		t.Fatal(err)
	}
	b.bind("pl_four", b.acquire(api.Rspec{Privileges: sliverRights}))
	if u, _ := b.rt.Sliver("pl_four"); u.Spec.UIDBase != ua.Spec.UIDBase {
		t.Fatalf("b's sliver got %d, want the unclaimed %d", u.Spec.UIDBase, ua.Spec.UIDBase)
	}
	_, err := Open(testutil.Context(t), a.options())
	if err == nil || !strings.Contains(err.Error(), "held by another Orbis node on this machine") || !strings.Contains(err.Error(), "--uid-base") {
		t.Fatalf("a's start with its sliver's range held by b: %v", err)
	}
	if err := b.m.DestroySliver(context.Background(), "pl_four"); err != nil {
		t.Fatal(err)
	}
	a.open()
}

// TestStaleUIDClaim: a claim file left by a node whose state is gone (a
// test's, a removed node's) does not keep its range from a new node.
func TestStaleUIDClaim(t *testing.T) {
	claims := t.TempDir()
	if err := os.WriteFile(filepath.Join(claims, "uid-100000.lock"), []byte("/nonexistent/orbis-node/nm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	e.m.Close()
	e.claimDir = claims
	e.open()
	e.bind("pl_one", e.acquire(api.Rspec{Privileges: sliverRights}))
	if u, _ := e.rt.Sliver("pl_one"); u.Spec.UIDBase != 100000 {
		t.Fatalf("the sliver got %d, want the stale claim's 100000", u.Spec.UIDBase)
	}
}
