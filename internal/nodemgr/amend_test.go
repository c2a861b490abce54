package nodemgr

import (
	"context"
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
)

func tcp(port uint16) api.Port { return api.Port{Proto: "tcp", Port: port} }

// sliverRspec is what the runtime was last told for slice's sliver.
func (e *testEnv) sliverRspec(slice string) api.Rspec {
	e.t.Helper()
	s, ok := e.rt.Sliver(slice)
	if !ok {
		e.t.Fatalf("no sliver %s", slice)
	}
	return s.Spec.Rspec
}

// TestAmendOwnPorts: an rcap that reserves ports keeps them across an
// amend of its limits (the old way, a second rcap, found them taken by
// itself), adds a port, drops one, which another rcap can then take, and
// cannot take a port another rcap holds. The sliver gets every change at
// once, and after a restart.
func TestAmendOwnPorts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rs := api.Rspec{Ports: []api.Port{tcp(8080)}, End: soon, Privileges: sliverRights}
	rc := e.acquire(rs)
	e.bind("pl_a", rc)
	if _, err := e.m.Acquire(ctx, rs); err == nil {
		t.Fatal("a second rcap got tcp/8080: the test proves nothing")
	}

	rs.NetMaxRate = 1000
	if err := e.m.Amend(ctx, rc, rs); err != nil {
		t.Fatalf("amend net_max_rate with own ports: %v", err)
	}
	if got := e.sliverRspec("pl_a"); got.NetMaxRate != 1000 || !samePorts(got.Ports, rs.Ports) {
		t.Fatalf("sliver got %+v, want net_max_rate 1000 and tcp/8080", got)
	}

	rs.Ports = []api.Port{tcp(8080), tcp(9090)}
	if err := e.m.Amend(ctx, rc, rs); err != nil {
		t.Fatalf("amend to add tcp/9090: %v", err)
	}
	other := e.acquire(api.Rspec{Ports: []api.Port{tcp(7070)}, End: soon})
	wantErr(t, e.m.Amend(ctx, other, api.Rspec{Ports: []api.Port{tcp(7070), tcp(9090)}, End: soon}),
		ErrRefused, "tcp/9090 is reserved by rcap")
	if _, err := e.m.Acquire(ctx, api.Rspec{Ports: []api.Port{tcp(9090)}, End: soon}); err == nil {
		t.Fatal("another rcap got tcp/9090 after the amend added it")
	}

	rs.Ports = []api.Port{tcp(9090)}
	if err := e.m.Amend(ctx, rc, rs); err != nil {
		t.Fatalf("amend to drop tcp/8080: %v", err)
	}
	if got := e.sliverRspec("pl_a"); !samePorts(got.Ports, rs.Ports) {
		t.Fatalf("sliver ports %v, want %v", got.Ports, rs.Ports)
	}
	e.acquire(api.Rspec{Ports: []api.Port{tcp(8080)}, End: soon}) // free now
	checkLedger(t, e)

	e.reopen()
	q, err := e.m.Query(ctx, rc)
	if err != nil || q.Rspec.NetMaxRate != 1000 || !samePorts(q.Rspec.Ports, rs.Ports) || q.Slice != "pl_a" {
		t.Fatalf("after a restart: %+v, %v", q, err)
	}
}

// TestAmendGuarantees: on a full node, raising a guarantee is refused
// with what is short and changes nothing; lowering one always applies,
// and frees what it lowered.
func TestAmendGuarantees(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rs := api.Rspec{CPUGuarantee: 600, MemoryGuarantee: 1 << 30, End: soon, Privileges: sliverRights}
	rc := e.acquire(rs)
	e.bind("pl_a", rc)
	e.acquire(api.Rspec{CPUGuarantee: 400, End: soon})

	up := rs
	up.CPUGuarantee = 700
	wantErr(t, e.m.Amend(ctx, rc, up), ErrRefused, "cpu_guarantee: 100 requested, 0 of 1000 free")
	if q, _ := e.m.Query(ctx, rc); q.Rspec.CPUGuarantee != 600 {
		t.Fatalf("a refused amend changed the rcap: %+v", q.Rspec)
	}

	down := rs
	down.CPUGuarantee, down.MemoryGuarantee, down.MemoryMax = 100, 0, 256<<20
	if err := e.m.Amend(ctx, rc, down); err != nil {
		t.Fatalf("lowering on a full node: %v", err)
	}
	if got := e.sliverRspec("pl_a"); got.CPUGuarantee != 100 || got.MemoryMax != 256<<20 {
		t.Fatalf("sliver got %+v, want the lowered limits", got)
	}
	checkLedger(t, e)
	e.acquire(api.Rspec{CPUGuarantee: 500, End: soon}) // what the amend freed
	wantErr(t, e.m.Amend(ctx, rc, api.Rspec{MemoryGuarantee: 2 << 30, MemoryMax: 1 << 30, End: soon, Privileges: sliverRights}),
		ErrInvalid, "memory_guarantee")
}

