package plc_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestNodeGroupSliceTag: a slice tag on a node group reaches the slivers
// of the group's nodes and no other, between a tag on the node (which
// wins) and one on the slice (which it wins over), in the one list both
// the Orbis node channel (NodeSlivers) and GetSlivers come from; joining
// or leaving the group (a node tag), or the group going, wakes the node.
func TestNodeGroupSliceTag(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_grp"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1, w.nodeA2})
	w.must(w.admin, "AddNodeTag", w.nodeA1, "arch", "i386")
	g := w.id(w.admin, "AddNodeGroup", "old nodes", "arch", "i386")
	w.must(w.admin, "AddSliceTag", sid, "cpu_share", "2")
	w.takeChanged()
	gt := w.id(w.admin, "AddSliceTag", sid, "cpu_share", "7", nil, "old nodes")
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA1}) {
		t.Errorf("the group's tag woke %v, want its node %d alone", got, w.nodeA1)
	}
	shares := func(node int64) int64 {
		t.Helper()
		sv, err := w.svc.NodeSlivers(w.ctx, node)
		if err != nil || len(sv.Slivers) != 1 {
			t.Fatalf("node %d: %v %+v", node, err, sv)
		}
		pl := records(t, []any{w.must(w.admin, "GetSlivers", node)})[0]
		attrs := pl["slivers"].([]any)[0].(map[string]any)["attributes"]
		if want := plc.Generic(sv.Slivers[0].Attributes); !slices.EqualFunc(attrs.([]any), want.([]any), func(a, b any) bool {
			return a.(map[string]any)["value"] == b.(map[string]any)["value"]
		}) {
			t.Errorf("node %d: GetSlivers attributes %v, node channel %v", node, attrs, want)
		}
		return sv.Slivers[0].Rspec.CPUShares
	}
	if a1, a2 := shares(w.nodeA1), shares(w.nodeA2); a1 != 7 || a2 != 2 {
		t.Fatalf("cpu_share: in the group %d, outside %d; want 7 and 2", a1, a2)
	}
	tags := records(t, w.must(w.admin, "GetSliceTags", gt))
	if tags[0]["nodegroup_id"] != g || tags[0]["node_id"] != nil {
		t.Errorf("GetSliceTags: %v, want nodegroup_id %d, node_id None", tags[0], g)
	}

	// n2 joins the group: it is woken, and gets the group's value.
	nt := w.id(w.admin, "AddNodeTag", w.nodeA2, "arch", "i386")
	if got := w.takeChanged(); !slices.Contains(got, w.nodeA2) {
		t.Errorf("joining the group woke %v, not node %d", got, w.nodeA2)
	}
	if a2 := shares(w.nodeA2); a2 != 7 {
		t.Errorf("cpu_share of a node that joined: %d, want 7", a2)
	}
	// A tag on the node wins over its group's.
	w.must(w.admin, "AddSliceTag", sid, "cpu_share", "9", w.nodeA2)
	if a2 := shares(w.nodeA2); a2 != 9 {
		t.Errorf("cpu_share with a tag on the node: %d, want 9", a2)
	}
	w.must(w.admin, "UpdateNodeTag", nt, "x86_64")
	if got := w.takeChanged(); !slices.Contains(got, w.nodeA2) {
		t.Errorf("leaving the group woke %v, not node %d", got, w.nodeA2)
	}
	// The group goes with its tags: n1 is back to the slice's value.
	w.must(w.admin, "DeleteNodeGroup", g)
	if got := w.takeChanged(); !slices.Contains(got, w.nodeA1) {
		t.Errorf("deleting the group woke %v, not node %d", got, w.nodeA1)
	}
	if a1 := shares(w.nodeA1); a1 != 2 {
		t.Errorf("cpu_share after the group went: %d, want 2", a1)
	}
	if l := records(t, w.must(w.admin, "GetSliceTags", gt)); len(l) != 0 {
		t.Errorf("the group's slice tag outlived it: %v", l)
	}

	// A group's tag is a slice tag like another: the slice's users may
	// not set resource tags there either, and a tag has one scope.
	g2 := w.id(w.admin, "AddNodeGroup", "g2", "arch", "i386")
	_, err := w.call(w.piA, "AddSliceTag", sid, "cpu_share", "100", nil, g2)
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.admin, "AddSliceTag", sid, "cpu_share", "100", w.nodeA1, g2)
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.admin, "AddSliceTag", sid, "cpu_share", "100", nil, "no such group")
	fault(t, err, plc.FaultInvalidArg)
}

