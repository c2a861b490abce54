package nodemgr

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// as is a context whose caller is a process of slice's sliver (uid 1000
// inside it), as Serve records it from the peer's credentials.
func (e *testEnv) as(slice string) context.Context {
	e.t.Helper()
	e.m.mu.Lock()
	s := e.m.slivers[slice]
	e.m.mu.Unlock()
	if s == nil {
		e.t.Fatalf("no sliver %s", slice)
	}
	return context.WithValue(context.Background(), peerKey{}, Peer{PID: 42, UID: s.UIDBase + 1000, GID: s.UIDBase + 1000})
}

// broker binds slice as a broker holding a delegation of d.
func (e *testEnv) broker(slice string, d api.Rspec) {
	e.t.Helper()
	d.Privileges.CreateSliver = true
	rc := e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, Delegated: &d,
		BindSlices: customers})
	e.bind(slice, rc)
}

// customers are the slices central delegates to every test broker: the
// names they may bind besides their own.
var customers = []string{"pl_a", "pl_b", "pl_c", "pl_d", "pl_admin", "pl_cust", "pl_cust1", "pl_cust2",
	"pl_customer", "pl_many", "pl_mine", "pl_x", "pl_y"}

// pool returns the pool rcap slice owns.
func (e *testEnv) pool(slice string) api.RcapInfo {
	e.t.Helper()
	rs, err := e.m.Rcaps(e.as(slice))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rs.Rcaps {
		if r.Pool {
			if r.Rcap == "" || r.Owner != "slice:"+slice {
				e.t.Fatalf("pool %+v: want its rcap and owner slice:%s", r, slice)
			}
			return r
		}
	}
	e.t.Fatalf("slice %s has no pool among %+v", slice, rs.Rcaps)
	return api.RcapInfo{}
}

func TestPrincipals(t *testing.T) {
	e := newEnv(t)
	e.bind("pl_plain", e.acquire(api.Rspec{Privileges: sliverRights}))
	ctx := context.Background()
	peer := func(uid uint32) context.Context {
		return context.WithValue(ctx, peerKey{}, Peer{UID: uid})
	}
	if _, err := e.m.List(peer(0)); err != nil {
		t.Fatalf("root: %v", err)
	}
	_, err := e.m.List(e.as("pl_plain"))
	wantErr(t, err, ErrDenied, "slice pl_plain lacks privileges.node_manager")
	_, err = e.m.Acquire(peer(1000), api.Rspec{})
	wantErr(t, err, ErrDenied, "uid 1000 is neither root nor in a slice")
	_, err = e.m.Rcaps(peer(noPeerUID))
	wantErr(t, err, ErrDenied, "neither root nor in a slice")
}

// TestBrokerPool: a broker splits and binds from its pool, within the
// delegation's guarantees and sliver count, cannot touch what is not
// its own, and loses the pool and what it made with its sliver.
func TestBrokerPool(t *testing.T) {
	e := newEnv(t)
	centralRcap := e.acquire(api.Rspec{Privileges: sliverRights})
	e.bind("pl_central", centralRcap)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 200, MemoryGuarantee: 1 << 30, Slivers: 2})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	if pool.Rspec.CPUGuarantee != 200 || pool.Rspec.Slivers != 2 {
		t.Fatalf("pool rspec %+v", pool.Rspec)
	}
	var kids []api.Rcap
	for range 2 {
		rc, err := e.m.Split(b, pool.Rcap, api.Rspec{CPUGuarantee: 100, Privileges: sliverRights})
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		kids = append(kids, rc)
	}
	_, err := e.m.Split(b, pool.Rcap, api.Rspec{CPUGuarantee: 1, Privileges: sliverRights})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 1 requested, the parent holds 0")
	_, err = e.m.Split(b, pool.Rcap, api.Rspec{Privileges: api.Privileges{NodeManager: true}})
	wantErr(t, err, ErrDenied, "node_manager")
	for i, name := range []string{"pl_a", "pl_b"} {
		if err := e.m.Bind(b, name, kids[i], api.BindAttrs{}); err != nil {
			t.Fatalf("bind %s: %v", name, err)
		}
	}
	err = e.m.Bind(b, "pl_c", pool.Rcap, api.BindAttrs{})
	wantErr(t, err, ErrRefused, "the delegation of slice pl_broker allows 2 and 2 are bound")

	// Nothing of anyone else's.
	err = e.m.Bind(b, "pl_central", pool.Rcap, api.BindAttrs{})
	wantErr(t, err, ErrDenied, "not yours")
	_, err = e.m.Query(b, centralRcap)
	wantErr(t, err, ErrDenied, "not yours")
	wantErr(t, e.m.StopSliver(b, "pl_central"), ErrDenied, "not yours")
	_, err = e.m.Acquire(b, api.Rspec{End: soon, Privileges: api.Privileges{CreateSliver: true, Admin: true}})
	wantErr(t, err, ErrDenied, "privileges.admin")
	wantErr(t, e.m.Release(b, pool.Rcap), ErrRefused, "goes with the slice")
	// Central sees the broker's slivers, and cannot use the broker's rcaps.
	_, err = e.m.Query(context.Background(), kids[0])
	wantErr(t, err, ErrDenied, "not yours")

	if err := e.m.DestroySliver(context.Background(), "pl_broker"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pool and its slivers gone", func() bool {
		l, _ := e.m.List(context.Background())
		return len(l.Slivers) == 1 && len(l.Rcaps) == 2 // pl_central's and the broker's own rcap
	})
}

