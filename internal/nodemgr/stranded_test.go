package nodemgr

import (
	"context"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPassNeedsSliver: an rcap is never handed to a slice with no sliver
// on the node, which could never call with it.
func TestPassNeedsSliver(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	b := e.as("pl_broker")
	rc, err := e.m.Acquire(b, api.Rspec{End: soon, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.m.Pass(b, rc, "pl_nobody"), ErrRefused, "slice pl_nobody has no sliver on this node")
	if _, err := e.m.Query(b, rc); err != nil {
		t.Fatalf("the giver lost the rcap a refused pass kept: %v", err)
	}
	crc := e.acquire(api.Rspec{Privileges: sliverRights})
	wantErr(t, e.m.Pass(context.Background(), crc, "pl_nobody"), ErrRefused, "has no sliver")
	if err := e.m.Pass(b, rc, "central"); err != nil {
		t.Fatalf("pass to central: %v", err)
	}
}

// TestStrandedReleased: when a broker's sliver goes, everything that
// derives from its delegation and its privilege goes too: its pool with
// the rcaps split from it, and every rcap it acquired, bound or passed
// (with the slivers bound to them: its customers'). Central's rcap stays,
// and so does central's rcap it was passed, while its new owner lives.
func TestStrandedReleased(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 2})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	split := func() api.Rcap {
		rc, err := e.m.Split(b, pool.Rcap, api.Rspec{CPUGuarantee: 10, Privileges: sliverRights})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	acquire := func() api.Rcap {
		rc, err := e.m.Acquire(b, api.Rspec{End: soon, Privileges: sliverRights})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	fromPool, fromPoolIdle, own, ownIdle, passed := split(), split(), acquire(), acquire(), acquire()
	for name, rc := range map[string]api.Rcap{"pl_cust1": fromPool, "pl_cust2": own} {
		if err := e.m.Bind(b, name, rc, api.BindAttrs{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.m.Pass(b, passed, "pl_cust2"); err != nil {
		t.Fatal(err)
	}
	e.bind("pl_other", e.acquire(api.Rspec{Privileges: sliverRights}))
	fromCentral := e.acquire(api.Rspec{Privileges: sliverRights})
	if err := e.m.Pass(context.Background(), fromCentral, "pl_broker"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Pass(b, fromCentral, "pl_other"); err != nil {
		t.Fatal(err)
	}
	idOf := func(rc api.Rcap) string { h, _ := hashRcap(rc); return h.id() }
	live := func() (rcaps map[string]bool, slivers map[string]bool) {
		l, err := e.m.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		rcaps, slivers = map[string]bool{}, map[string]bool{}
		for _, r := range l.Rcaps {
			rcaps[r.ID] = true
		}
		for _, s := range l.Slivers {
			slivers[s.Name] = true
		}
		return rcaps, slivers
	}
	before, _ := live()

	if err := e.m.DestroySliver(context.Background(), "pl_broker"); err != nil {
		t.Fatal(err)
	}
	rcaps, slivers := live()
	for what, rc := range map[string]api.Rcap{"the pool": pool.Rcap, "a split bound to a customer": fromPool,
		"an unbound split": fromPoolIdle, "an unbound rcap it acquired": ownIdle,
		"its rcap bound to a customer": own, "the rcap it passed": passed} {
		if rcaps[idOf(rc)] {
			t.Errorf("%s outlived the broker's sliver", what)
		}
	}
	if slivers["pl_cust1"] || slivers["pl_cust2"] || slivers["pl_broker"] || !slivers["pl_other"] {
		t.Errorf("slivers left: %v; want none of the broker's, pl_other's", slivers)
	}
	if len(rcaps) != len(before)-6 || !rcaps[idOf(fromCentral)] {
		t.Errorf("%d rcaps left of %d, want 6 fewer (central's stay)", len(rcaps), len(before))
	}
}

// TestBrokerResourcesGoWithPrivilege performs issue 18's two escapes: a
// broker passes its pool to a helper slice, which binds a sliver on it,
// and the broker binds a customer on an rcap it acquired; then central
// takes the broker's node manager privilege away, and at last removes
// the broker from the node. The acquired rcap and its customer go with
// the privilege; the pool and the helper's sliver with the broker.
func TestBrokerResourcesGoWithPrivilege(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 2})
	e.bind("pl_a", e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, BindSlices: []string{"pl_x"}}))
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	own, err := e.m.Acquire(b, api.Rspec{CPUGuarantee: 50, End: soon, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(b, "pl_customer", own, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Pass(b, pool.Rcap, "pl_a"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(e.as("pl_a"), "pl_x", pool.Rcap, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	// Without an end, or past its own, a broker acquires nothing.
	_, err = e.m.Acquire(b, api.Rspec{Privileges: sliverRights})
	wantErr(t, err, ErrInvalid, "must end")

	// Central binds the broker a plain rspec: the privilege goes.
	e.bind("pl_broker", e.acquire(api.Rspec{Privileges: sliverRights}))
	if _, ok := e.rt.Sliver("pl_customer"); ok {
		t.Error("the customer on the broker's own rcap outlived the broker's privilege")
	}
	if _, ok := e.rt.Sliver("pl_x"); ok {
		t.Error("the helper's sliver on the broker's pool outlived the delegation")
	}
	e.m.mu.Lock()
	n := len(e.m.rcaps)
	e.m.mu.Unlock()
	if n != 3 { // central's: the broker's, pl_a's first, pl_broker's plain
		t.Errorf("%d rcaps left, want central's 3", n)
	}
}

// TestPassedPoolGoesWithBroker: a pool passed to a helper slice goes when
// the broker's sliver goes, with the helper's sliver bound to it.
func TestPassedPoolGoesWithBroker(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 2})
	e.bind("pl_a", e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, BindSlices: []string{"pl_x"}}))
	pool := e.pool("pl_broker")
	if err := e.m.Pass(e.as("pl_broker"), pool.Rcap, "pl_a"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(e.as("pl_a"), "pl_x", pool.Rcap, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	if err := e.m.DestroySliver(context.Background(), "pl_broker"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.rt.Sliver("pl_x"); ok {
		t.Error("the helper's sliver on the passed pool outlived the broker")
	}
	if _, err := e.m.Query(e.as("pl_a"), pool.Rcap); err == nil {
		t.Error("the passed pool outlived the broker")
	}
}

// TestStrandedAtOpen: rcaps stranded by a crash between a teardown and
// its sweep are released at Open.
func TestStrandedAtOpen(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	rc, err := e.m.Acquire(e.as("pl_broker"), api.Rspec{End: soon, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	e.m.mu.Lock()
	s := e.m.slivers["pl_broker"]
	if err := e.m.store.del(kindSliver, s.Name); err != nil {
		t.Fatal(err)
	}
	e.m.mu.Unlock()
	e.rt.Destroy(context.Background(), "pl_broker")
	e.reopen()
	if _, err := e.m.Query(context.Background(), rc); err == nil || len(e.m.rcaps) != 1 {
		t.Errorf("after reopen %d rcaps (want central's only); the broker's: %v", len(e.m.rcaps), err)
	}
}

// TestReclaim: the host's root releases any rcap by its ID, a slice's
// included, destroying its sliver; no slice may.
func TestReclaim(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	b := e.as("pl_broker")
	rc, err := e.m.Acquire(b, api.Rspec{End: soon, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(b, "pl_cust", rc, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	q, err := e.m.Query(b, rc)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.m.Reclaim(b, q.ID), ErrDenied, "only the host's root")
	wantErr(t, e.m.Reclaim(context.Background(), "nope"), ErrInvalid, "not an rcap ID")
	wantErr(t, e.m.Reclaim(context.Background(), "0123456789abcdef"), ErrNotFound, "no rcap 0123456789abcdef")

	e.serve()
	if err := e.c.Reclaim(context.Background(), q.ID); err != nil {
		t.Fatalf("reclaim over the socket: %v", err)
	}
	if _, err := e.m.Query(b, rc); err == nil {
		t.Error("the reclaimed rcap still works for its owner")
	}
	if l, _ := e.m.List(context.Background()); len(l.Slivers) != 1 {
		t.Errorf("slivers %+v: want pl_broker's only, pl_cust's destroyed", l.Slivers)
	}
	if err := e.c.Reclaim(context.Background(), e.pool("pl_broker").ID); err != nil {
		t.Fatalf("reclaim a pool: %v", err)
	}
}
