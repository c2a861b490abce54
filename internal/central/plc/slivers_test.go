package plc_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

func TestSliverRspec(t *testing.T) {
	sl := &api.Slice{Name: "a_b", Shares: 7, Expires: 2_000_000_000, Instantiation: "plc-instantiated"}
	base := api.Rspec{CPUShares: 7, NetMinRate: 5, NetMaxRate: 10000, End: 2_000_000_000, Privileges: api.Privileges{CreateSliver: true}}
	with := func(f func(*api.Rspec)) api.Rspec { r := base; f(&r); return r }
	attrs := func(kv ...string) []api.Attribute {
		var out []api.Attribute
		for i := 0; i < len(kv); i += 2 {
			out = append(out, api.Attribute{TagName: kv[i], Value: kv[i+1]})
		}
		return out
	}
	cases := []struct {
		name  string
		slice *api.Slice
		attrs []api.Attribute
		want  api.Rspec
	}{
		{"shares only", sl, nil, base},
		{"no shares", &api.Slice{Expires: sl.Expires}, nil, with(func(r *api.Rspec) { r.CPUShares = 1 })},
		{"cpu_share overrides", sl, attrs("cpu_share", "30"), with(func(r *api.Rspec) { r.CPUShares = 30 })},
		{"last value wins", sl, attrs("cpu_share", "30", "cpu_share", "40"), with(func(r *api.Rspec) { r.CPUShares = 40 })},
		{"cpu_pct", sl, attrs("cpu_pct", "25"), with(func(r *api.Rspec) { r.CPUGuarantee = 250 })},
		{"cpu_cap", sl, attrs("cpu_pct", "25", "cpu_cap", "1"), with(func(r *api.Rspec) { r.CPUGuarantee = 250; r.CPUCap = true })},
		{"cpu_cap needs a guarantee", sl, attrs("cpu_cap", "1"), base},
		{"net rates", sl, attrs("net_min_rate", "100", "net_max_rate", "2000"), with(func(r *api.Rspec) { r.NetMinRate = 100; r.NetMaxRate = 2000 })},
		{"daily byte cap", sl, attrs("net_max_kbyte", "10546875", "net_thresh_kbyte", "9492187"), with(func(r *api.Rspec) { r.NetMaxKByte = 10546875; r.NetThreshKByte = 9492187 })},
		{"min above default max", sl, attrs("net_min_rate", "20000"), with(func(r *api.Rspec) { r.NetMinRate = 20000; r.NetMaxRate = 20000 })},
		{"disk_max KB", sl, attrs("disk_max", "1000"), with(func(r *api.Rspec) { r.DiskMax = 1024000 })},
		{"disk_max saturates", sl, attrs("disk_max", "9223372036854775807"), with(func(r *api.Rspec) { r.DiskMax = api.MaxQuantity })},
		{"as_hard bytes", sl, attrs("as_hard", "1048576"), with(func(r *api.Rspec) { r.MemoryMax = 1 << 20 })},
		{"memory MB over as_hard", sl, attrs("as_hard", "1048576", "memory", "512"), with(func(r *api.Rspec) { r.MemoryMax = 512 << 20 })},
		{"rlimits", sl, attrs("nproc_hard", "64", "openfd_hard", "256"), with(func(r *api.Rspec) { r.ProcMax = 64; r.OpenFileMax = 256 })},
		{"nm-controller is a label", &api.Slice{Shares: 7, Expires: sl.Expires, Instantiation: "nm-controller"}, nil, base},
		{"bind_slices", sl, attrs("nm_controller", "1", "bind_slices", "a_x, b_y"), with(func(r *api.Rspec) {
			r.Privileges.NodeManager = true
			r.BindSlices = []string{"a_x", "b_y"}
		})},
		{"bind_slices needs nm_controller", sl, attrs("bind_slices", "a_x"), base},
		{"nm_controller tag", sl, attrs("nm_controller", "1"), with(func(r *api.Rspec) { r.Privileges.NodeManager = true })},
		{"junk ignored", sl, attrs("cpu_share", "lots", "disk_max", "-5", "initscript", "echo"), base},
		{"admin tag", sl, attrs("admin", "1"), with(func(r *api.Rspec) { r.Privileges.Admin = true })},
		{"delegation", sl, attrs("nm_controller", "1", "delegate_slivers", "3", "delegate_cpu_shares", "4", "delegate_cpu_pct", "20",
			"delegate_memory_max", "256", "delegate_net_max_rate", "800", "delegate_disk_max", "1000"), with(func(r *api.Rspec) {
			r.Privileges.NodeManager = true
			r.Delegated = &api.Rspec{Slivers: 3, CPUShares: 4, CPUGuarantee: 200, MemoryMax: 256 << 20, NetMaxRate: 800,
				DiskMax: 1024000, End: sl.Expires, Privileges: api.Privileges{CreateSliver: true}}
		})},
		{"no delegation without slivers", sl, attrs("nm_controller", "1", "delegate_cpu_pct", "20"), with(func(r *api.Rspec) { r.Privileges.NodeManager = true })},
		{"no delegation without nm_controller", sl, attrs("delegate_slivers", "3"), base},
		{"ports", sl, attrs("ports", "tcp/61080, udp/5000"), with(func(r *api.Rspec) {
			r.Ports = []api.Port{{Proto: "tcp", Port: 61080}, {Proto: "udp", Port: 5000}}
		})},
		{"bad ports reserve nothing", sl, attrs("ports", "sctp/80"), base},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := plc.SliverRspec(tc.slice, tc.attrs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAttributesPrecedence(t *testing.T) {
	tags := []api.SliceTag{
		{SliceTagID: 1, TagName: "cpu_share", Value: "2"},
		{SliceTagID: 2, TagName: "cpu_share", Value: "9", NodeID: 5},
		{SliceTagID: 3, TagName: "vsys", Value: "a"},
		{SliceTagID: 4, TagName: "vsys", Value: "b"},
		{SliceTagID: 5, TagName: "initscript", Value: "x", NodeID: 6},
		{SliceTagID: 6, TagName: plc.ReceivedSharesTag, Value: "100"},
		{SliceTagID: 7, TagName: "cpu_share", Value: "4", NodeGroupID: 30},
		{SliceTagID: 8, TagName: "vref", Value: "g31", NodeGroupID: 31},
		{SliceTagID: 9, TagName: "vref", Value: "all"},
	}
	cases := []struct {
		name   string
		node   int64
		groups []int64
		want   []api.Attribute
	}{
		// A tag on the node wins over its group's and the global one.
		{"node 5 in group 30", 5, []int64{30}, []api.Attribute{{TagName: "cpu_share", Value: "9"}, {TagName: "vref", Value: "all"},
			{TagName: "vsys", Value: "a"}, {TagName: "vsys", Value: "b"}}},
		// A group's tag wins over the global one.
		{"node 6 in groups 30, 31", 6, []int64{30, 31}, []api.Attribute{{TagName: "cpu_share", Value: "4"}, {TagName: "initscript", Value: "x"},
			{TagName: "vref", Value: "g31"}, {TagName: "vsys", Value: "a"}, {TagName: "vsys", Value: "b"}}},
		// Another group's tags are not this node's.
		{"node 6 in no group", 6, nil, []api.Attribute{{TagName: "cpu_share", Value: "2"}, {TagName: "initscript", Value: "x"},
			{TagName: "vref", Value: "all"}, {TagName: "vsys", Value: "a"}, {TagName: "vsys", Value: "b"}}},
	}
	for _, tc := range cases {
		if got := plc.Attributes(tags, tc.node, tc.groups); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %v\nwant %v", tc.name, got, tc.want)
		}
	}
}

func TestGetSliversContent(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_sv", "shares": 10})
	w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_none", "instantiation": "not-instantiated"})
	w.must(w.piA, "AddSliceToNodes", "alpha_none", []any{w.nodeA1})
	for _, p := range []string{"user@alpha.org", "tech@alpha.org"} {
		w.must(w.piA, "AddPersonToSlice", p, sid)
		w.must(w.admin, "AddPersonKey", p, map[string]any{"key_type": "ssh", "key": "ssh-ed25519 KEY " + p})
	}
	w.must(w.admin, "UpdatePerson", "tech@alpha.org", map[string]any{"enabled": false})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1, w.nodeA2})
	w.must(w.piA, "AddSliceTag", sid, "initscript", "#!/bin/sh\necho up")
	w.must(w.admin, "AddSliceTag", sid, "cpu_share", "3")
	w.must(w.admin, "AddSliceTag", sid, "cpu_share", "50", w.nodeA2)
	w.must(w.piA, "AddSliceTag", sid, "enabled", "0", w.nodeA2)
	before, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1)

	sv, err := w.svc.NodeSlivers(w.ctx, w.nodeA2)
	if err != nil {
		t.Fatal(err)
	}
	if sv.NodeID != w.nodeA2 || sv.Hostname != "n2.alpha.org" || sv.Timestamp != t0 || len(sv.Slivers) != 1 {
		t.Fatalf("node 2: %+v", sv)
	}
	s := sv.Slivers[0]
	wantKeys := []api.SliverKey{{KeyType: "ssh", Key: "ssh-ed25519 KEY user@alpha.org"}} // tech is disabled
	wantAttrs := []api.Attribute{{TagName: "cpu_share", Value: "50"}, {TagName: "enabled", Value: "0"}, {TagName: "initscript", Value: "#!/bin/sh\necho up"}}
	if s.Name != "alpha_sv" || s.SliceID != sid || s.Expires != t0+14*86400 || !reflect.DeepEqual(s.Keys, wantKeys) ||
		!reflect.DeepEqual(s.Attributes, wantAttrs) || s.Rspec.CPUShares != 50 || s.Rspec.End != s.Expires {
		t.Fatalf("sliver on node 2: %+v", s)
	}
	if !slices.Contains(s.Emails, "user@alpha.org") || slices.Contains(s.Emails, "tech@alpha.org") {
		t.Errorf("emails %v: want the enabled user's, not the disabled tech's", s.Emails)
	}
	sv, _ = w.svc.NodeSlivers(w.ctx, w.nodeA1)
	if len(sv.Slivers) != 1 || sv.Slivers[0].Rspec.CPUShares != 3 || len(sv.Slivers[0].Attributes) != 2 {
		t.Fatalf("node 1 (not-instantiated left out, global cpu_share): %+v", sv)
	}
	// Every change a node must see bumps its version.
	w.must(w.admin, "AddPersonKey", "user@alpha.org", map[string]any{"key_type": "ssh", "key": "ssh-rsa OTHER k"})
	after, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1)
	if after.Version <= before.Version || len(after.Slivers[0].Keys) != 2 {
		t.Fatalf("version %d -> %d, keys %v", before.Version, after.Version, after.Slivers[0].Keys)
	}
	if _, err := w.svc.NodeSlivers(w.ctx, 999); err == nil {
		t.Fatal("slivers of a node that does not exist")
	}
}

