package plc_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// leaseWorld is a world with a reservable node at site alpha and two
// slices, a and b, on it and on the regular node n1.alpha.org, each with
// one lease on the reservable node: a over [t0+1h, t0+2h), b over
// [t0+2h, t0+3h).
type leaseWorld struct {
	*world
	res    int64 // the reservable node
	sliceA int64
	sliceB int64
	leaseA int64
}

func newLeaseWorld(t *testing.T) *leaseWorld {
	w := &leaseWorld{world: newWorld(t)}
	w.res = w.id(w.admin, "AddNode", w.siteA, map[string]any{"hostname": "r.alpha.org", "node_type": "reservable"})
	w.sliceA = w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_a"})
	w.sliceB = w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_b"})
	for _, sid := range []int64{w.sliceA, w.sliceB} {
		w.must(w.piA, "AddSliceToNodes", sid, []any{w.res, w.nodeA1})
	}
	w.leaseA = w.lease(w.sliceA, t0+3600, t0+2*3600)
	w.lease(w.sliceB, t0+2*3600, t0+3*3600)
	return w
}

// lease leases the reservable node to slice over [from, until).
func (w *leaseWorld) lease(slice, from, until int64) int64 {
	w.t.Helper()
	out := w.must(w.piA, "AddLeases", []any{w.res}, slice, from, until).(map[string]any)
	ids := out["new_ids"].([]any)
	if len(ids) != 1 {
		w.t.Fatalf("AddLeases: %v", out)
	}
	return ids[0].(int64)
}

// running returns, for node's list, whether each sliver would run (its
// first enabled attribute, as the node's resource manager reads it, is
// not 0).
func (w *leaseWorld) running(node int64) map[string]bool {
	w.t.Helper()
	sv, err := w.svc.NodeSlivers(w.ctx, node)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]bool{}
	for _, s := range sv.Slivers {
		i := slices.IndexFunc(s.Attributes, func(a api.Attribute) bool { return a.TagName == "enabled" })
		out[s.Name] = i < 0 || s.Attributes[i].Value != "0"
	}
	return out
}

// versions returns the list versions of the reservable node and n1.
func (w *leaseWorld) versions() [2]int64 {
	w.t.Helper()
	v, err := w.svc.Versions(w.ctx, []int64{w.res, w.nodeA1})
	if err != nil {
		w.t.Fatal(err)
	}
	return [2]int64{v[w.res], v[w.nodeA1]}
}

// tick moves the clock to t0+at, runs svc's LeaseTick and returns how
// much the versions of the reservable node and n1 grew.
func (w *leaseWorld) tick(svc *plc.Service, at time.Duration) [2]int64 {
	w.t.Helper()
	w.clock.Store(t0 + int64(at/time.Second))
	before := w.versions()
	w.takeChanged()
	if err := svc.LeaseTick(w.ctx, time.Unix(w.clock.Load(), 0)); err != nil {
		w.t.Fatalf("LeaseTick at +%v: %v", at, err)
	}
	after := w.versions()
	d := [2]int64{after[0] - before[0], after[1] - before[1]}
	if changed := w.takeChanged(); (d[0] > 0) != slices.Contains(changed, w.res) {
		w.t.Errorf("at +%v: version delta %v but OnChange got %v", at, d, changed)
	}
	return d
}

// TestLeaseSchedule: on a reservable node a slice's sliver runs only
// within its leases, each lease boundary bumps the node once, and a
// regular node ignores leases.
func TestLeaseSchedule(t *testing.T) {
	w := newLeaseWorld(t)
	if d := w.tick(w.svc, 0); d != [2]int64{1, 0} {
		t.Fatalf("first pass (catch-up of every reservable node): deltas %v, want [1 0]", d)
	}
	both := map[string]bool{"alpha_a": true, "alpha_b": true}
	steps := []struct {
		at   time.Duration
		bump int64
		want map[string]bool
	}{
		{30 * time.Minute, 0, map[string]bool{"alpha_a": false, "alpha_b": false}},
		{time.Hour - time.Second, 0, map[string]bool{"alpha_a": false, "alpha_b": false}},
		{time.Hour, 1, map[string]bool{"alpha_a": true, "alpha_b": false}},
		{90 * time.Minute, 0, map[string]bool{"alpha_a": true, "alpha_b": false}},
		{2 * time.Hour, 1, map[string]bool{"alpha_a": false, "alpha_b": true}},
		{150 * time.Minute, 0, map[string]bool{"alpha_a": false, "alpha_b": true}},
		{3 * time.Hour, 1, map[string]bool{"alpha_a": false, "alpha_b": false}},
		{4 * time.Hour, 0, map[string]bool{"alpha_a": false, "alpha_b": false}},
	}
	for _, st := range steps {
		if d := w.tick(w.svc, st.at); d != [2]int64{st.bump, 0} {
			t.Errorf("at +%v: version deltas (reservable, regular) %v, want [%d 0]", st.at, d, st.bump)
		}
		if got := w.running(w.res); !maps.Equal(got, st.want) {
			t.Errorf("at +%v: reservable node runs %v, want %v", st.at, got, st.want)
		}
		if got := w.running(w.nodeA1); !maps.Equal(got, both) {
			t.Errorf("at +%v: regular node runs %v, want both", st.at, got)
		}
	}
}