// TestAmendOwnerOnly: only the rcap's owner amends it, and a slice
// cannot grant itself what only central grants.
func TestAmendOwnerOnly(t *testing.T) {
	e := newEnv(t)
	e.bind("pl_a", e.acquire(api.Rspec{End: soon, Privileges: api.Privileges{CreateSliver: true, NodeManager: true}}))
	rc := e.acquire(api.Rspec{CPUGuarantee: 10, End: soon, Privileges: sliverRights})
	e.bind("pl_b", rc)
	wantErr(t, e.m.Amend(e.as("pl_a"), rc, api.Rspec{CPUGuarantee: 1, End: soon}), ErrDenied, "not yours")
	// A broker's rcap: acquired by it, so it owns it.
	own, err := e.m.Acquire(e.as("pl_a"), api.Rspec{End: soon})
	if err != nil {
		t.Fatalf("a slice acquires: %v", err)
	}
	wantErr(t, e.m.Amend(e.as("pl_a"), own, api.Rspec{End: soon, Privileges: api.Privileges{NodeManager: true}}),
		ErrDenied, "only central grants it")
	if err := e.m.Amend(e.as("pl_a"), own, api.Rspec{NetMaxRate: 500, End: soon}); err != nil {
		t.Fatalf("the owner amends: %v", err)
	}
}

// TestAmendBroker: a broker amends its splits within its pool, not
// their guarantees, and never the pool itself.
func TestAmendBroker(t *testing.T) {
	e := newEnv(t)
	poolEnd := t0.Unix() + 1800
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 200, NetMaxRate: 2000, End: poolEnd, Slivers: 2})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	kid, err := e.m.Split(b, pool.Rcap, api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 600, Privileges: sliverRights})
	if err != nil {
		t.Fatalf("split: %v", err)
	}
	if err := e.m.Bind(b, "pl_a", kid, api.BindAttrs{}); err != nil {
		t.Fatalf("bind: %v", err)
	}
	rs := api.Rspec{CPUGuarantee: 100, NetMaxRate: 1500, End: poolEnd, Privileges: sliverRights}
	if err := e.m.Amend(b, kid, rs); err != nil {
		t.Fatalf("amend a split within the pool: %v", err)
	}
	if got := e.sliverRspec("pl_a"); got.NetMaxRate != 1500 || got.End != poolEnd {
		t.Fatalf("sliver got %+v", got)
	}
	over := rs
	over.NetMaxRate = 3000
	wantErr(t, e.m.Amend(b, kid, over), ErrRefused, "net_max_rate: 3000 exceeds the parent's 2000")
	over = rs
	over.End = poolEnd + 1
	wantErr(t, e.m.Amend(b, kid, over), ErrRefused, "after the parent's end")
	over = rs
	over.CPUGuarantee = 150
	wantErr(t, e.m.Amend(b, kid, over), ErrRefused, "a split keeps those it took")
	wantErr(t, e.m.Amend(b, pool.Rcap, api.Rspec{CPUGuarantee: 100, End: poolEnd}), ErrRefused, "follows the delegation")
	wantErr(t, e.m.Amend(context.Background(), kid, rs), ErrDenied, "not yours")
	checkLedger(t, e)
}

// TestAmendRuntimeFails: an amend the runtime can apply none of leaves
// the rcap as it was.
func TestAmendRuntimeFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rs := api.Rspec{NetMaxRate: 2000, End: soon, Privileges: sliverRights}
	rc := e.acquire(rs)
	e.bind("pl_a", rc)
	e.rt.FailNext("update", errors.New("boom"))
	rs.NetMaxRate = 1000
	if err := e.m.Amend(ctx, rc, rs); err == nil {
		t.Fatal("amend succeeded though the runtime failed")
	}
	if q, _ := e.m.Query(ctx, rc); q.Rspec.NetMaxRate != 2000 {
		t.Fatalf("rcap after a failed amend: %+v", q.Rspec)
	}
	if err := e.m.Amend(ctx, rc, rs); err != nil {
		t.Fatalf("amend again: %v", err)
	}
	checkLedger(t, e)
}

// TestAmendCentralWinsPort: central's amend adding a port a broker's
// rcap reserves takes it back from the broker, as central's acquire
// does; a broker's amend cannot take central's.
func TestAmendCentralWinsPort(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.bind("pl_b", e.acquire(api.Rspec{End: soon, Privileges: api.Privileges{CreateSliver: true, NodeManager: true}}))
	squat, err := e.m.Acquire(e.as("pl_b"), api.Rspec{Ports: []api.Port{tcp(7000)}, End: soon})
	if err != nil {
		t.Fatalf("the broker acquires tcp/7000: %v", err)
	}
	rs := api.Rspec{Ports: []api.Port{tcp(8080)}, End: soon, Privileges: sliverRights}
	rc := e.acquire(rs)
	e.bind("pl_a", rc)
	wantErr(t, e.m.Amend(e.as("pl_b"), squat, api.Rspec{Ports: []api.Port{tcp(7000), tcp(8080)}, End: soon}),
		ErrRefused, "tcp/8080 is reserved by rcap")
	rs.Ports = []api.Port{tcp(8080), tcp(7000)}
	if err := e.m.Amend(ctx, rc, rs); err != nil {
		t.Fatalf("central amends in a port a broker holds: %v", err)
	}
	if _, err := e.m.Query(e.as("pl_b"), squat); err == nil {
		t.Fatal("the broker's rcap holding central's port is live")
	}
	if got := e.sliverRspec("pl_a"); !samePorts(got.Ports, rs.Ports) {
		t.Fatalf("sliver ports %v, want %v", got.Ports, rs.Ports)
	}
	checkLedger(t, e)
}
