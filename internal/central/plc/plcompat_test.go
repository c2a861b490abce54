package plc_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// plMethods are the PLCAPI methods of initscripts.go, conffiles.go and
// plmisc.go; TestMethodTable checks them with allMethods, and
// pythonPLCalls calls each from Python within TestXMLRPCPython.
var plMethods = []string{
	"AddInitScript", "GetInitScripts", "UpdateInitScript", "DeleteInitScript",
	"AddConfFile", "GetConfFiles", "UpdateConfFile", "DeleteConfFile", "AddConfFileToNode", "DeleteConfFileFromNode",
	"GetSliceFamily", "GetLeaseGranularity", "GetAPIVersion", "GetPlcRelease", "UpdateLeases",
	"SetPersonPrimarySite", "AddSession", "GetSessions",
}

// pythonPLCalls runs at the end of pythonConformance, before it prints
// what it called.
const pythonPLCalls = `
# Initscripts, conf files and the small methods (plcompat_test.go).
isid = call("AddInitScript", admin, {"name": "web", "script": "#!/bin/sh\necho web"})
fault(102, "AddInitScript", admin, {"name": "web", "script": "x"})
fault(103, "AddInitScript", piauth, {"name": "other", "script": "x"})
fault(108, "AddInitScript", {"AuthMethod": "session", "session": call("GetSession", piauth)}, {"name": "other", "script": "x"})
call("UpdateInitScript", admin, isid, {"enabled": False})
check([(i["name"], i["enabled"]) for i in call("GetInitScripts", admin, "web")], [("web", False)], "GetInitScripts")
cf = call("AddConfFile", admin, {"source": "PlanetLabConf/motd", "dest": "/etc/motd"})
fault(102, "AddConfFile", admin, {"source": "x", "dest": ""})
# PLCAPI stores any dest; no node is told to write one that is not a clean
# absolute path (GetSlivers below).
unsafe = [call("AddConfFile", admin, {"source": "x", "dest": d})
          for d in ["relative/path", "/etc/../root/.ssh/authorized_keys", "/etc/./motd", "/etc//motd", "/etc/motd/", "/etc/mo\ntd"]]
check([c["dest"] for c in call("GetConfFiles", admin, unsafe)][:2], ["relative/path", "/etc/../root/.ssh/authorized_keys"], "unsafe dests stored")
call("UpdateConfFile", admin, cf, {"file_permissions": "600"})
call("AddConfFileToNode", admin, cf, "node1.plc.org")
check([(c["node_ids"], c["file_permissions"]) for c in call("GetConfFiles", legacy(cf), cf)], [([node_id], "600")], "GetConfFiles")
sv = call("GetSlivers", legacy())
check([c["dest"] for c in sv["conf_files"]], ["/etc/motd"], "GetSlivers conf_files")
check(sv["initscripts"], [], "GetSlivers initscripts (web is disabled)")
call("DeleteConfFileFromNode", admin, cf, node_id)
for u in unsafe:
    call("DeleteConfFile", admin, u)
call("DeleteConfFile", admin, cf)
call("DeleteInitScript", admin, "web")
check(call("GetInitScripts", admin), [], "after DeleteInitScript")
fam = call("AddSlice", admin, {"name": "plc_family"})
check(call("GetSliceFamily", admin, "plc_family"), "default", "GetSliceFamily default")
call("AddSliceTag", admin, fam, "vref", "f39")
check(call("GetSliceFamily", admin, fam), "f39", "GetSliceFamily vref")
call("DeleteSlice", admin, fam)
check(call("GetLeaseGranularity", anon), 3600, "GetLeaseGranularity")
check(call("GetAPIVersion", anon), "5.0", "GetAPIVersion")
check(sorted(call("GetPlcRelease", anon).keys()), ["build", "rpms", "tags"], "GetPlcRelease")
rn = call("AddNode", admin, "plc", {"hostname": "r.plc.org", "node_type": "reservable"})
ls = call("AddSlice", admin, {"name": "plc_lease"})
lr = call("AddLeases", admin, [rn], ls, 7200, 10800)
check(call("UpdateLeases", admin, lr["new_ids"], {"duration": 7200})["updated_ids"], lr["new_ids"], "UpdateLeases")
check([(l["name"], l["hostname"], l["duration"]) for l in call("GetLeases", anon, {"name": "plc_lease", "clip": 0})],
      [("plc_lease", "r.plc.org", 7200)], "GetLeases fields")
call("DeleteSlice", admin, ls)
call("DeleteNode", admin, rn)
check(len(call("GetSession", admin, 120)), 64, "GetSession(expires)")
second = call("AddSite", admin, {"name": "Second", "abbreviated_name": "S", "login_base": "second"})
call("AddPersonToSite", admin, "pi@univ.edu", "second")
check(call("SetPersonPrimarySite", piauth, "pi@univ.edu", "second"), 1, "SetPersonPrimarySite")
check(call("GetPersons", admin, "pi@univ.edu", ["site_ids"])[0]["site_ids"][0], second, "primary site first")
fault(108, "SetPersonPrimarySite", piauth, "admin@example.org", "second")
call("DeleteSite", admin, "second")
sudo = call("AddSession", admin, "pi@univ.edu")
check(call("AuthCheck", {"AuthMethod": "session", "session": sudo}), 1, "AddSession's session")
check([x["person_id"] for x in call("GetSessions", admin, [sudo])], [pi], "GetSessions by key")
fault(103, "GetSessions", piauth)
fault(108, "GetSessions", {"AuthMethod": "session", "session": call("GetSession", piauth)})
`

