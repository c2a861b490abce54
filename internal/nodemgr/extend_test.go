package nodemgr

import (
	"context"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// TestExtendFullNode: on a node whose CPU guarantees are all held, one
// of them by a lease that starts later, an rcap's end moves later in
// place, across a restart, and its sliver outlives the old end; the node
// never counts more than it has. A shorter end, and anyone but the
// owner, are refused.
func TestExtendFullNode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc := e.acquire(api.Rspec{CPUGuarantee: 600, End: t0.Unix() + 60, Privileges: sliverRights})
	e.bind("pl_a", rc)
	e.acquire(api.Rspec{CPUGuarantee: 400, Start: t0.Unix() + 100, End: t0.Unix() + 200})
	if _, err := e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 1}); err == nil {
		t.Fatal("the node is not full: the test proves nothing")
	}
	// A move to a new rcap, as renewals used to be, cannot happen here.
	_, err := e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 600, End: t0.Unix() + 3600})
	wantErr(t, err, ErrRefused, "cpu_guarantee")

	newEnd := t0.Unix() + 3600
	if err := e.m.Extend(ctx, rc, newEnd); err != nil {
		t.Fatalf("extend on a full node: %v", err)
	}
	checkLedger(t, e)
	wantErr(t, e.m.Extend(ctx, rc, t0.Unix()+120), ErrRefused, "extend only extends")
	e.bind("pl_other", e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, End: newEnd}))
	wantErr(t, e.m.Extend(e.as("pl_other"), rc, newEnd+1), ErrDenied, "not yours")

	e.reopen()
	q, err := e.m.Query(ctx, rc)
	if err != nil || q.Rspec.End != newEnd {
		t.Fatalf("after a restart: end %d, %v (want %d)", q.Rspec.End, err, newEnd)
	}
	e.clock.Advance(61 * time.Second)
	time.Sleep(50 * time.Millisecond) // let the expiry loop look
	if _, ok := e.rt.Sliver("pl_a"); !ok {
		t.Fatal("the sliver went at its old end")
	}
	e.clock.Advance(time.Hour)
	eventually(t, "the sliver to go at its new end", func() bool {
		_, ok := e.rt.Sliver("pl_a")
		return !ok
	})
}

// TestExtendBroker: a broker extends its splits within its pool's end
// only, and cannot extend the pool itself.
func TestExtendBroker(t *testing.T) {
	e := newEnv(t)
	poolEnd := t0.Unix() + 1800
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 200, End: poolEnd, Slivers: 2})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	kid, err := e.m.Split(b, pool.Rcap, api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 600, Privileges: sliverRights})
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	if err := e.m.Bind(b, "pl_a", kid, api.BindAttrs{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	wantErr(t, e.m.Extend(b, kid, poolEnd+1), ErrRefused, "after the parent's end")
	wantErr(t, e.m.Extend(b, pool.Rcap, poolEnd+1), ErrRefused, "ends with the delegation")
	if err := e.m.Extend(b, kid, poolEnd); err != nil {
		t.Fatalf("extend within the pool's end: %v", err)
	}
	// Central cannot extend the broker's rcap either.
	wantErr(t, e.m.Extend(context.Background(), kid, poolEnd), ErrDenied, "not yours")
	e.clock.Advance(601 * time.Second)
	time.Sleep(50 * time.Millisecond)
	if _, ok := e.rt.Sliver("pl_a"); !ok {
		t.Fatal("the broker's sliver went at its old end")
	}
}

// TestExtendSliceAcquired: an rcap a slice acquired ends no later than
// the rspec its own sliver is bound to, extended or not.
func TestExtendSliceAcquired(t *testing.T) {
	e := newEnv(t)
	own := t0.Unix() + 7200
	e.bind("pl_broker", e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, End: own}))
	b := e.as("pl_broker")
	rc, err := e.m.Acquire(b, api.Rspec{CPUGuarantee: 10, End: soon})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.m.Extend(b, rc, own+1), ErrRefused, "own rspec ends")
	if err := e.m.Extend(b, rc, own); err != nil {
		t.Fatalf("extend to the slice's own end: %v", err)
	}
	wantErr(t, e.m.Extend(b, rc, api.MaxTime+1), ErrInvalid, "out of range")
}

// TestExtendBrokerRcap: extending a broker's rcap whose delegation ends
// with it extends the delegation and the pool, so the slivers the broker
// bound from its pool outlive the old end too.
func TestExtendBrokerRcap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	oldEnd, newEnd := t0.Unix()+600, t0.Unix()+7200
	d := api.Rspec{CPUGuarantee: 100, End: oldEnd, Slivers: 1, Privileges: sliverRights}
	rc := e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, End: oldEnd, Delegated: &d,
		BindSlices: customers})
	e.bind("pl_broker", rc)
	b := e.as("pl_broker")
	kid, err := e.m.Split(b, e.pool("pl_broker").Rcap, api.Rspec{CPUGuarantee: 50, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(b, "pl_a", kid, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Extend(ctx, rc, newEnd); err != nil {
		t.Fatalf("extend the broker's rcap: %v", err)
	}
	if q, _ := e.m.Query(ctx, rc); q.Rspec.Delegated == nil || q.Rspec.Delegated.End != newEnd {
		t.Errorf("the delegation after the extension: %+v", q.Rspec.Delegated)
	}
	if pool := e.pool("pl_broker"); pool.Rspec.End != newEnd || pool.Rspec.CPUGuarantee != 50 {
		t.Errorf("the pool after the extension: %+v (want end %d, cpu_guarantee 50 left)", pool.Rspec, newEnd)
	}
	checkLedger(t, e)
	// The broker may now extend its split within the pool's new end.
	if err := e.m.Extend(b, kid, newEnd); err != nil {
		t.Fatalf("extend the split: %v", err)
	}
	e.clock.Advance(601 * time.Second)
	time.Sleep(50 * time.Millisecond)
	for _, name := range []string{"pl_broker", "pl_a"} {
		if _, ok := e.rt.Sliver(name); !ok {
			t.Errorf("sliver %s went at the old end", name)
		}
	}
}
