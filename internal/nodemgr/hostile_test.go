package nodemgr

import (
	"slices"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestSliceRcapBound: a broker cannot make rcaps without end (each is a
// record in memory and on disk) by splitting its pool into pieces that
// guarantee nothing, acquiring such rspecs, or passing them to another
// slice (they still count as its own); once it releases some it has room
// again.
func TestSliceRcapBound(t *testing.T) {
	e := newEnv(t)
	e.m.maxSliceRcaps = 4
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	e.broker("pl_other", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	b := e.as("pl_broker")
	pool := e.pool("pl_broker")
	var kids []api.Rcap
	for range 3 { // the pool is the first of the 4
		rc, err := e.m.Split(b, pool.Rcap, api.Rspec{})
		if err != nil {
			t.Fatalf("split: %v", err)
		}
		kids = append(kids, rc)
	}
	if err := e.m.Pass(b, kids[0], "pl_other"); err != nil {
		t.Fatalf("pass: %v", err)
	}
	_, err := e.m.Split(b, pool.Rcap, api.Rspec{})
	wantErr(t, err, ErrRefused, "rcaps: slice:pl_broker made 4")
	_, err = e.m.Acquire(b, api.Rspec{End: soon})
	wantErr(t, err, ErrRefused, "rcaps: slice:pl_broker made 4")

	if err := e.m.Release(e.as("pl_other"), kids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Split(b, pool.Rcap, api.Rspec{}); err != nil {
		t.Fatalf("split after a release: %v", err)
	}
	// Central is not bounded.
	for range 5 {
		e.acquire(api.Rspec{})
	}
}

// TestUnsolicitedPass performs issue 18's attack on another broker: a
// slice passes the lease broker as many empty rcaps as it may make, to
// fill the receiver's room so that its own splits (its leases) fail.
// Passed rcaps count against their maker: the receiver still splits.
func TestUnsolicitedPass(t *testing.T) {
	e := newEnv(t)
	e.m.maxSliceRcaps = 8
	e.broker("pl_lease", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	e.broker("pl_evil", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	evil := e.as("pl_evil")
	for i := 0; ; i++ {
		rc, err := e.m.Split(evil, e.pool("pl_evil").Rcap, api.Rspec{})
		if err != nil {
			wantErr(t, err, ErrRefused, "rcaps: slice:pl_evil made 8")
			break
		}
		if err := e.m.Pass(evil, rc, "pl_lease"); err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
	}
	l := e.as("pl_lease")
	for range 7 { // its pool and 7 splits: its whole room
		if _, err := e.m.Split(l, e.pool("pl_lease").Rcap, api.Rspec{CPUGuarantee: 1, Privileges: sliverRights}); err != nil {
			t.Fatalf("the lease broker's split after the flood of passes: %v", err)
		}
	}
}

// TestCentralTakesOverBrokerSliver: a broker that binds a sliver under a
// slice name central later binds (say, an admin slice's) cannot hand it
// its files: central's bind destroys the broker's sliver and creates a
// fresh one, which the broker cannot touch.
func TestCentralTakesOverBrokerSliver(t *testing.T) {
	e := newEnv(t)
	e.broker("pl_broker", api.Rspec{CPUGuarantee: 100, Slivers: 1})
	b := e.as("pl_broker")
	kid, err := e.m.Split(b, e.pool("pl_broker").Rcap, api.Rspec{Privileges: sliverRights})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Bind(b, "pl_admin", kid, api.BindAttrs{InitScript: "planted"}); err != nil {
		t.Fatal(err)
	}
	before := len(e.rt.Calls())

	admin := e.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, Admin: true}})
	e.bind("pl_admin", admin)
	calls := e.rt.Calls()[before:]
	destroy, create := slices.Index(calls, "destroy pl_admin"), slices.Index(calls, "create pl_admin")
	if destroy < 0 || create < destroy {
		t.Fatalf("runtime calls at central's bind %q: want the broker's sliver destroyed, then a new one created", calls)
	}
	if s, ok := e.rt.Sliver("pl_admin"); !ok || s.Spec.InitScript != "" || !s.Spec.Rspec.Privileges.Admin {
		t.Fatalf("pl_admin after central's bind: %+v, %v", s, ok)
	}
	q, err := e.m.Query(b, kid)
	if err != nil || q.Slice != "" {
		t.Fatalf("the broker's rcap after the takeover: %+v, %v (want live and unbound)", q, err)
	}
	wantErr(t, e.m.StopSliver(b, "pl_admin"), ErrDenied, "not yours")

	// Central binding its own sliver again updates it in place.
	before = len(e.rt.Calls())
	e.bind("pl_admin", admin)
	if calls := e.rt.Calls()[before:]; slices.Contains(calls, "destroy pl_admin") {
		t.Fatalf("central's rebind of its own sliver destroyed it: %q", calls)
	}
	// And a broker binding over its own sliver is not a takeover.
	if err := e.m.Bind(b, "pl_mine", kid, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	before = len(e.rt.Calls())
	if err := e.m.Bind(b, "pl_mine", kid, api.BindAttrs{InitScript: "x"}); err != nil {
		t.Fatal(err)
	}
	if calls := e.rt.Calls()[before:]; slices.Contains(calls, "destroy pl_mine") {
		t.Fatalf("the broker's rebind of its own sliver destroyed it: %q", calls)
	}
}