// TestDelegationChange: a smaller delegation keeps what the broker has
// handed out and shrinks the pool; one below that is refused; removing
// the privilege releases the pool.
func TestDelegationChange(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 300, Slivers: 3})
	pool := e.pool("pl_broker")
	if _, err := e.m.Split(e.as("pl_broker"), pool.Rcap, api.Rspec{CPUGuarantee: 100}); err != nil {
		t.Fatal(err)
	}
	rebind := func(d *api.Rspec, nm bool) error {
		rc := e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: nm}, Delegated: d})
		return e.m.Bind(context.Background(), "pl_broker", rc, api.BindAttrs{})
	}
	if err := rebind(&api.Rspec{CPUGuarantee: 150, Slivers: 3, Privileges: sliverRights}, true); err != nil {
		t.Fatal(err)
	}
	if p := e.pool("pl_broker"); p.ID != pool.ID || p.Rspec.CPUGuarantee != 50 {
		t.Fatalf("pool after a smaller delegation: %+v, want the same pool with 150-100", p)
	}
	wantErr(t, rebind(&api.Rspec{CPUGuarantee: 50, Slivers: 3, Privileges: sliverRights}, true), ErrRefused, "less than the 100")
	if err := rebind(nil, false); err != nil {
		t.Fatal(err)
	}
	l, _ := e.m.List(context.Background())
	for _, r := range l.Rcaps {
		if r.Pool || r.Parent == pool.ID {
			t.Fatalf("pool or its split left: %+v", r)
		}
	}
}

// TestPass: an rcap passed to another slice works for it and no longer
// for the giver, across a restart; the pass back to central works too.
func TestPass(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_one", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	e.broker("pl_two", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	rc, err := e.m.Split(e.as("pl_one"), e.pool("pl_one").Rcap, api.Rspec{CPUGuarantee: 50, Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Pass(e.as("pl_one"), rc, "pl_two"); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := e.m.Query(e.as("pl_one"), rc); err == nil {
		t.Fatal("the giver still uses the rcap")
	}
	wantErr(t, e.m.Pass(e.as("pl_one"), rc, "pl_one"), ErrDenied, "not yours")
	got, err := e.m.Rcaps(e.as("pl_two"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range got.Rcaps {
		found = found || r.Rcap == rc
	}
	if !found {
		t.Fatalf("receiver's rcaps %+v lack the passed one", got.Rcaps)
	}
	if err := e.m.Bind(e.as("pl_two"), "pl_x", rc, api.BindAttrs{}); err != nil {
		t.Fatalf("receiver binds: %v", err)
	}
	if err := e.m.Pass(e.as("pl_two"), rc, "central"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Query(context.Background(), rc); err != nil {
		t.Fatalf("central after the pass back: %v", err)
	}
	wantErr(t, e.m.Pass(context.Background(), rc, "not a slice"), ErrInvalid, "to")
}

// TestOwnerMigration: records written before owners are central's.
func TestOwnerMigration(t *testing.T) {
	e := newEnv(t)
	rc := e.acquire(api.Rspec{Privileges: sliverRights})
	h, _ := hashRcap(rc)
	path := filepath.Join(e.stateDir, kindRcap, h.String()+".json")
	var old map[string]any
	data, _ := os.ReadFile(path)
	json.Unmarshal(data, &old)
	delete(old, "owner")
	delete(old, "account")
	data, _ = json.Marshal(old)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := e.m.Query(context.Background(), rc); err != nil {
		t.Fatalf("central after migration: %v", err)
	}
	data, _ = os.ReadFile(path)
	var r rcapRecord
	if json.Unmarshal(data, &r); r.Owner != "central" || r.Account != "central" {
		t.Fatalf("migrated record %s", data)
	}
}
