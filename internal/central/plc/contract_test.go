package plc_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

// validTagValue is a value the contract accepts for spec.
func validTagValue(spec api.TagSpec) string {
	switch {
	case spec.Name == api.SoftwareTag:
		return strings.Repeat("a", 64) + " /opt/x"
	case spec.Kind == api.Text:
		return "x"
	case spec.Name == "ports":
		return "tcp/61080"
	case spec.Name == "bind_slices":
		return "beta_x"
	}
	return "1"
}

// TestTagRolesFollowTheTable performs the attack of a slice's own PI and
// user on every tag the contract names: each tag the table gives to
// admins is refused to them, each it gives to users is theirs; an admin
// sets every one.
func TestTagRolesFollowTheTable(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_roles"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	for _, spec := range api.TagSpecs() {
		value := validTagValue(spec)
		for _, c := range []*plc.Caller{w.piA, w.userA} {
			_, err := w.call(c, "AddSliceTag", sid, spec.Name, value)
			if spec.Role == api.RoleAdmin {
				fault(t, err, plc.FaultPermission)
			} else if err != nil {
				t.Errorf("%s: a slice's member may set it: %v", spec.Name, err)
			}
		}
		w.must(w.admin, "AddSliceTag", sid, spec.Name, value)
	}
}

// TestTagBoundsFollowTheTable: every number and flag tag refuses a
// negative value, junk, and one past its bound, and takes its bound.
func TestTagBoundsFollowTheTable(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_bounds"})
	for _, spec := range api.TagSpecs() {
		if spec.Kind == api.Text || spec.Kind == api.List {
			continue
		}
		top := spec.MaxValue()
		for _, bad := range []string{"-1", "x", "1.5", strconv.FormatInt(top+1, 10)} {
			_, err := w.call(w.admin, "AddSliceTag", sid, spec.Name, bad)
			if f := fault(t, err, plc.FaultInvalidArg); !strings.Contains(f.Msg, spec.Name) {
				t.Errorf("%s=%s: %q does not name the tag", spec.Name, bad, f.Msg)
			}
		}
		w.must(w.admin, "AddSliceTag", sid, spec.Name, strconv.FormatInt(top, 10))
	}
	_, err := w.call(w.admin, "AddSliceTag", sid, "initscript", strings.Repeat("x", api.MaxInitScript+1))
	fault(t, err, plc.FaultInvalidArg)
	// A slice's user names its image, but not a path out of the images.
	_, err = w.call(w.piA, "AddSliceTag", sid, "vref", "../../etc")
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.piA, "AddSliceTag", sid, "vref", "debian-12")
}

// TestUnenforcedTagsRefused: the PlanetLab tags no Orbis node enforces
// are refused even to an admin, with the reason; a slice cannot be handed
// a promise no node keeps. One stored before the rule is kept, shown,
// sent to the node as an attribute, and an admin may delete it.
func TestUnenforcedTagsRefused(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_unenf"})
	w.must(w.admin, "AddSliceToNodes", sid, []any{w.nodeA1})
	for _, name := range []string{"net_share", "vsys", "capabilities", "cpu_hard", "nofile_soft"} {
		_, err := w.call(w.admin, "AddSliceTag", sid, name, "1")
		if f := fault(t, err, plc.FaultInvalidArg); !strings.Contains(f.Msg, "not supported") {
			t.Errorf("%s: %q does not say it is not supported", name, f.Msg)
		}
	}
	old := api.SliceTag{SliceID: sid, TagName: "vsys", Value: "fd_tuntap"}
	if err := w.store.Update(w.ctx, "test", func(tx store.Tx) error { return tx.AddSliceTag(&old) }); err != nil {
		t.Fatal(err)
	}
	if got := strs(t, w.must(w.admin, "GetSliceTags", map[string]any{"slice_id": sid}), "tagname"); len(got) != 1 || got[0] != "vsys" {
		t.Fatalf("stored tags: %v", got)
	}
	_, err := w.call(w.admin, "UpdateSliceTag", old.SliceTagID, "other")
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.piA, "DeleteSliceTag", old.SliceTagID)
	fault(t, err, plc.FaultPermission)
	w.must(w.admin, "DeleteSliceTag", old.SliceTagID)
}

