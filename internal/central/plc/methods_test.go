package plc_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// allMethods is every method the table implements; TestMethodTable keeps
// it true.
var allMethods = []string{
	"AddLeases", "AddNode", "AddNodeToken", "AddPerson", "AddPersonKey", "AddPersonToSite", "AddPersonToSlice",
	"AddRoleToPerson", "AddSite", "AddSlice", "AddSliceTag", "AddSliceToNodes", "AuthCheck", "DelegateShares",
	"DeleteKey", "DeleteLeases", "DeleteNode", "DeletePerson", "DeletePersonFromSite", "DeletePersonFromSlice",
	"DeleteRoleFromPerson", "DeleteSession", "DeleteSite", "DeleteSlice", "DeleteSliceFromNodes", "DeleteSliceTag", "GetEvents",
	"GetAPITokens", "DeleteAPIToken", "GetKeys", "GetLeases", "GetNodeHistory", "GetNodeSummaries", "GetNodes", "GetPersons", "GetRoles", "GetSession", "GetSites", "GetSliceTags",
	"GetSlices", "GetSliverReports", "GetSlivers", "GetEvents", "RenewSlice", "ReportSlivers", "UpdateNode",
	"UpdatePerson", "UpdateSite", "UpdateSlice", "UpdateSliceTag",
	"UpdateKey", "BlacklistKey", "GetKeyTypes", "GetInterfaces", "AddInterface", "UpdateInterface", "DeleteInterface",
	"GetNetworkMethods", "GetNetworkTypes", "GetNodeTypes", "GetBootStates", "GetPeers", "GetSliceInstantiations",
	"GetPCUs", "AddPCU", "UpdatePCU", "DeletePCU", "AddNodeToPCU", "DeleteNodeFromPCU",
	"GetAddressTypes", "AddAddressType", "UpdateAddressType", "DeleteAddressType", "GetAddresses", "AddSiteAddress",
	"UpdateAddress", "DeleteAddress", "AddAddressTypeToAddress", "DeleteAddressTypeFromAddress",
	"GetTagTypes", "AddTagType", "UpdateTagType", "DeleteTagType", "AddRoleToTagType", "DeleteRoleFromTagType",
	"GetNodeTags", "AddNodeTag", "UpdateNodeTag", "DeleteNodeTag", "GetNodeGroups", "AddNodeGroup", "UpdateNodeGroup", "DeleteNodeGroup",
	"GetSiteTags", "AddSiteTag", "UpdateSiteTag", "DeleteSiteTag",
	"GetPersonTags", "AddPersonTag", "UpdatePersonTag", "DeletePersonTag",
	"GetInterfaceTags", "AddInterfaceTag", "UpdateInterfaceTag", "DeleteInterfaceTag",
	"GetIlinks", "AddIlink", "UpdateIlink", "DeleteIlink", "AddConfFileToNodeGroup", "DeleteConfFileFromNodeGroup",
}

func TestMethodTable(t *testing.T) {
	e := newEnv(t)
	want := slices.Compact(slices.Sorted(slices.Values(slices.Concat(allMethods, plMethods, newPLMethods, accessorMethods()))))
	got := slices.DeleteFunc(e.svc.Registry().Names(), func(n string) bool { return e.svc.Registry().Lookup(n).Missing })
	if !slices.Equal(got, want) {
		t.Fatalf("methods\n got %v\nwant %v", got, want)
	}
	for _, n := range want {
		m := e.svc.Registry().Lookup(n)
		if m.Help == "" || len(m.Roles) == 0 || len(m.Signature) < 2 || m.Signature[1] != "struct" || m.MaxArgs < m.MinArgs {
			t.Errorf("%s: incomplete entry %+v", n, m)
		}
	}
}

func TestSitesLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.id(e.admin, "AddSite", map[string]any{
		"name": "Princeton", "abbreviated_name": "PU", "login_base": "princeton", "latitude": 40.3, "url": "http://p.edu",
	})
	got := records(t, e.must(e.admin, "GetSites", "princeton"))
	if len(got) != 1 || got[0]["site_id"] != id || got[0]["max_slices"] != int64(0) || got[0]["max_slivers"] != int64(1000) ||
		got[0]["shares"] != int64(plc.DefaultSiteShares) || got[0]["enabled"] != true || got[0]["latitude"] != 40.3 || got[0]["longitude"] != nil {
		t.Fatalf("GetSites: %v", got)
	}
	e.must(e.admin, "UpdateSite", "princeton", map[string]any{"max_slices": 5, "name": "Princeton University"})
	got = records(t, e.must(e.admin, "GetSites", id, []any{"name", "max_slices"}))
	if len(got[0]) != 2 || got[0]["name"] != "Princeton University" || got[0]["max_slices"] != int64(5) {
		t.Fatalf("after UpdateSite: %v", got)
	}
	_, err := e.call(e.admin, "AddSite", map[string]any{"name": "x", "abbreviated_name": "x", "login_base": "princeton"})
	fault(t, err, plc.FaultInvalidArg)
	e.must(e.admin, "DeleteSite", id)
	if got := records(t, e.must(e.admin, "GetSites", id)); len(got) != 0 {
		t.Fatalf("site still there: %v", got)
	}
}

func TestPersonsLifecycle(t *testing.T) {
	e := newEnv(t)
	site := e.site("alpha", 1)
	pid := e.id(e.admin, "AddPerson", map[string]any{"first_name": "Ada", "last_name": "L", "email": "ada@alpha.org", "password": "correct horse"})
	p := records(t, e.must(e.admin, "GetPersons", "ada@alpha.org"))[0]
	if p["enabled"] != false || p["person_id"] != pid {
		t.Fatalf("new person: %v", p)
	}
	for _, k := range []string{"password", "password_hash"} {
		if _, ok := p[k]; ok {
			t.Fatalf("GetPersons returned %s", k)
		}
	}
	e.must(e.admin, "UpdatePerson", pid, map[string]any{"enabled": true, "phone": "123"})
	e.must(e.admin, "AddPersonToSite", "ada@alpha.org", "alpha")
	e.must(e.admin, "AddRoleToPerson", "pi", pid)
	e.must(e.admin, "AddRoleToPerson", int64(30), pid)
	p = records(t, e.must(e.admin, "GetPersons", pid))[0]
	if !slices.Equal(p["site_ids"].([]any), []any{site}) || len(p["role_ids"].([]any)) != 2 || p["phone"] != "123" {
		t.Fatalf("after updates: %v", p)
	}
	e.must(e.admin, "DeleteRoleFromPerson", "user", pid)
	e.must(e.admin, "DeletePersonFromSite", pid, site)
	p = records(t, e.must(e.admin, "GetPersons", pid))[0]
	if !slices.Equal(p["roles"].([]any), []any{"pi"}) || len(p["site_ids"].([]any)) != 0 {
		t.Fatalf("after removals: %v", p)
	}
	roles := records(t, e.must(e.admin, "GetRoles"))
	if len(roles) != 4 || roles[0]["name"] != "admin" {
		t.Fatalf("GetRoles: %v", roles)
	}
	e.must(e.admin, "DeletePerson", pid)
	if got := records(t, e.must(e.admin, "GetPersons", pid)); len(got) != 0 {
		t.Fatalf("person still there")
	}
}

func TestKeysLifecycle(t *testing.T) {
	w := newWorld(t)
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_keys"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sl)
	w.must(w.piA, "AddSliceToNodes", sl, []any{w.nodeA1})
	w.takeChanged()
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample user@alpha"
	kid := w.id(w.userA, "AddPersonKey", w.userA.PersonID, map[string]any{"key_type": "ssh", "key": key})
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA1}) {
		t.Fatalf("AddPersonKey changed %v, want the slice's node", got)
	}
	keys := records(t, w.must(w.userA, "GetKeys"))
	if len(keys) != 1 || keys[0]["key"] != key || keys[0]["key_id"] != kid {
		t.Fatalf("GetKeys: %v", keys)
	}
	_, err := w.call(w.userA, "AddPersonKey", w.userA.PersonID, map[string]any{"key_type": "ssh", "key": "a\nb"})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.userA, "AddPersonKey", w.userA.PersonID, map[string]any{"key_type": "gpg", "key": key})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.userA, "DeleteKey", kid)
	if got := records(t, w.must(w.admin, "GetKeys", kid)); len(got) != 0 {
		t.Fatal("key still there")
	}
}