// TestAuditInfoBumps: a change of what the node's traffic auditor pages
// show of a slice (its description, URL, a user's email) bumps the
// slice's nodes, so the node fetches the list that carries it; a change
// a sliver does not carry bumps nothing.
func TestAuditInfoBumps(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_info", "description": "old", "url": "http://old.alpha.org/"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sid)
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1})
	for _, c := range []struct {
		what   string
		method string
		args   []any
		check  func(api.Sliver) bool
	}{
		{"description", "UpdateSlice", []any{sid, map[string]any{"description": "new"}}, func(s api.Sliver) bool { return s.Description == "new" }},
		{"url", "UpdateSlice", []any{sid, map[string]any{"url": "http://new.alpha.org/"}}, func(s api.Sliver) bool { return s.URL == "http://new.alpha.org/" }},
		{"email", "UpdatePerson", []any{"user@alpha.org", map[string]any{"email": "renamed@alpha.org"}},
			func(s api.Sliver) bool { return slices.Equal(s.Emails, []string{"renamed@alpha.org"}) }},
	} {
		before, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1)
		w.must(w.admin, c.method, c.args...)
		after, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1)
		if after.Version <= before.Version || len(after.Slivers) != 1 || !c.check(after.Slivers[0]) {
			t.Errorf("%s changed: version %d -> %d, slivers %+v", c.what, before.Version, after.Version, after.Slivers)
		}
	}
	before, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1)
	w.must(w.admin, "UpdatePerson", "renamed@alpha.org", map[string]any{"phone": "555-0100"})
	if after, _ := w.svc.NodeSlivers(w.ctx, w.nodeA1); after.Version != before.Version {
		t.Errorf("a phone number changed: version %d -> %d, want unchanged", before.Version, after.Version)
	}
}

