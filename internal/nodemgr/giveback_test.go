package nodemgr

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// checkLedger checks that admission control counts every live rcap's
// guarantees once: the node's totals are the sums over the live rcaps.
func checkLedger(t *testing.T, e *testEnv) {
	t.Helper()
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	want := newTotals()
	for _, r := range e.m.rcaps {
		want.plus(r.Rspec.Rspec, 1)
	}
	if !slices.Equal(e.m.ledger.total, want) {
		t.Fatalf("ledger totals %+v, live rcaps sum to %+v", e.m.ledger.total, want)
	}
}

// poolRspecOf returns the rspec of slice's pool.
func (e *testEnv) poolRspecOf(slice string) api.Rspec {
	e.t.Helper()
	return e.pool(slice).Rspec
}

// TestPoolRefills: a lease broker that splits its pool and releases each
// lease gets the lease's guarantees and sliver back, by release and by
// expiry, and can lease them again; the node never counts them twice.
func TestPoolRefills(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 200, MemoryGuarantee: 1 << 30, DiskGuarantee: 4 << 30, Slivers: 2})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	lease := func(rs api.Rspec) api.Rcap {
		t.Helper()
		rs.Privileges = sliverRights
		rc, err := e.m.Split(b, pool.Rcap, rs)
		if err != nil {
			t.Fatalf("split %+v: %v", rs, err)
		}
		return rc
	}
	full := func(when string) {
		t.Helper()
		rs := e.poolRspecOf("pl_broker")
		if rs.CPUGuarantee != 200 || rs.MemoryGuarantee != 1<<30 || rs.DiskGuarantee != 4<<30 {
			t.Fatalf("%s: pool holds cpu %d, memory %d, disk %d; want all of its delegation back", when,
				rs.CPUGuarantee, rs.MemoryGuarantee, rs.DiskGuarantee)
		}
		checkLedger(t, e)
	}

	for round := range 3 {
		a := lease(api.Rspec{CPUGuarantee: 100, MemoryGuarantee: 512 << 20, DiskGuarantee: 1 << 30})
		c := lease(api.Rspec{CPUGuarantee: 50})
		if rs := e.poolRspecOf("pl_broker"); rs.CPUGuarantee != 50 || rs.MemoryGuarantee != 512<<20 {
			t.Fatalf("round %d: pool after two splits %+v", round, rs)
		}
		for name, rc := range map[string]api.Rcap{"pl_a": a, "pl_c": c} {
			if err := e.m.Bind(b, name, rc, api.BindAttrs{}); err != nil {
				t.Fatalf("round %d: bind %s: %v", round, name, err)
			}
		}
		err := e.m.Bind(b, "pl_d", lease(api.Rspec{}), api.BindAttrs{})
		wantErr(t, err, ErrRefused, "allows 2 and 2 are bound")
		for _, rc := range []api.Rcap{a, c} {
			if err := e.m.Release(b, rc); err != nil {
				t.Fatalf("round %d: release: %v", round, err)
			}
		}
		full("after the leases' release")
	}

	// The same at the lease's end, with the pool's sliver count back.
	for i, name := range []string{"pl_x", "pl_y"} {
		rc := lease(api.Rspec{CPUGuarantee: 100, End: t0.Unix() + int64(60*(i+1))})
		if err := e.m.Bind(b, name, rc, api.BindAttrs{}); err != nil {
			t.Fatalf("bind %s: %v", name, err)
		}
	}
	e.clock.Advance(2 * time.Minute)
	eventually(t, "the leases to expire", func() bool {
		return e.poolRspecOf("pl_broker").CPUGuarantee == 200
	})
	eventually(t, "the leases' slivers to go", func() bool {
		_, x := e.rt.Sliver("pl_x")
		_, y := e.rt.Sliver("pl_y")
		return !x && !y
	})
	full("after the leases expired")
	for _, name := range []string{"pl_x", "pl_y"} {
		if err := e.m.Bind(b, name, lease(api.Rspec{CPUGuarantee: 100}), api.BindAttrs{}); err != nil {
			t.Fatalf("bind %s again: %v", name, err)
		}
	}
}