func TestNodesLifecycle(t *testing.T) {
	w := newWorld(t)
	nid := w.id(w.techA, "AddNode", "alpha", map[string]any{"hostname": "n3.alpha.org", "node_type": "reservable", "ip": "10.0.0.3"})
	n := records(t, w.must(w.admin, "GetNodes", "n3.alpha.org"))[0]
	if n["node_id"] != nid || n["site_id"] != w.siteA || n["boot_state"] != "boot" || n["node_type"] != "reservable" {
		t.Fatalf("GetNodes: %v", n)
	}
	w.must(w.techA, "UpdateNode", nid, map[string]any{"boot_state": "safeboot"})
	_, err := w.call(w.techA, "UpdateNode", nid, map[string]any{"boot_state": "dancing"})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.techA, "AddNode", "alpha", map[string]any{"hostname": "bad host"})
	fault(t, err, plc.FaultInvalidArg)
	token := w.must(w.techA, "AddNodeToken", nid).(string)
	id, secret, err := w.svc.RegisterNode(w.ctx, token, "n3.alpha.org", "10.0.0.33", "orbis 1")
	if err != nil || id != nid || len(secret) != 64 {
		t.Fatalf("RegisterNode: %d %q %v", id, secret, err)
	}
	if s, err := w.svc.NodeSecret(w.ctx, nid); err != nil || s != secret {
		t.Fatalf("NodeSecret: %q %v", s, err)
	}
	if _, _, err := w.svc.RegisterNode(w.ctx, token, "", "", ""); err == nil {
		t.Fatal("a registration token worked twice")
	} else {
		fault(t, err, plc.FaultAuth)
	}
	n = records(t, w.must(w.admin, "GetNodes", nid))[0]
	if n["ip"] != "10.0.0.33" || n["version"] != "orbis 1" || n["boot_state"] != "boot" || n["last_contact"] == int64(0) {
		t.Fatalf("after registration: %v", n)
	}
	w.must(w.techA, "DeleteNode", "n3.alpha.org")
	if got := w.takeChanged(); !slices.Contains(got, nid) {
		t.Fatalf("DeleteNode did not wake the node's waiters: %v", got)
	}
}

func TestNodeTokenExpires(t *testing.T) {
	w := newWorld(t)
	token := w.must(w.admin, "AddNodeToken", w.nodeA1).(string)
	w.advance(plc.NodeTokenTTL + 1)
	_, _, err := w.svc.RegisterNode(w.ctx, token, "", "", "")
	fault(t, err, plc.FaultAuth)
}