func TestVersions(t *testing.T) {
	w := newWorld(t)
	v0, err := w.svc.Versions(w.ctx, []int64{w.nodeA1, w.nodeB1})
	if err != nil {
		t.Fatal(err)
	}
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_v"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1})
	v1, err := w.svc.Versions(w.ctx, []int64{w.nodeA1, w.nodeB1})
	if err != nil || v1[w.nodeA1] <= v0[w.nodeA1] || v1[w.nodeB1] != v0[w.nodeB1] {
		t.Fatalf("versions %v -> %v (%v)", v0, v1, err)
	}
	if _, err := w.svc.NodeSecret(w.ctx, w.nodeA1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("secret of an unregistered node: %v", err)
	}
	if _, err := w.svc.NodeSecret(w.ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("secret of no node: %v", err)
	}
}

// TestPortsTag: only an admin sets the ports tag, a bad value is a clear
// fault, and a good one reaches the node as the rspec's ports.
func TestPortsTag(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_ports"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1})
	if _, err := w.call(w.piA, "AddSliceTag", sid, "ports", "tcp/61080"); err == nil {
		t.Fatal("a PI set the ports tag")
	}
	for _, bad := range []string{"tcp/0", "tcp/65536", "sctp/80", "tcp:80", "tcp/", "80", "tcp/80,tcp/80", "tcp/-1", "tcp/8o"} {
		_, err := w.call(w.admin, "AddSliceTag", sid, "ports", bad)
		if err == nil || !strings.Contains(err.Error(), "ports") {
			t.Errorf("ports %q: %v, want a fault about ports", bad, err)
		}
	}
	w.must(w.admin, "AddSliceTag", sid, "ports", "tcp/61080,udp/5000")
	sv, err := w.svc.NodeSlivers(w.ctx, w.nodeA1)
	if err != nil {
		t.Fatal(err)
	}
	want := []api.Port{{Proto: "tcp", Port: 61080}, {Proto: "udp", Port: 5000}}
	if len(sv.Slivers) != 1 || !reflect.DeepEqual(sv.Slivers[0].Rspec.Ports, want) {
		t.Errorf("slivers: %+v, want ports %v", sv.Slivers, want)
	}
}

// TestAdminSliceOwnSite: a site's admin slice holds the admin privilege on
// its own site's nodes, and is an ordinary slice on other sites' nodes.
func TestAdminSliceOwnSite(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_admin"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1, w.nodeB1})
	if _, err := w.call(w.piA, "AddSliceTag", sid, "admin", "1"); err == nil {
		t.Fatal("a PI set the admin tag")
	}
	w.must(w.admin, "AddSliceTag", sid, "admin", "1")
	for _, tc := range []struct {
		node  int64
		admin bool
	}{{w.nodeA1, true}, {w.nodeB1, false}} {
		sv, err := w.svc.NodeSlivers(w.ctx, tc.node)
		if err != nil {
			t.Fatal(err)
		}
		if len(sv.Slivers) != 1 || sv.Slivers[0].Rspec.Privileges.Admin != tc.admin {
			t.Errorf("node %s: want admin=%v, got %+v", sv.Hostname, tc.admin, sv.Slivers)
		}
	}
}