// TestInitScriptResolution: an Orbis node runs its sliver's initscript
// attribute, so NodeSlivers carries code there: an initscript_code tag's,
// else the enabled initscript the initscript tag names, else the tag's
// own value. Changing a named initscript reaches the nodes that run it.
func TestInitScriptResolution(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_is"})
	w.must(w.piA, "AddSliceToNodes", sid, []any{w.nodeA1})
	initscript := func() string {
		t.Helper()
		sv, err := w.svc.NodeSlivers(w.ctx, w.nodeA1)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range sv.Slivers[0].Attributes {
			if a.TagName == "initscript" {
				return a.Value
			}
		}
		return "<none>"
	}
	tag := w.id(w.piA, "AddSliceTag", sid, "initscript", "echo legacy")
	if got := initscript(); got != "echo legacy" {
		t.Fatalf("a tag naming no initscript: %q, want its value as code", got)
	}
	is := w.id(w.admin, "AddInitScript", map[string]any{"name": "web", "script": "echo web"})
	w.takeChanged()
	w.must(w.piA, "UpdateSliceTag", tag, "web")
	if got := initscript(); got != "echo web" {
		t.Fatalf("a tag naming initscript web: %q", got)
	}
	w.takeChanged()
	w.must(w.admin, "UpdateInitScript", is, map[string]any{"script": "echo web2"})
	if got := w.takeChanged(); !slices.Contains(got, w.nodeA1) || initscript() != "echo web2" {
		t.Fatalf("after UpdateInitScript: nodes told %v, initscript %q", got, initscript())
	}
	w.must(w.admin, "UpdateInitScript", is, map[string]any{"enabled": false})
	if got := initscript(); got != "" {
		t.Fatalf("a disabled initscript: %q, want none", got)
	}
	w.id(w.piA, "AddSliceTag", sid, "initscript_code", "echo code")
	if got := initscript(); got != "echo code" {
		t.Fatalf("with initscript_code: %q", got)
	}
	// PlanetLab's shape keeps the tags as they are, for NodeManager.
	sv := w.must(w.admin, "GetSlivers", w.nodeA1).(map[string]any)
	attrs := sv["slivers"].([]any)[0].(map[string]any)["attributes"].([]any)
	if !slices.ContainsFunc(attrs, func(a any) bool { return a.(map[string]any)["value"] == "web" }) {
		t.Fatalf("GetSlivers attributes %v lost the initscript's name", attrs)
	}
	// A PI who came with a password gets PLCAPI's 103 (as PasswordAuth
	// answers); the same PI with a session would get 108.
	_, err := w.call(w.piA, "AddInitScript", map[string]any{"name": "x", "script": "x"})
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.admin, "AddInitScript", map[string]any{"name": "big", "script": strings.Repeat("x", 40<<10)})
	fault(t, err, plc.FaultInvalidArg)
}