// TestSliverRspecFollowsTheTable sets every resource tag at central and
// finds it in the rspec the node gets, in the field and unit the table
// names.
func TestSliverRspecFollowsTheTable(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_contract"})
	w.must(w.admin, "AddSliceToNodes", sid, []any{w.nodeA1})
	w.must(w.admin, "AddSliceTag", sid, "nm_controller", "1")
	w.must(w.admin, "AddSliceTag", sid, "cpu_pct", "10")
	var want, pool api.Rspec
	for _, spec := range api.TagSpecs() {
		if spec.Resource == nil || spec.Name == "as_hard" || spec.Name == "cpu_pct" || spec.Name == "nm_controller" {
			continue
		}
		value := validTagValue(spec)
		if spec.Kind != api.Flag && spec.Kind != api.List {
			value = "3"
		}
		w.must(w.admin, "AddSliceTag", sid, spec.Name, value)
		target := &want
		if spec.Delegate {
			target = &pool
		}
		if err := spec.Apply(target, value); err != nil {
			t.Fatal(err)
		}
	}
	rs := sliverRspec(t, w, w.nodeA1, "alpha_contract")
	if rs.Delegated == nil {
		t.Fatal("no pool")
	}
	for _, r := range api.Resources {
		if len(r.Tags) > 0 && r.IsNumber() && r.Name != "cpu_guarantee" && r.Name != "privileges.node_manager" {
			if got, w := r.Get(&rs), r.Get(&want); got != w {
				t.Errorf("%s: %d, want %d", r.Name, got, w)
			}
		}
		if r.DelegateTag != "" {
			if got, w := r.Get(rs.Delegated), r.Get(&pool); got != w {
				t.Errorf("delegated.%s: %d, want %d", r.Name, got, w)
			}
		}
	}
	if rs.CPUGuarantee != 100 || len(rs.Ports) != 1 || len(rs.BindSlices) != 1 {
		t.Errorf("rspec %+v", rs)
	}
}

// TestReportStatesAreTyped: a node reports only the sliver states of
// api.SliverStates; anything else is refused, and nothing is stored.
func TestReportStatesAreTyped(t *testing.T) {
	w := newWorld(t)
	err := w.svc.ReportSlivers(w.ctx, w.nodeA1, []api.SliverReport{{Name: "alpha_x", State: api.SliverRunning}, {Name: "alpha_y", State: "<b>pwned</b>"}})
	fault(t, err, plc.FaultInvalidArg)
	if got := records(t, w.must(w.admin, "GetSliverReports")); len(got) != 0 {
		t.Fatalf("a refused report stored %v", got)
	}
	for _, st := range api.SliverStates {
		if err := w.svc.ReportSlivers(w.ctx, w.nodeA1, []api.SliverReport{{Name: "alpha_x", State: st}}); err != nil {
			t.Errorf("state %s: %v", st, err)
		}
	}
}

// TestSliceNamesAreOneRule: AddSlice takes exactly the names
// api.ParseSliceName takes.
func TestSliceNamesAreOneRule(t *testing.T) {
	w := newWorld(t)
	for _, name := range []string{"alpha_ok", "alpha_a.b", "alpha", "alpha_..x", ".alpha_x", "alpha_x/y", "alpha_" + strings.Repeat("x", 59), "alpha_" + strings.Repeat("x", 58)} {
		_, err := w.call(w.admin, "AddSlice", map[string]any{"name": name})
		if _, perr := api.ParseSliceName(name); perr != nil {
			fault(t, err, plc.FaultInvalidArg)
		} else if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