// TestLeaseList: the reservable node receives its current and future
// leases, the regular node none; enabled=0 replaces a slice's own enabled
// tag outside its leases, and inside them the tag still decides.
func TestLeaseList(t *testing.T) {
	w := newLeaseWorld(t)
	w.must(w.piA, "AddSliceTag", w.sliceA, "enabled", "1")
	w.must(w.piA, "AddSliceTag", w.sliceA, "initscript", "true")
	sv, err := w.svc.NodeSlivers(w.ctx, w.res)
	if err != nil {
		t.Fatal(err)
	}
	if len(sv.Leases) != 2 || sv.Leases[0].SliceID != w.sliceA || sv.Leases[1].SliceID != w.sliceB ||
		sv.Leases[0].TFrom != t0+3600 || sv.Leases[1].TUntil != t0+3*3600 {
		t.Errorf("leases of the reservable node: %+v", sv.Leases)
	}
	a := sv.Slivers[slices.IndexFunc(sv.Slivers, func(s api.Sliver) bool { return s.Name == "alpha_a" })]
	want := []api.Attribute{{TagName: "enabled", Value: "0"}, {TagName: "initscript", Value: "true"}}
	if !slices.Equal(a.Attributes, want) {
		t.Errorf("attributes outside the lease: %v, want %v", a.Attributes, want)
	}
	if reg, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1); reg.Leases != nil {
		t.Errorf("regular node got leases %v", reg.Leases)
	}
	w.clock.Store(t0 + 2*3600 + 60) // a's lease is over, b's runs
	if sv, _ := w.svc.NodeSlivers(w.ctx, w.res); len(sv.Leases) != 1 || sv.Leases[0].SliceID != w.sliceB {
		t.Errorf("leases during b's: %+v, want b's alone", sv.Leases)
	}
	w.must(w.piA, "AddSliceTag", w.sliceB, "enabled", "0")
	if got := w.running(w.res); got["alpha_b"] {
		t.Error("a slice disabled by its own tag runs in its lease")
	}
	// Leases booked beyond the horizon are not sent.
	w.lease(w.sliceA, t0+8*24*3600, t0+8*24*3600+3600)
	if sv, _ := w.svc.NodeSlivers(w.ctx, w.res); len(sv.Leases) != 1 {
		t.Errorf("a lease 8 days ahead was sent: %+v", sv.Leases)
	}
}

// TestLeaseCalls: AddLeases and DeleteLeases bump the node when the lease
// is current or future, a node_type change bumps it, and the site's admin
// slice runs on its own reservable nodes without a lease.
func TestLeaseCalls(t *testing.T) {
	w := newLeaseWorld(t)
	w.clock.Store(t0 + 5*3600)
	v := w.versions()
	w.lease(w.sliceA, t0+5*3600, t0+6*3600)
	if got := w.versions(); got[0] != v[0]+1 || !w.running(w.res)["alpha_a"] {
		t.Fatalf("AddLeases covering now: versions %v -> %v, running %v", v, got, w.running(w.res))
	}
	v = w.versions()
	w.must(w.piA, "DeleteLeases", w.leaseA) // over: nothing a node shows changes
	if got := w.versions(); got != v {
		t.Errorf("deleting a past lease: versions %v -> %v", v, got)
	}
	ls := records(t, w.must(w.admin, "GetLeases", map[string]any{"slice_id": w.sliceA}))
	w.must(w.piA, "DeleteLeases", ls[0]["lease_id"])
	if got := w.versions(); got[0] != v[0]+1 || w.running(w.res)["alpha_a"] {
		t.Fatalf("DeleteLeases of the current lease: versions %v -> %v, running %v", v, got, w.running(w.res))
	}

	adm := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_admin"})
	w.must(w.admin, "AddSliceTag", adm, "admin", "1")
	w.must(w.piA, "AddSliceToNodes", adm, []any{w.res})
	if !w.running(w.res)["alpha_admin"] {
		t.Error("the site's admin slice is stopped on its reservable node")
	}

	v = w.versions()
	w.must(w.admin, "UpdateNode", w.res, map[string]any{"node_type": "regular"})
	if got := w.versions(); got[0] != v[0]+1 || !maps.Equal(w.running(w.res), map[string]bool{"alpha_a": true, "alpha_b": true, "alpha_admin": true}) {
		t.Errorf("made regular: versions %v -> %v, running %v", v, got, w.running(w.res))
	}
}

// TestLeaseRestart: boundaries passed while no pass ran (central down, or
// a late tick) are caught up, and a new Service over the same store bumps
// every reservable node on its first pass.
func TestLeaseRestart(t *testing.T) {
	w := newLeaseWorld(t)
	w.tick(w.svc, 0)
	w.tick(w.svc, 30*time.Minute)
	if d := w.tick(w.svc, 90*time.Minute); d != [2]int64{1, 0} {
		t.Errorf("a late pass over the +1h boundary: deltas %v, want [1 0]", d)
	}
	// Central restarts at +2h30m: the +2h boundary was never seen.
	restarted, err := plc.New(testutil.Context(t), plc.Options{Store: w.store, Log: testutil.Logger(t),
		Now: func() time.Time { return time.Unix(w.clock.Load(), 0) },
		OnChange: func(ids []int64) {
			w.mu.Lock()
			defer w.mu.Unlock()
			w.changed = append(w.changed, ids...)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if d := w.tick(restarted, 150*time.Minute); d != [2]int64{1, 0} {
		t.Errorf("first pass after a restart: deltas %v, want [1 0]", d)
	}
	if got := w.running(w.res); !maps.Equal(got, map[string]bool{"alpha_a": false, "alpha_b": true}) {
		t.Errorf("after the restart the node runs %v, want b alone", got)
	}
	if d := w.tick(restarted, 160*time.Minute); d != [2]int64{0, 0} {
		t.Errorf("second pass after the restart: deltas %v, want none", d)
	}
	if d := w.tick(restarted, 3*time.Hour); d != [2]int64{1, 0} {
		t.Errorf("b's end after the restart: deltas %v, want [1 0]", d)
	}
}