func TestSlicesLifecycle(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_web", "url": "http://x", "description": "d"})
	sl := records(t, w.must(w.piA, "GetSlices", "alpha_web"))[0]
	if sl["site_id"] != w.siteA || sl["expires"] != int64(t0+14*86400) || sl["max_nodes"] != int64(100) ||
		sl["instantiation"] != "plc-instantiated" || sl["creator_person_id"] != w.piA.PersonID || sl["shares"] != int64(1) {
		t.Fatalf("new slice: %v", sl)
	}
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, "alpha_web")
	w.must(w.userA, "AddSliceToNodes", "alpha_web", []any{"n1.alpha.org", w.nodeB1})
	w.must(w.userA, "AddSliceToNodes", "alpha_web", []any{w.nodeA1}) // idempotent
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA1, w.nodeB1}) {
		t.Fatalf("changed %v", got)
	}
	sl = records(t, w.must(w.userA, "GetSlices", sid))[0]
	if len(sl["node_ids"].([]any)) != 2 || !slices.Equal(sl["person_ids"].([]any), []any{w.userA.PersonID}) {
		t.Fatalf("after adds: %v", sl)
	}
	w.must(w.userA, "DeleteSliceFromNodes", sid, []any{w.nodeB1})
	w.must(w.userA, "UpdateSlice", sid, map[string]any{"description": "new"})
	w.must(w.userA, "RenewSlice", sid, int64(t0+30*86400))
	w.must(w.piA, "DeletePersonFromSlice", "user@alpha.org", sid)
	sl = records(t, w.must(w.admin, "GetSlices", sid))[0]
	if sl["description"] != "new" || sl["expires"] != int64(t0+30*86400) || len(sl["node_ids"].([]any)) != 1 || len(sl["person_ids"].([]any)) != 0 {
		t.Fatalf("after updates: %v", sl)
	}
	w.takeChanged()
	w.must(w.piA, "DeleteSlice", "alpha_web")
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA1}) {
		t.Fatalf("DeleteSlice changed %v", got)
	}
	if got := records(t, w.must(w.admin, "GetSlices", sid)); len(got) != 0 {
		t.Fatal("slice still there")
	}
	_, err := w.call(w.piA, "AddSliceToNodes", "alpha_nothere", []any{w.nodeA1})
	fault(t, err, plc.FaultInvalidArg)
}

func TestSliceTagsLifecycle(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_tags"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1, w.nodeA2})
	w.takeChanged()
	tid := w.id(w.piA, "AddSliceTag", sid, "initscript", "#!/bin/sh\necho hi")
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA1, w.nodeA2}) {
		t.Fatalf("global tag changed %v", got)
	}
	nid := w.id(w.admin, "AddSliceTag", "alpha_tags", "cpu_share", int64(5), "n2.alpha.org")
	if got := w.takeChanged(); !slices.Equal(got, []int64{w.nodeA2}) {
		t.Fatalf("node tag changed %v", got)
	}
	tags := records(t, w.must(w.piA, "GetSliceTags", map[string]any{"slice_id": sid}))
	if len(tags) != 2 || tags[1]["value"] != "5" || tags[1]["node_id"] != w.nodeA2 {
		t.Fatalf("GetSliceTags: %v", tags)
	}
	w.must(w.piA, "UpdateSliceTag", tid, "#!/bin/sh\necho bye")
	w.must(w.admin, "DeleteSliceTag", nid)
	tags = records(t, w.must(w.piA, "GetSliceTags", "initscript"))
	if len(tags) != 1 || tags[0]["value"] != "#!/bin/sh\necho bye" {
		t.Fatalf("after update/delete: %v", tags)
	}
}

func TestLeases(t *testing.T) {
	w := newWorld(t)
	res := w.id(w.admin, "AddNode", w.siteA, map[string]any{"hostname": "r.alpha.org", "node_type": "reservable"})
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_lease"})
	out := w.must(w.piA, "AddLeases", []any{res, w.nodeA1}, sid, int64(t0+10), int64(t0+3600+5)).(map[string]any)
	ids, errs := out["new_ids"].([]any), out["errors"].([]any)
	if len(ids) != 1 || len(errs) != 1 {
		t.Fatalf("AddLeases: %v", out)
	}
	l := records(t, w.must(nil2anon(), "GetLeases", ids[0]))[0]
	if l["t_from"] != int64(t0) || l["t_until"] != int64(t0+7200) || l["node_id"] != res {
		t.Fatalf("lease not rounded to the hour: %v", l)
	}
	out = w.must(w.piA, "AddLeases", []any{"r.alpha.org"}, sid, int64(t0+3600), int64(t0+7200)).(map[string]any)
	if len(out["new_ids"].([]any)) != 0 || len(out["errors"].([]any)) != 1 {
		t.Fatalf("overlapping lease: %v", out)
	}
	w.must(w.piA, "DeleteLeases", ids)
	if got := records(t, w.must(w.admin, "GetLeases")); len(got) != 0 {
		t.Fatalf("leases left: %v", got)
	}
}