// TestLeaseFieldsAndFilters: GetLeases returns PLCAPI's joined fields
// and takes its clip, alive, day and joined-field filters.
func TestLeaseFieldsAndFilters(t *testing.T) {
	w := newLeaseWorld(t) // alpha_a over [t0+1h, t0+2h), alpha_b over [t0+2h, t0+3h)
	got := records(t, w.must(w.userA, "GetLeases", w.leaseA))
	want := map[string]any{"lease_id": w.leaseA, "t_from": int64(t0 + 3600), "t_until": int64(t0 + 7200), "node_id": w.res,
		"slice_id": w.sliceA, "hostname": "r.alpha.org", "node_type": "reservable", "name": "alpha_a",
		"site_id": w.siteA, "duration": int64(3600), "expired": false}
	if len(got) != 1 || !maps.Equal(got[0], want) {
		t.Fatalf("GetLeases:\n got %v\nwant %v", got, want)
	}
	stamp := time.Unix(t0+2*3600+1800, 0).UTC().Format(time.DateTime)
	for _, tc := range []struct {
		filter map[string]any
		want   []string
	}{
		{map[string]any{"name": "alpha_b"}, []string{"alpha_b"}},
		{map[string]any{"name": "alpha_*", "hostname": "r.alpha.org"}, []string{"alpha_a", "alpha_b"}},
		{map[string]any{"hostname": "n1.alpha.org"}, nil},
		{map[string]any{"clip": t0 + 2*3600 + 1}, []string{"alpha_b"}},
		{map[string]any{"clip": []any{t0, t0 + 3600}}, []string{"alpha_a"}},
		{map[string]any{"alive": stamp}, []string{"alpha_b"}},
		{map[string]any{"alive": t0}, nil},
		{map[string]any{"day": int64(1)}, []string{"alpha_a", "alpha_b"}},
		{map[string]any{"expired": true}, nil},
		{map[string]any{"~name": "alpha_a", "node_type": "reservable"}, []string{"alpha_b"}},
	} {
		if got := strs(t, w.must(w.userA, "GetLeases", tc.filter), "name"); !slices.Equal(got, tc.want) {
			t.Errorf("GetLeases(%v): %v, want %v", tc.filter, got, tc.want)
		}
	}
	for _, bad := range []map[string]any{{"clip": "yesterday"}, {"~clip": t0}, {"clip": t0, "day": 1}, {"alive": []any{t0}}, {"day": int64(1) << 62}} {
		_, err := w.call(w.userA, "GetLeases", bad)
		fault(t, err, plc.FaultInvalidArg)
	}
	w.advance(3*time.Hour + time.Second)
	if got := strs(t, w.must(w.userA, "GetLeases", map[string]any{"expired": true}), "name"); len(got) != 2 {
		t.Errorf("expired leases 3 hours on: %v", got)
	}
}

// TestUpdateLeases: a lease moves within its node's free time, rounded
// to the granularity, by those who may lease for its slice.
func TestUpdateLeases(t *testing.T) {
	w := newLeaseWorld(t)
	w.takeChanged()
	out := w.must(w.piA, "UpdateLeases", w.leaseA, map[string]any{"duration": int64(1800)}).(map[string]any)
	if len(out["updated_ids"].([]any)) != 1 || len(out["errors"].([]any)) != 0 {
		t.Fatalf("UpdateLeases duration: %v", out)
	}
	l := records(t, w.must(w.piA, "GetLeases", w.leaseA))[0]
	if l["t_from"] != int64(t0+3600) || l["t_until"] != int64(t0+7200) || !slices.Contains(w.takeChanged(), w.res) {
		t.Fatalf("after a half-hour duration (rounded up to the hour): %v", l)
	}
	// Onto alpha_b's hour: refused, nothing changes.
	out = w.must(w.piA, "UpdateLeases", []any{w.leaseA}, map[string]any{"t_until": t0 + 3*3600}).(map[string]any)
	if len(out["updated_ids"].([]any)) != 0 || len(out["errors"].([]any)) != 1 {
		t.Fatalf("UpdateLeases onto another lease: %v", out)
	}
	if l := records(t, w.must(w.piA, "GetLeases", w.leaseA))[0]; l["t_until"] != int64(t0+7200) {
		t.Fatalf("a refused move changed the lease: %v", l)
	}
	from := time.Unix(t0+5*3600, 0).UTC().Format(time.DateTime)
	w.must(w.piA, "UpdateLeases", w.leaseA, map[string]any{"t_from": from, "duration": int64(7200)})
	until := time.Unix(t0+9*3600, 0).UTC().Format(time.DateTime)
	out = w.must(w.piA, "AddLeases", []any{w.res}, w.sliceB, until, t0+10*3600).(map[string]any)
	if len(out["new_ids"].([]any)) != 1 {
		t.Fatalf("AddLeases with a time string: %v", out)
	}
	if l := records(t, w.must(w.piA, "GetLeases", w.leaseA))[0]; l["t_from"] != int64(t0+5*3600) || l["t_until"] != int64(t0+7*3600) {
		t.Fatalf("moved by a time string: %v", l)
	}
	_, err := w.call(w.piB, "UpdateLeases", w.leaseA, map[string]any{"duration": int64(3600)})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "UpdateLeases", w.leaseA, map[string]any{"t_from": t0, "t_until": t0 + 3600, "duration": int64(3600)})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.piA, "UpdateLeases", w.leaseA, map[string]any{"node_id": w.nodeA1})
	fault(t, err, plc.FaultInvalidArg)
}