// TestConfFilesOnNodes: a node gets the global conf files, those of its
// node groups over them, and its own over both, one per dest; a dest a
// node could be made to write outside of (relative, "..") is stored as
// PLCAPI does but handed to no node.
func TestConfFilesOnNodes(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "AddNodeTag", w.nodeA1, "arch", "i386")
	g := w.id(w.admin, "AddNodeGroup", "old nodes", "arch", "i386")
	add := func(src, dest string) int64 {
		return w.id(w.admin, "AddConfFile", map[string]any{"source": src, "dest": dest, "file_permissions": "0o600"})
	}
	add("global", "/etc/motd")
	grp := add("group", "/etc/motd")
	own := add("own", "/etc/issue")
	add("global", "/etc/issue")
	for _, d := range []string{"etc/passwd", "/etc/../root/.ssh/authorized_keys", "/etc/./x", "//etc/x", "/etc/x/", "/etc/\nx", "/"} {
		add("evil", d)
	}
	w.must(w.admin, "AddConfFileToNodeGroup", grp, "old nodes")
	w.must(w.admin, "AddConfFileToNode", own, w.nodeA1)
	sources := func(node int64) map[string]string {
		pl := records(t, []any{w.must(w.admin, "GetSlivers", node)})[0]
		out := map[string]string{}
		for _, c := range pl["conf_files"].([]any) {
			m := c.(map[string]any)
			out[m["dest"].(string)] = m["source"].(string)
		}
		return out
	}
	if got := sources(w.nodeA1); len(got) != 2 || got["/etc/motd"] != "group" || got["/etc/issue"] != "own" {
		t.Errorf("node in the group, with its own file: %v", got)
	}
	if got := sources(w.nodeA2); len(got) != 2 || got["/etc/motd"] != "global" || got["/etc/issue"] != "global" {
		t.Errorf("node outside the group: %v", got)
	}
	if got := records(t, w.must(w.admin, "GetNodeGroups", g, []any{"conf_file_ids"})); !slices.Equal(got[0]["conf_file_ids"].([]any), []any{grp}) {
		t.Errorf("GetNodeGroups conf_file_ids: %v", got)
	}
	// Linked to nothing, a file is global again (as in PLCAPI): the
	// later of two global files of a dest wins.
	w.must(w.admin, "DeleteConfFileFromNodeGroup", grp, g)
	if got := sources(w.nodeA2); got["/etc/motd"] != "group" {
		t.Errorf("after the group's link went: %v", got)
	}
	_, err := w.call(w.admin, "AddConfFile", map[string]any{"source": "x", "dest": "/etc/x", "file_permissions": "0o9"})
	fault(t, err, plc.FaultInvalidArg)
}

