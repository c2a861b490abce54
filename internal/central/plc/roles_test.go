package plc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

func TestPersonVisibility(t *testing.T) {
	w := newWorld(t)
	all := ints(t, w.must(w.admin, "GetPersons"), "person_id")
	if len(all) != 6 {
		t.Fatalf("admin sees %v, want all 6", all)
	}
	// A user of alpha sees alpha's persons, not beta's.
	got := strs(t, w.must(w.userA, "GetPersons"), "email")
	if !slices.Equal(got, []string{"pi@alpha.org", "tech@alpha.org", "user@alpha.org"}) {
		t.Fatalf("user of alpha sees %v", got)
	}
	if got := records(t, w.must(w.userA, "GetPersons", "user@beta.org")); len(got) != 0 {
		t.Fatalf("user of alpha sees beta's user by email: %v", got)
	}
	if got := records(t, w.must(w.userA, "GetPersons", map[string]any{"email": "*beta*"})); len(got) != 0 {
		t.Fatalf("user of alpha finds beta's persons by pattern: %v", got)
	}
	// Sharing a slice makes persons visible to each other.
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_shared"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	w.must(w.piA, "AddPersonToSlice", "user@beta.org", sid)
	if got := records(t, w.must(w.userA, "GetPersons", "user@beta.org")); len(got) != 1 {
		t.Fatalf("slice mates not visible: %v", got)
	}
	// A mate through an expired slice is not.
	w.advance(plc.MaxRenewal + 7*24*time.Hour)
	if got := records(t, w.must(w.userA, "GetPersons", "user@beta.org")); len(got) != 0 {
		t.Fatalf("mate of an expired slice still visible: %v", got)
	}
	// A person at no site sees only themself.
	lone := w.person("lone@nowhere.org", 0, "user")
	if got := strs(t, w.must(lone, "GetPersons"), "email"); !slices.Equal(got, []string{"lone@nowhere.org"}) {
		t.Fatalf("lone person sees %v", got)
	}
}

func TestPersonUpdateRights(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		name   string
		who    *plc.Caller
		target string
		fields map[string]any
		code   int // 0: allowed
	}{
		{"self phone", w.userA, "user@alpha.org", map[string]any{"phone": "1"}, 0},
		{"self password", w.userA, "user@alpha.org", map[string]any{"password": "another password"}, 0},
		{"self enable", w.userA, "user@alpha.org", map[string]any{"enabled": false}, plc.FaultPermission},
		{"user other", w.userA, "tech@alpha.org", map[string]any{"phone": "1"}, plc.FaultPermission},
		{"pi own site", w.piA, "user@alpha.org", map[string]any{"phone": "2", "enabled": true}, 0},
		{"pi other site", w.piA, "user@beta.org", map[string]any{"phone": "2"}, plc.FaultPermission},
		{"pi admin", w.piA, "admin@example.org", map[string]any{"phone": "2"}, plc.FaultPermission},
		{"unknown field", w.admin, "user@alpha.org", map[string]any{"password_hash": "x"}, plc.FaultInvalidArg},
		{"short password", w.admin, "user@alpha.org", map[string]any{"password": "short"}, plc.FaultInvalidArg},
		{"wrong type", w.admin, "user@alpha.org", map[string]any{"phone": int64(3)}, plc.FaultInvalidArg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.call(tc.who, "UpdatePerson", tc.target, tc.fields)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			fault(t, err, tc.code)
		})
	}
	w.login("user@alpha.org", "another password")
}

func TestRoleGrants(t *testing.T) {
	w := newWorld(t)
	_, err := w.call(w.piA, "AddRoleToPerson", "admin", "user@alpha.org")
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "AddRoleToPerson", "pi", "user@alpha.org")
	fault(t, err, plc.FaultPermission)
	w.must(w.piA, "AddRoleToPerson", "tech", "user@alpha.org")
	_, err = w.call(w.piA, "AddRoleToPerson", "tech", "user@beta.org")
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.userA, "AddRoleToPerson", "tech", "user@alpha.org")
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.admin, "AddRoleToPerson", "wizard", "user@alpha.org")
	fault(t, err, plc.FaultInvalidArg)
	// A PI may bring a person of no site to their site, not another site's.
	pid := w.id(w.piA, "AddPerson", map[string]any{"first_name": "N", "last_name": "N", "email": "new@alpha.org"})
	w.must(w.piA, "AddPersonToSite", pid, "alpha")
	_, err = w.call(w.piA, "AddPersonToSite", "user@beta.org", "alpha")
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "AddPersonToSite", pid, "beta")
	fault(t, err, plc.FaultPermission)
}

