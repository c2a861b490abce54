package lease

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

func pool() api.Rspec {
	return api.Rspec{Slivers: 2, CPUShares: 10, CPUGuarantee: 200, Start: t0 - 100*slot,
		End: t0 + 100*slot, Privileges: api.Privileges{CreateSliver: true}}
}

func newAgent(t *testing.T, dir string, nm NodeManager) (*Book, *Agent) {
	t.Helper()
	b := openBook(t, dir)
	return b, NewAgent(b, nm, testutil.Logger(t))
}

func leaseState(t *testing.T, b *Book, id string) Lease {
	t.Helper()
	for _, l := range b.Leases() {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("lease %s not in the book", id)
	return Lease{}
}

// reserve reserves through the agent's view of the pool, as the server
// does.
func reserve(t *testing.T, b *Book, a *Agent, r ReserveRequest, now int64) ReserveResponse {
	t.Helper()
	a.refreshPool(context.Background())
	c, problem := a.Capacity()
	if problem != "" {
		t.Fatal(problem)
	}
	resp, err := b.Reserve(testCred, r, c, at(now))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestAgentOpensAndCloses: nothing happens before the window; at its
// start the sliver is bound with the lease's window, shares, share of the
// guarantee and keys; at its end it is gone and the lease is done.
func TestAgentOpensAndCloses(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	b, a := newAgent(t, t.TempDir(), nm)
	r := reserve(t, b, a, req("site_a", t0+slot, 2, 4), t0)
	if next := a.Step(ctx, at(t0)); next.Unix() != t0+slot {
		t.Errorf("next step %d, want the window's start %d", next.Unix(), t0+slot)
	}
	if s := nm.Slivers(); len(s) != 0 {
		t.Fatalf("slivers before the window: %v", s)
	}
	next := a.Step(ctx, at(t0+slot))
	if s := nm.Slivers(); len(s) != 1 || s["site_a"][0] != key {
		t.Fatalf("slivers in the window: %v", s)
	}
	ch := nm.Children()
	want := api.Rspec{CPUShares: 4, CPUGuarantee: 80, Start: t0 + slot, End: t0 + 3*slot, Privileges: api.Privileges{CreateSliver: true}}
	if len(ch) != 1 || ch[0].Rspec.CPUShares != want.CPUShares || ch[0].Rspec.CPUGuarantee != want.CPUGuarantee ||
		ch[0].Rspec.Start != want.Start || ch[0].Rspec.End != want.End || !ch[0].Rspec.Privileges.CreateSliver {
		t.Errorf("child rcaps: %+v, want one with %+v", ch, want)
	}
	if l := leaseState(t, b, r.Lease.ID); l.State != StateActive {
		t.Errorf("lease in its window: %+v", l)
	}
	if next.Unix() <= t0+slot || next.Unix() > t0+3*slot {
		t.Errorf("next step %d, want one by the window's end %d", next.Unix(), t0+3*slot)
	}
	a.Step(ctx, at(t0+3*slot))
	if s := nm.Slivers(); len(s) != 0 || len(nm.Children()) != 0 {
		t.Errorf("after the window: slivers %v, children %v", s, nm.Children())
	}
	if l := leaseState(t, b, r.Lease.ID); l.State != StateDone {
		t.Errorf("lease after its window: %+v", l)
	}
}

// TestAgentAfterExpiry: the node manager ended the rcap by itself; the
// agent finds it gone and calls the lease done.
func TestAgentAfterExpiry(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	b, a := newAgent(t, t.TempDir(), nm)
	r := reserve(t, b, a, req("site_a", 0, 1, 1), t0)
	a.Step(ctx, at(t0))
	nm.Expire(t0 + slot)
	a.Step(ctx, at(t0+slot))
	if l := leaseState(t, b, r.Lease.ID); l.State != StateDone {
		t.Errorf("lease after the node manager expired it: %+v", l)
	}
}

// TestAgentCancel: cancelling an active lease destroys its sliver at the
// next step.
func TestAgentCancel(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	b, a := newAgent(t, t.TempDir(), nm)
	r := reserve(t, b, a, req("site_a", 0, 3, 1), t0)
	a.Step(ctx, at(t0))
	if len(nm.Slivers()) != 1 {
		t.Fatal("no sliver")
	}
	if _, err := b.Cancel(CancelRequest{ID: r.Lease.ID, Token: r.Token}, at(t0+1)); err != nil {
		t.Fatal(err)
	}
	a.Step(ctx, at(t0+1))
	if len(nm.Slivers()) != 0 || len(nm.Children()) != 0 {
		t.Errorf("after cancel: %v", nm.Slivers())
	}
	if l := leaseState(t, b, r.Lease.ID); l.State != StateCancelled {
		t.Errorf("lease: %+v", l)
	}
}

// TestNodeManagerRefusesBadBroker: a broker that admits more than the
// pool holds (here its book was filled against an overstated capacity)
// is refused by the node manager, and the lease fails saying why; the
// leases within the pool run.
func TestNodeManagerRefusesBadBroker(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	b, a := newAgent(t, t.TempDir(), nm)
	lie := Capacity{Slivers: 3, CPUShares: 100}
	var ids []string
	for _, r := range []ReserveRequest{req("site_a", 0, 1, 1), req("site_b", 0, 1, 1), req("site_c", 0, 1, 1), req("site_d", t0+slot, 1, 50)} {
		resp, err := b.Reserve(testCred, r, lie, at(t0))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.Lease.ID)
	}
	for i := 0; i < maxAttempts; i++ {
		a.Step(ctx, at(t0+int64(i)))
	}
	if s := nm.Slivers(); len(s) != 2 {
		t.Errorf("slivers: %v, want the pool's 2", s)
	}
	failed := 0
	for _, id := range ids[:3] {
		if l := leaseState(t, b, id); l.State == StateFailed {
			failed++
			if !strings.Contains(l.Reason, "slivers: 2 of the pool's 2 bound") {
				t.Errorf("failed lease's reason: %q", l.Reason)
			}
		}
	}
	if failed != 1 || len(nm.Children()) != 2 {
		t.Errorf("%d leases failed, %d children live; want 1 and 2", failed, len(nm.Children()))
	}
	a.Step(ctx, at(t0+slot))
	a.Step(ctx, at(t0+slot+1))
	a.Step(ctx, at(t0+slot+2))
	if l := leaseState(t, b, ids[3]); l.State != StateFailed || !strings.Contains(l.Reason, "cpu_shares: 50 exceeds the parent's 10") {
		t.Errorf("a lease of 50 shares from a pool of 10: %+v", l)
	}
}

// TestAgentRestart: a broker that died after the split, before the bind,
// binds the recorded rcap when it starts again (no second split), and a
// restarted broker still releases at the end.
func TestAgentRestart(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	dir := t.TempDir()
	b, a := newAgent(t, dir, nm)
	r := reserve(t, b, a, req("site_a", 0, 2, 2), t0)
	pl, c, _ := a.poolNow()
	rc, err := nm.Split(ctx, pl.Rcap, childRspec(r.Lease, pl.Rspec, c))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.setRcap(r.Lease.ID, rc, t0); err != nil {
		t.Fatal(err)
	}
	// The broker dies here; another starts on the same book.
	_, a2 := newAgent(t, dir, nm)
	a2.Step(ctx, at(t0+1))
	if s := nm.Slivers(); len(s) != 1 || len(nm.Children()) != 1 {
		t.Fatalf("after restart: slivers %v, children %v", s, nm.Children())
	}
	b3, a3 := newAgent(t, dir, nm)
	a3.Step(ctx, at(t0+2*slot))
	if len(nm.Children()) != 0 {
		t.Errorf("children after the end: %v", nm.Children())
	}
	if l := leaseState(t, b3, r.Lease.ID); l.State != StateDone {
		t.Errorf("lease: %+v", l)
	}
}

// TestAgentUnreachable: without the node manager the broker has no
// capacity and says why; leases wait and open when it answers again.
func TestAgentUnreachable(t *testing.T) {
	ctx := context.Background()
	nm := NewFakeNM(pool())
	b, a := newAgent(t, t.TempDir(), nm)
	r := reserve(t, b, a, req("site_a", t0+slot, 1, 1), t0)
	nm.SetDown(errors.New("dial unix /run/orbis-nm/nm.sock: connect: no such file or directory"))
	next := a.Step(ctx, at(t0+slot))
	if _, problem := a.Capacity(); !strings.Contains(problem, "unreachable") {
		t.Errorf("problem: %q", problem)
	}
	if next.Unix() != t0+slot+int64(retryDelay.Seconds()) {
		t.Errorf("next step at %d, want a retry", next.Unix())
	}
	nm.SetDown(nil)
	a.Step(ctx, at(t0+slot+2))
	if l := leaseState(t, b, r.Lease.ID); l.State != StateActive {
		t.Errorf("lease once the node manager answers: %+v", l)
	}
	// A window that passes while the node manager is away fails, saying
	// why.
	r2 := reserve(t, b, a, req("site_b", t0+3*slot, 1, 1), t0+slot+2)
	nm.SetDown(errors.New("connection refused"))
	a.Step(ctx, at(t0+3*slot))
	a.Step(ctx, at(t0+4*slot))
	if l := leaseState(t, b, r2.Lease.ID); l.State != StateFailed || !strings.Contains(l.Reason, "unopened: split the pool: connection refused") {
		t.Errorf("a lease whose window passed without the node manager: %+v", l)
	}
	nm2 := NewFakeNM(api.Rspec{})
	_, a2 := newAgent(t, t.TempDir(), nm2)
	a2.refreshPool(ctx)
	if _, problem := a2.Capacity(); !strings.Contains(problem, "holds nothing") {
		t.Errorf("an empty pool: %q", problem)
	}
}