// TestGetSessionExpires: GetSession(expires) sets the session's life,
// within the bound of a JSON API token's.
func TestGetSessionExpires(t *testing.T) {
	e := newEnv(t)
	key := e.must(e.admin, "GetSession", int64(60)).(string)
	auth := map[string]any{"AuthMethod": "session", "session": key}
	if _, err := e.svc.Authenticate(e.ctx, auth, "AuthCheck", nil); err != nil {
		t.Fatal(err)
	}
	e.advance(61 * time.Second)
	_, err := e.svc.Authenticate(e.ctx, auth, "AuthCheck", nil)
	fault(t, err, plc.FaultAuth)
	for _, bad := range []any{int64(0), int64(-5), int64(plc.DefaultTokenTTL/time.Second) + 1, "soon"} {
		_, err := e.call(e.admin, "GetSession", bad)
		fault(t, err, plc.FaultInvalidArg)
	}
}

// TestSetPersonPrimarySite: a person's primary site comes first in their
// site_ids; only they and admins choose it, among their sites.
func TestSetPersonPrimarySite(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "AddPersonToSite", w.userA.PersonID, w.siteB)
	w.must(w.userA, "SetPersonPrimarySite", w.userA.PersonID, "beta")
	p := records(t, w.must(w.admin, "GetPersons", w.userA.PersonID, []any{"site_ids"}))[0]
	if ids := p["site_ids"].([]any); len(ids) != 2 || ids[0] != w.siteB {
		t.Fatalf("site_ids after SetPersonPrimarySite beta: %v", ids)
	}
	_, err := w.call(w.piA, "SetPersonPrimarySite", w.userA.PersonID, "alpha")
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piA, "SetPersonPrimarySite", w.piA.PersonID, "beta")
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.admin, "SetPersonPrimarySite", w.userA.PersonID, w.siteA)
	p = records(t, w.must(w.admin, "GetPersons", w.userA.PersonID, []any{"site_ids"}))[0]
	if ids := p["site_ids"].([]any); ids[0] != w.siteA {
		t.Fatalf("site_ids after the admin chose alpha: %v", ids)
	}
}

// TestAddAndGetSessions: an admin makes a session for a person and finds
// sessions by person, by key and by the key's hash; no one else may.
func TestAddAndGetSessions(t *testing.T) {
	w := newWorld(t)
	key := w.must(w.admin, "AddSession", w.userA.Email).(string)
	c, err := w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "session", "session": key}, "AuthCheck", nil)
	if err != nil || c.PersonID != w.userA.PersonID {
		t.Fatalf("AddSession's key: %v, %+v", err, c)
	}
	byPerson := records(t, w.must(w.admin, "GetSessions", []any{w.userA.PersonID}))
	byKey := records(t, w.must(w.admin, "GetSessions", key))
	if len(byPerson) != 1 || len(byKey) != 1 || byKey[0]["session_id"] == key {
		t.Fatalf("GetSessions: by person %v, by key %v (the key itself must not come back)", byPerson, byKey)
	}
	byHash := records(t, w.must(w.admin, "GetSessions", map[string]any{"session_id": byKey[0]["session_id"]}))
	if len(byHash) != 1 || byHash[0]["expires"] != int64(t0+24*3600) {
		t.Fatalf("GetSessions by hash: %v", byHash)
	}
	_, err = w.call(w.piA, "AddSession", w.userA.Email)
	fault(t, err, plc.FaultAuth)
	_, err = w.call(w.piA, "GetSessions")
	fault(t, err, plc.FaultAuth)
}

// TestGetSliceFamily: vref wins; else pldistro-fcdistro-arch with the
// missing ones defaulted; else the node's default image. A tag on one
// node does not change the slice's family.
func TestGetSliceFamily(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_fam"})
	family := func() string { return w.must(w.userA, "GetSliceFamily", "alpha_fam").(string) }
	if got := family(); got != plc.DefaultSliceFamily {
		t.Fatalf("no tags: %q", got)
	}
	w.id(w.admin, "AddSliceTag", sid, "vref", "f33", w.nodeA1)
	w.id(w.admin, "AddSliceTag", sid, "fcdistro", "f39")
	if got := family(); got != "orbis-f39-x86_64" {
		t.Fatalf("fcdistro only (and a vref on one node): %q", got)
	}
	w.id(w.admin, "AddSliceTag", sid, "vref", "ubuntu-noble")
	if got := family(); got != "ubuntu-noble" {
		t.Fatalf("with vref: %q", got)
	}
	_, err := w.call(w.userA, "GetSliceFamily", "alpha_none")
	fault(t, err, plc.FaultInvalidArg)
}