func TestSliceRights(t *testing.T) {
	w := newWorld(t)
	sa := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_s", "url": "http://u", "description": "d"})
	sb := w.id(w.piB, "AddSlice", map[string]any{"name": "beta_s"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sa)

	// A PI cannot create slices for another site, nor a user at all.
	_, err := w.call(w.piA, "AddSlice", map[string]any{"name": "beta_mine"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.userA, "AddSlice", map[string]any{"name": "alpha_mine"})
	fault(t, err, plc.FaultAuth)

	// Another site's people cannot change a slice.
	for _, c := range []*plc.Caller{w.piB, w.userB} {
		_, err = w.call(c, "AddSliceToNodes", sa, []any{w.nodeB1})
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "UpdateSlice", sa, map[string]any{"description": "x"})
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "AddSliceTag", sa, "initscript", "x")
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "DeleteSlice", sa)
		if c == w.userB { // no role for DeleteSlice at all
			fault(t, err, plc.FaultAuth)
		} else {
			fault(t, err, plc.FaultPermission)
		}
	}
	// A user of alpha who is not in the slice cannot either; the slice's
	// user can, but cannot add users or delete it.
	_, err = w.call(w.techA, "AddSliceToNodes", sa, []any{w.nodeA1})
	fault(t, err, plc.FaultAuth)
	w.must(w.userA, "AddSliceToNodes", sa, []any{w.nodeA1})
	_, err = w.call(w.userA, "AddPersonToSlice", "tech@alpha.org", sa)
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.userA, "DeleteSlice", sa)
	fault(t, err, plc.FaultAuth)
	// Resource tags are for admins.
	_, err = w.call(w.piA, "AddSliceTag", sa, "cpu_share", "100")
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "AddSliceTag", sa, plc.ReceivedSharesTag, "100")
	fault(t, err, plc.FaultPermission)

	// Visibility: users see their slices, PIs their site's, techs those
	// on their nodes.
	if got := ints(t, w.must(w.userA, "GetSlices"), "slice_id"); !slices.Equal(got, []int64{sa}) {
		t.Fatalf("user sees %v", got)
	}
	if got := ints(t, w.must(w.piB, "GetSlices"), "slice_id"); !slices.Equal(got, []int64{sb}) {
		t.Fatalf("pi of beta sees %v", got)
	}
	if got := ints(t, w.must(w.techA, "GetSlices"), "slice_id"); !slices.Equal(got, []int64{sa}) {
		t.Fatalf("tech of alpha sees %v (slice on its node)", got)
	}
	if got := ints(t, w.must(w.admin, "GetSlices"), "slice_id"); len(got) != 2 {
		t.Fatalf("admin sees %v", got)
	}
	if got := records(t, w.must(w.userB, "GetSliceTags", map[string]any{"slice_id": sa})); len(got) != 0 {
		t.Fatalf("beta's user sees alpha's tags: %v", got)
	}
}

func TestSiteAndNodeRights(t *testing.T) {
	w := newWorld(t)
	w.must(w.piA, "UpdateSite", "alpha", map[string]any{"url": "http://alpha.org"})
	_, err := w.call(w.piA, "UpdateSite", "alpha", map[string]any{"max_slices": 100})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "UpdateSite", "beta", map[string]any{"url": "x"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "AddSite", map[string]any{"name": "x", "abbreviated_name": "x", "login_base": "x"})
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.techA, "AddNode", "beta", map[string]any{"hostname": "evil.beta.org"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.techA, "UpdateNode", w.nodeB1, map[string]any{"boot_state": "disabled"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.userA, "AddNodeToken", w.nodeA1)
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.techA, "AddNodeToken", w.nodeB1)
	fault(t, err, plc.FaultPermission)
	// Nodes see only their own slivers.
	_, err = w.call(&plc.Caller{NodeID: w.nodeA1}, "GetSlivers", w.nodeA2)
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "GetSlivers", w.nodeA1)
	fault(t, err, plc.FaultAuth)
	// Anonymous callers read sites, nodes and leases, nothing else.
	anon := &plc.Caller{Anonymous: true}
	if got := records(t, w.must(anon, "GetNodes")); len(got) != 4 {
		t.Fatalf("anonymous GetNodes: %d", len(got))
	}
	_, err = w.call(anon, "GetPersons")
	fault(t, err, plc.FaultPermission)
}