// TestGiveBack: a released child's guarantees and ports go back to its
// parent, whose sliver gets them, and to the node when the parent is gone.
func TestGiveBack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	port := api.Port{Proto: "tcp", Port: 8080}
	parent := e.acquire(api.Rspec{CPUGuarantee: 300, Ports: []api.Port{port}, Privileges: sliverRights})
	e.bind("orbistest_parent", parent)
	child, err := e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 100, Ports: []api.Port{port}})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.Sliver("orbistest_parent"); s.Spec.Rspec.CPUGuarantee != 200 {
		t.Fatalf("parent's sliver after the split: cpu %d, want 200", s.Spec.Rspec.CPUGuarantee)
	}
	if err := e.m.Release(ctx, child); err != nil {
		t.Fatal(err)
	}
	q, err := e.m.Query(ctx, parent)
	if err != nil {
		t.Fatal(err)
	}
	if q.Rspec.CPUGuarantee != 300 || len(q.Rspec.Ports) != 1 || q.Rspec.Ports[0] != port {
		t.Fatalf("parent after the child's release: %+v; want cpu 300 and its port back", q.Rspec)
	}
	if s, _ := e.rt.Sliver("orbistest_parent"); s.Spec.Rspec.CPUGuarantee != 300 {
		t.Fatalf("parent's sliver after the child's release: cpu %d, want 300", s.Spec.Rspec.CPUGuarantee)
	}
	checkLedger(t, e)
	// It survives a restart, and the node holds exactly the parent's.
	e.reopen()
	if q, _ := e.m.Query(ctx, parent); q.Rspec.CPUGuarantee != 300 {
		t.Fatalf("parent after restart: %+v", q.Rspec)
	}
	_, err = e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 701})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 701 requested, 700 of 1000 free")

	// A child released after its parent goes back to the node.
	orphan, err := e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Release(ctx, parent); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Release(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	checkLedger(t, e)
	e.acquire(api.Rspec{CPUGuarantee: 1000})
}

// TestGiveBackCrash: a crash after the parent's record took the child's
// guarantees back and before the child's record was deleted leaves both
// on disk; Open finishes the release instead of counting them twice.
func TestGiveBackCrash(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	parent := e.acquire(api.Rspec{CPUGuarantee: 300})
	child, err := e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 100, Privileges: api.Privileges{}})
	if err != nil {
		t.Fatal(err)
	}
	ph, _ := hashRcap(parent)
	ch, _ := hashRcap(child)
	e.m.Close()
	// What the release had written when it crashed.
	path := filepath.Join(e.stateDir, kindRcap, ph.String()+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r rcapRecord
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	r.Rspec.CPUGuarantee, r.Absorbed = 300, ch.String()
	if data, err = json.Marshal(&r); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.open()
	if _, err := e.m.Query(ctx, child); !errors.Is(err, ErrDenied) {
		t.Fatalf("child after the crash: %v; want its release finished", err)
	}
	if q, _ := e.m.Query(ctx, parent); q.Rspec.CPUGuarantee != 300 {
		t.Fatalf("parent after the crash: %+v", q.Rspec)
	}
	checkLedger(t, e)
	e.acquire(api.Rspec{CPUGuarantee: 700})
}

// TestNoPolicyShare: a slice the policy names on no broker line, with no
// "broker *" line, is refused any acquire, saying so; a slice with a
// share may acquire an rspec without guarantees.
func TestNoPolicyShare(t *testing.T) {
	e := newEnv(t)
	nm := api.Privileges{CreateSliver: true, NodeManager: true}
	e.bind("pl_sharp", e.acquire(api.Rspec{Privileges: nm}))
	e.bind("pl_broker", e.acquire(api.Rspec{Privileges: nm}))
	for _, tc := range []struct {
		policy string
		refuse bool
	}{
		{"broker pl_broker cpu_guarantee=100 net_min_rate=1mbit\n", true},
		{"broker pl_broker cpu_guarantee=100 net_min_rate=1mbit\nbroker * net_min_rate=100 slivers=0\n", false},
	} {
		p, err := ParsePolicy([]byte(tc.policy))
		if err != nil {
			t.Fatal(err)
		}
		e.m.SetPolicy(p)
		for _, rs := range []api.Rspec{{End: soon}, {NetMinRate: 1, End: soon}} {
			_, err = e.m.Acquire(e.as("pl_sharp"), rs)
			if tc.refuse {
				wantErr(t, err, ErrRefused, "the local policy gives slice pl_sharp no share of this node")
			} else if err != nil {
				t.Fatalf("policy %q: acquire %+v by a slice with the * share: %v", tc.policy, rs, err)
			}
		}
		if _, err := e.m.Acquire(e.as("pl_broker"), api.Rspec{End: soon, Privileges: sliverRights}); err != nil {
			t.Fatalf("policy %q: acquire by a slice with a share: %v", tc.policy, err)
		}
	}
}
