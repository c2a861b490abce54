package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestUserCannotGrantPrivileges performs issue 18's first attack: a plain
// user of a slice, who may update it, sets its instantiation to
// nm-controller, and tries the admin-only tags that grant privileges or
// names to bind. The slice's slivers get no privilege from it: the rspec
// central sends the node (which alone decides /run/orbis-nm) has none.
func TestUserCannotGrantPrivileges(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_evil"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	w.must(w.userA, "AddSliceToNodes", sid, []any{w.nodeA1})
	w.must(w.userA, "UpdateSlice", sid, map[string]any{"instantiation": "nm-controller"})
	for _, tag := range [][2]string{{"nm_controller", "1"}, {"admin", "1"}, {"bind_slices", "beta_victim"}, {"delegate_slivers", "5"}} {
		if _, err := w.call(w.userA, "AddSliceTag", sid, tag[0], tag[1]); err == nil {
			t.Errorf("a plain user set the tag %s", tag[0])
		}
	}
	rs := sliverRspec(t, w, w.nodeA1, "alpha_evil")
	if rs.Privileges.NodeManager || rs.Privileges.Admin || rs.Delegated != nil || len(rs.BindSlices) > 0 {
		t.Fatalf("the user's slice got %+v", rs)
	}
	// The admin's tags are the one place privileges and names come from.
	w.must(w.admin, "AddSliceTag", sid, "nm_controller", "1")
	w.must(w.admin, "AddSliceTag", sid, "bind_slices", "beta_victim")
	if _, err := w.call(w.admin, "AddSliceTag", sid, "bind_slices", "not a name"); err == nil {
		t.Error("bind_slices took a malformed name")
	}
	rs = sliverRspec(t, w, w.nodeA1, "alpha_evil")
	if !rs.Privileges.NodeManager || len(rs.BindSlices) != 1 || rs.BindSlices[0] != "beta_victim" {
		t.Fatalf("the admin's tags gave %+v", rs)
	}
}

func sliverRspec(t *testing.T, w *world, node int64, slice string) api.Rspec {
	t.Helper()
	sv, err := w.svc.NodeSlivers(w.ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sv.Slivers {
		if s.Name == slice {
			return s.Rspec
		}
	}
	t.Fatalf("no sliver %s on node %d", slice, node)
	return api.Rspec{}
}