// TestIlinksAndInterfaceTags: a PI or tech links and tags the interfaces
// of their own site's nodes; another site's PI can neither link a
// victim's interface to theirs nor change or delete its links and tags.
func TestIlinksAndInterfaceTags(t *testing.T) {
	w := newWorld(t)
	tt := w.id(w.admin, "AddTagType", map[string]any{"tagname": "peer", "category": "interface/link"})
	w.must(w.admin, "AddRoleToTagType", "pi", tt)
	w.must(w.admin, "AddRoleToTagType", "tech", tt)
	ifA := w.id(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv6"})
	ifA2 := w.id(w.techA, "AddInterface", w.nodeA2, map[string]any{"method": "dhcp", "type": "ipv4"})
	ifB := w.id(w.piB, "AddInterface", w.nodeB1, map[string]any{"method": "dhcp", "type": "ipv4"})

	l := w.id(w.techA, "AddIlink", ifA, ifA2, "peer", "fiber")
	it := w.id(w.techA, "AddInterfaceTag", ifA, "peer", "a")
	_, err := w.call(w.techA, "AddIlink", ifA, ifA2, "peer", "again")
	fault(t, err, plc.FaultInvalidArg)

	// The attacker, another site's PI.
	for _, c := range []struct {
		method string
		args   []any
	}{
		{"AddIlink", []any{ifB, ifA, "peer", "hijack"}},
		{"AddIlink", []any{ifA, ifB, tt, "hijack"}},
		{"UpdateIlink", []any{l, "cut"}},
		{"DeleteIlink", []any{l}},
		{"AddInterfaceTag", []any{ifA2, "peer", "x"}},
		{"UpdateInterfaceTag", []any{it, "x"}},
		{"DeleteInterfaceTag", []any{it}},
	} {
		_, err := w.call(w.piB, c.method, c.args...)
		fault(t, err, plc.FaultPermission)
	}
	// A user may not call them at all.
	_, err = w.call(w.userA, "AddIlink", ifA, ifA2, "peer", "x")
	if err == nil {
		t.Error("a user added a link")
	}
	links := records(t, w.must(w.userA, "GetIlinks", map[string]any{"src_interface_id": ifA}))
	if len(links) != 1 || links[0]["value"] != "fiber" || links[0]["dst_interface_id"] != ifA2 {
		t.Fatalf("the victim's links: %v", links)
	}
	tags := records(t, w.must(w.userA, "GetInterfaceTags", it))
	if len(tags) != 1 || tags[0]["value"] != "a" || tags[0]["tagname"] != "peer" {
		t.Fatalf("the victim's interface tags: %v", tags)
	}

	w.must(w.techA, "UpdateIlink", l, "copper")
	w.must(w.piA, "UpdateInterfaceTag", it, "b")
	// Deleting an interface deletes its links and tags.
	w.must(w.techA, "DeleteInterface", ifA2)
	if got := records(t, w.must(w.admin, "GetIlinks", l)); len(got) != 0 {
		t.Errorf("a link outlived its interface: %v", got)
	}
	w.must(w.techA, "DeleteInterface", ifA)
	if got := records(t, w.must(w.admin, "GetInterfaceTags", it)); len(got) != 0 {
		t.Errorf("a tag outlived its interface: %v", got)
	}
}

// TestLeaseBounds: a lease's times are 0 to api.MaxTime and it lasts at
// most DefaultMaxLeaseLength, through AddLeases and UpdateLeases; a
// negative time is refused, not rounded towards 0; nothing is stored.
func TestLeaseBounds(t *testing.T) {
	w := newWorld(t)
	rn := w.id(w.admin, "AddNode", w.siteA, map[string]any{"hostname": "r.alpha.org", "node_type": "reservable"})
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_lease"})
	const h = 3600
	week := int64(plc.DefaultMaxLeaseLength / time.Second)
	for _, c := range []struct {
		name        string
		from, until any
		want        string
	}{
		{"negative start", int64(-10), int64(h), "t_from"},
		{"negative end", int64(-2 * h), int64(-h), "t_from"},
		{"past MaxTime", int64(api.MaxTime - h), int64(api.MaxTime + 1), "t_until"},
		{"rounds past MaxTime", int64(api.MaxTime - 2*h), int64(api.MaxTime), "past"},
		{"too long", int64(h), int64(h) + week + h, "at most"},
		{"huge", int64(0), int64(1) << 62, "t_until"},
	} {
		_, err := w.call(w.piA, "AddLeases", []any{rn}, sid, c.from, c.until)
		if msg := fault(t, err, plc.FaultInvalidArg).Msg; !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q does not say %s", c.name, msg, c.want)
		}
	}
	if l := records(t, w.must(w.admin, "GetLeases", map[string]any{})); len(l) != 0 {
		t.Fatalf("leases stored: %v", l)
	}
	// The longest lease is taken; growing it past the bound is not.
	start := w.clock.Load() - w.clock.Load()%h + 2*h
	r := w.must(w.piA, "AddLeases", []any{rn}, sid, start, start+week).(map[string]any)
	ids := r["new_ids"].([]any)
	if len(ids) != 1 {
		t.Fatalf("a lease of DefaultMaxLeaseLength: %v", r)
	}
	_, err := w.call(w.piA, "UpdateLeases", ids, map[string]any{"duration": week + h})
	fault(t, err, plc.FaultInvalidArg)
	u := w.must(w.piA, "UpdateLeases", ids, map[string]any{"t_from": start - 3*h, "t_until": start + week}).(map[string]any)
	if len(u["errors"].([]any)) != 1 {
		t.Errorf("UpdateLeases past the bound: %v", u)
	}
	u = w.must(w.piA, "UpdateLeases", ids, map[string]any{"t_until": int64(-1)}).(map[string]any)
	if len(u["errors"].([]any)) != 1 {
		t.Errorf("UpdateLeases to a negative time: %v", u)
	}
	l := records(t, w.must(w.admin, "GetLeases", ids))
	if l[0]["t_from"] != start || l[0]["t_until"] != start+week {
		t.Errorf("the lease moved: %v", l)
	}
}

