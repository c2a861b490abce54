package plc_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestSliceNames(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "UpdateSite", "beta", map[string]any{"enabled": false})
	cases := []struct {
		name string
		code int
	}{
		{"alpha_ok.Name_2", 0},
		{"alpha", plc.FaultInvalidArg},     // no name part
		{"Alpha_x", plc.FaultInvalidArg},   // upper-case prefix
		{"alpha_x-y", plc.FaultInvalidArg}, // '-' not allowed
		{"alpha_x y", plc.FaultInvalidArg}, // space
		{"alpha_" + string(make([]byte, 60)), plc.FaultInvalidArg},
		{"alpha_" + "abcdefghij" + "abcdefghij" + "abcdefghij" + "abcdefghij" + "abcdefghij" + "abcdefghij", plc.FaultInvalidArg}, // 66 > 64
		{"gamma_x", plc.FaultInvalidArg},         // no such site
		{"beta_x", plc.FaultInvalidArg},          // disabled site
		{"alpha_ok.Name_2", plc.FaultInvalidArg}, // exists
	}
	for _, tc := range cases {
		_, err := w.call(w.admin, "AddSlice", map[string]any{"name": tc.name})
		if tc.code == 0 {
			if err != nil {
				t.Fatalf("%q: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Fatalf("%q accepted", tc.name)
		}
		fault(t, err, tc.code)
	}
}

func TestMaxSlices(t *testing.T) {
	w := newWorld(t) // alpha allows 3
	for i := range 3 {
		w.must(w.piA, "AddSlice", map[string]any{"name": "alpha_s" + string(rune('a'+i))})
	}
	_, err := w.call(w.piA, "AddSlice", map[string]any{"name": "alpha_sd"})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.admin, "AddSlice", map[string]any{"name": "alpha_admins"}) // admins are not bound
	// Every live slice counts, the admin's too; deleting makes room.
	w.must(w.piA, "DeleteSlice", "alpha_sa")
	_, err = w.call(w.piA, "AddSlice", map[string]any{"name": "alpha_sd"})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.piA, "DeleteSlice", "alpha_admins")
	w.must(w.piA, "AddSlice", map[string]any{"name": "alpha_sd"})
	w.must(w.admin, "UpdateSite", "alpha", map[string]any{"max_slices": 0})
	_, err = w.call(w.piA, "AddSlice", map[string]any{"name": "alpha_se"})
	fault(t, err, plc.FaultInvalidArg)
}

func TestExpiryAndRenewal(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_r"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	week := int64(7 * 86400)
	// No description/URL: no renewal.
	_, err := w.call(w.userA, "RenewSlice", sid, int64(t0)+4*week)
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.userA, "UpdateSlice", sid, map[string]any{"description": "research", "url": "http://r"})
	w.must(w.userA, "RenewSlice", sid, int64(t0)+8*week)
	_, err = w.call(w.userA, "RenewSlice", sid, int64(t0)+8*week+1)
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.userA, "RenewSlice", sid, int64(t0)-1)
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.admin, "RenewSlice", sid, int64(t0)+52*week) // admins are not bound
	// Shortening is always allowed; expiring makes the slice vanish.
	w.must(w.userA, "RenewSlice", sid, int64(t0)+10)
	w.must(w.userA, "AddSliceToNodes", sid, []any{w.nodeA1})
	w.advance(10 * time.Second)
	if got := records(t, w.must(w.admin, "GetSlices")); len(got) != 0 {
		t.Fatalf("expired slice listed: %v", got)
	}
	if sv := w.must(w.admin, "GetSlivers", w.nodeA1).(map[string]any); len(sv["slivers"].([]any)) != 0 {
		t.Fatalf("expired slice in GetSlivers: %v", sv)
	}
	_, err = w.call(w.userA, "RenewSlice", sid, int64(t0)+week)
	fault(t, err, plc.FaultInvalidArg) // gone
	// Its name can be used again.
	w.must(w.piA, "AddSlice", map[string]any{"name": "alpha_r"})
	// Renewal is disabled for a site with max_slices 0.
	w.must(w.admin, "UpdateSite", "alpha", map[string]any{"max_slices": 0})
	w.must(w.piA, "UpdateSlice", "alpha_r", map[string]any{"description": "d", "url": "http://u"})
	_, err = w.call(w.piA, "RenewSlice", "alpha_r", int64(t0)+3*week)
	fault(t, err, plc.FaultInvalidArg)
}

func TestMaxNodes(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_m", "max_nodes": 2})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	w.must(w.userA, "AddSliceToNodes", sid, []any{w.nodeA1, w.nodeA2})
	_, err := w.call(w.userA, "AddSliceToNodes", sid, []any{w.nodeB1})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.userA, "UpdateSlice", sid, map[string]any{"max_nodes": 10})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "UpdateSlice", sid, map[string]any{"max_nodes": 1})
	fault(t, err, plc.FaultInvalidArg) // below the nodes it is on
	w.must(w.piA, "UpdateSlice", sid, map[string]any{"max_nodes": 3})
	w.must(w.userA, "AddSliceToNodes", sid, []any{w.nodeB1})
	// max_slivers of the site bounds all its slices together.
	w.must(w.admin, "UpdateSite", "alpha", map[string]any{"max_slivers": 4})
	s2 := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_m2"})
	w.must(w.piA, "AddSliceToNodes", s2, []any{w.nodeA1})
	_, err = w.call(w.piA, "AddSliceToNodes", s2, []any{w.nodeA2})
	fault(t, err, plc.FaultInvalidArg)
}