func nil2anon() *plc.Caller { return &plc.Caller{Anonymous: true} }

func TestSessionsAndAuthCheck(t *testing.T) {
	w := newWorld(t)
	if v := w.must(w.userA, "AuthCheck"); v != int64(1) {
		t.Fatalf("AuthCheck: %v", v)
	}
	key := w.must(w.userA, "GetSession").(string)
	c, err := w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "session", "session": key}, "GetSlices", nil)
	if err != nil || c.PersonID != w.userA.PersonID {
		t.Fatalf("session auth: %+v %v", c, err)
	}
	w.advance(plc.DefaultSessionTTL + 1)
	_, err = w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "session", "session": key}, "GetSlices", nil)
	fault(t, err, plc.FaultAuth)
}

func TestEventsAndReports(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_rep"})
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, sid)
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1})
	node := &plc.Caller{NodeID: w.nodeA1}
	w.must(node, "ReportSlivers", []any{map[string]any{"name": "alpha_rep", "state": "failed", "reason": "disk full"}})
	rep := records(t, w.must(w.userA, "GetSliverReports"))
	if len(rep) != 1 || rep[0]["state"] != "failed" || rep[0]["reason"] != "disk full" || rep[0]["node_id"] != w.nodeA1 {
		t.Fatalf("GetSliverReports: %v", rep)
	}
	if got := records(t, w.must(w.userB, "GetSliverReports")); len(got) != 0 {
		t.Fatalf("another site's user sees reports: %v", got)
	}
	if got := records(t, w.must(w.admin, "GetNodes", w.nodeA1))[0]["last_contact"]; got != int64(t0) {
		t.Fatalf("last_contact %v, want %d", got, t0)
	}
	ev := records(t, w.must(w.admin, "GetEvents", map[string]any{"action": "AddSlice"}))
	if len(ev) != 1 || ev[0]["actor"] != "person 2" || ev[0]["object_id"] != sid {
		t.Fatalf("GetEvents: %v", ev)
	}
	_, err := w.call(w.piA, "GetEvents")
	fault(t, err, plc.FaultAuth) // PLCAPI's code for a role refused to a password
}

// TestEveryPLCAPIMethod checks that the table has every PLCAPI 5.x method,
// and that one Orbis does not implement yet answers fault 109 saying so.
func TestEveryPLCAPIMethod(t *testing.T) {
	e := newEnv(t)
	reg := e.svc.Registry()
	missing := 0
	for _, name := range plc.PLCAPIMethods() {
		m := reg.Lookup(name)
		if m == nil {
			t.Errorf("PLCAPI's %s is not in the table", name)
			continue
		}
		if !m.Missing {
			continue
		}
		missing++
		_, err := e.call(e.admin, name)
		if f := fault(t, err, plc.FaultNotImpl); !strings.Contains(f.Msg, "does not implement") {
			t.Errorf("%s: %q", name, f.Msg)
		}
	}
	if n := len(plc.PLCAPIMethods()); n != 192 {
		t.Errorf("%d PLCAPI methods listed, PLCAPI 5.x has 192", n)
	}
	t.Logf("%d of %d PLCAPI methods not implemented yet", missing, len(plc.PLCAPIMethods()))
}

// TestRegistryReplacesStubs: a method registered after the stub of a
// PLCAPI method not implemented yet takes its place, whatever the order
// of registration; two real methods of one name are a programming error.
func TestRegistryReplacesStubs(t *testing.T) {
	r := plc.NewRegistry()
	r.Add(&plc.Method{Name: "GetInitScripts", Missing: true})
	real := &plc.Method{Name: "GetInitScripts"}
	r.Add(real)
	if r.Lookup("GetInitScripts") != real {
		t.Fatal("the stub was not replaced")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second real GetInitScripts was accepted")
		}
	}()
	r.Add(&plc.Method{Name: "GetInitScripts"})
}