// TestSessionCap: a person holds at most Options.MaxSessions sessions;
// past it the one that would expire first ends, and the newest works.
func TestSessionCap(t *testing.T) {
	const limit = 5
	w := &world{env: newEnvWith(t, sqliteStore, func(o *plc.Options) { o.MaxSessions = limit })}
	w.userA = w.person("user@alpha.org", w.site("alpha", 3), "user")
	var keys []string
	for i := range limit + 3 {
		k := w.must(w.userA, "GetSession", int64(3600+i)).(string)
		keys = append(keys, k)
		w.advance(time.Second)
	}
	have := records(t, w.must(w.admin, "GetSessions", map[string]any{"person_id": w.userA.PersonID}))
	if len(have) != limit {
		t.Fatalf("%d sessions, want %d", len(have), limit)
	}
	auth := func(k string) error {
		_, err := w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "session", "session": k}, "AuthCheck", nil)
		return err
	}
	for i, k := range keys {
		if err := auth(k); (err == nil) != (i >= 3) {
			t.Errorf("session %d: auth error %v (the 3 first should have ended, no other)", i, err)
		}
	}
	// AddSession keeps the same cap.
	w.must(w.admin, "AddSession", "user@alpha.org")
	if n := len(records(t, w.must(w.admin, "GetSessions", map[string]any{"person_id": w.userA.PersonID}))); n != limit {
		t.Errorf("after AddSession: %d sessions", n)
	}
}

// TestLeaseMaxLengthOption: Options.MaxLeaseLength (central's
// -lease-max-length) sets the bound.
func TestLeaseMaxLengthOption(t *testing.T) {
	e := newEnvWith(t, sqliteStore, func(o *plc.Options) { o.MaxLeaseLength = 2 * time.Hour })
	site := e.site("alpha", 3)
	rn := e.id(e.admin, "AddNode", site, map[string]any{"hostname": "r.alpha.org", "node_type": "reservable"})
	sid := e.id(e.admin, "AddSlice", map[string]any{"name": "alpha_lease"})
	start := e.clock.Load() - e.clock.Load()%3600 + 3600
	_, err := e.call(e.admin, "AddLeases", []any{rn}, sid, start, start+3*3600)
	fault(t, err, plc.FaultInvalidArg)
	if r := e.must(e.admin, "AddLeases", []any{rn}, sid, start, start+2*3600).(map[string]any); len(r["new_ids"].([]any)) != 1 {
		t.Fatalf("a lease of the bound: %v", r)
	}
}