func TestShares(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "UpdateSite", "alpha", map[string]any{"shares": 100, "max_slices": 10})
	a := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_a"}) // 1 share
	b := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_b", "shares": 90})
	_, err := w.call(w.piA, "AddSlice", map[string]any{"name": "alpha_c", "shares": 10})
	fault(t, err, plc.FaultInvalidArg) // 1 + 90 + 10 > 100
	w.must(w.piA, "AddSlice", map[string]any{"name": "alpha_c", "shares": 9})
	_, err = w.call(w.piA, "UpdateSlice", a, map[string]any{"shares": 2})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.piA, "UpdateSlice", b, map[string]any{"shares": 50}) // give back
	w.must(w.piA, "UpdateSlice", a, map[string]any{"shares": 41})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", a)
	_, err = w.call(w.userA, "UpdateSlice", a, map[string]any{"shares": 1})
	fault(t, err, plc.FaultPermission) // users do not hand out shares
	_, err = w.call(w.admin, "UpdateSite", "alpha", map[string]any{"shares": 50})
	fault(t, err, plc.FaultInvalidArg) // the slices hold 100
	// An expired slice's shares return to the site.
	w.must(w.piA, "RenewSlice", b, int64(t0+5))
	w.advance(5 * time.Second)
	w.must(w.piA, "AddSlice", map[string]any{"name": "alpha_d", "shares": 50})
}

func TestDelegatedShares(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "UpdateSite", "alpha", map[string]any{"shares": 10, "max_slices": 10})
	broker := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_broker", "instantiation": "delegated"})
	_, err := w.call(w.piA, "UpdateSlice", broker, map[string]any{"shares": 500})
	fault(t, err, plc.FaultPermission)                                    // only admins fund brokers
	w.must(w.admin, "UpdateSlice", broker, map[string]any{"shares": 500}) // beyond the site's 10
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", broker)
	target := w.id(w.piB, "AddSlice", map[string]any{"name": "beta_t"})
	w.must(w.piB, "AddSliceToNodes", target, []any{w.nodeB1})
	w.takeChanged()

	w.must(w.userA, "DelegateShares", "alpha_broker", "beta_t", int64(200))
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeB1}) {
		t.Fatalf("DelegateShares changed %v", got)
	}
	sl := records(t, w.must(w.admin, "GetSlices", []any{broker, target}, []any{"name", "shares"}))
	if sl[0]["shares"] != int64(300) || sl[1]["shares"] != int64(201) {
		t.Fatalf("after delegation: %v", sl)
	}
	_, err = w.call(w.userA, "DelegateShares", broker, target, int64(301))
	fault(t, err, plc.FaultInvalidArg) // more than it holds
	_, err = w.call(w.userB, "DelegateShares", broker, target, int64(1))
	fault(t, err, plc.FaultPermission) // not the broker's user
	_, err = w.call(w.piB, "DelegateShares", target, broker, int64(1))
	fault(t, err, plc.FaultInvalidArg) // not a broker
	// The received shares do not count against beta's budget: beta's PI
	// can still hand out its own 1000.
	w.must(w.piB, "UpdateSlice", target, map[string]any{"shares": 200 + plc.DefaultSiteShares})
	_, err = w.call(w.piB, "UpdateSlice", target, map[string]any{"shares": 201 + plc.DefaultSiteShares})
	fault(t, err, plc.FaultInvalidArg)
	sv := w.must(w.admin, "GetSlivers", w.nodeB1).(map[string]any)["slivers"].([]any)[0].(map[string]any)
	if got := sv["rspec"].(map[string]any)["cpu_shares"]; got != int64(200+plc.DefaultSiteShares) {
		t.Fatalf("cpu_shares %v", got)
	}
}

func TestExpireLoop(t *testing.T) {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "c.db"), testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changed := make(chan []int64, 10)
	ctx := testutil.Context(t)
	svc, err := plc.New(ctx, plc.Options{Store: st, Log: testutil.Logger(t), OnChange: func(ids []int64) { changed <- ids }})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Bootstrap(ctx, "a@b.c", "password1"); err != nil {
		t.Fatal(err)
	}
	admin := &plc.Caller{PersonID: 1, Roles: []int64{10}}
	call := func(m string, args ...any) any {
		v, err := svc.Registry().Lookup(m).Call(ctx, admin, args)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		return v
	}
	call("AddSite", map[string]any{"name": "s", "abbreviated_name": "s", "login_base": "s"})
	node := call("AddNode", "s", map[string]any{"hostname": "n"}).(int64)
	sid := call("AddSlice", map[string]any{"name": "s_x"}).(int64)
	call("AddSliceToNodes", sid, []any{node})
	<-changed
	go svc.ExpireLoop(ctx)
	exp := time.Now().Unix() + 2
	call("RenewSlice", sid, exp)
	<-changed // RenewSlice itself
	before := version(t, svc, node)
	select {
	case ids := <-changed:
		if at := time.Now(); !slices.Equal(ids, []int64{node}) || at.Unix() < exp || at.After(time.Unix(exp, 0).Add(time.Second)) {
			t.Fatalf("expiry bumped %v at %v, want node %d at %d", ids, at, node, exp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no bump at expiry")
	}
	if after := version(t, svc, node); after <= before {
		t.Fatalf("node version %d -> %d", before, after)
	}
	sv, _ := svc.NodeSlivers(ctx, node)
	if len(sv.Slivers) != 0 {
		t.Fatalf("expired slice still listed: %+v", sv)
	}
}

func version(t *testing.T, svc *plc.Service, node int64) int64 {
	sv, err := svc.NodeSlivers(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	return sv.Version
}
