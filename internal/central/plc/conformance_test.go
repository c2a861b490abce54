package plc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// serve puts the service behind the real /PLCAPI/ handler.
func (e *env) serve() string {
	mux := http.NewServeMux()
	mux.Handle("/PLCAPI/", xmlrpc.New(e.svc.Registry(), e.svc, testutil.Logger(e.t)))
	srv := httptest.NewServer(mux)
	e.t.Cleanup(srv.Close)
	return srv.URL + "/PLCAPI/"
}

// registeredNode adds a site and a node and registers it.
func (e *env) registeredNode() (site, node int64, secret string) {
	e.t.Helper()
	site = e.site("plc", 5)
	node = e.node(site, "node1.plc.org")
	token := e.must(e.admin, "AddNodeToken", node).(string)
	node, secret, err := e.svc.RegisterNode(e.ctx, token, "node1.plc.org", "127.0.0.1", "test")
	if err != nil {
		e.t.Fatal(err)
	}
	return site, node, secret
}

func TestXMLRPCGoClient(t *testing.T) {
	e := newEnv(t)
	site, node, secret := e.registeredNode()
	other := e.node(site, "node2.plc.org")
	url := e.serve()
	c := xmlrpc.NewClient(url)
	ctx := e.ctx
	admin := xmlrpc.PasswordAuth("admin@example.org", "admin-password")
	call := func(method string, args ...any) any {
		t.Helper()
		v, err := c.Call(ctx, method, args...)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return v
	}
	sl := call("AddSlice", admin, map[string]any{"name": "plc_go"}).(int64)
	call("AddSliceToNodes", admin, sl, []any{"node1.plc.org"})
	call("AddSliceTag", admin, sl, "cpu_share", int64(7))
	// A node with the SHA-256 scheme, over the wire.
	now := time.Now().Unix()
	e.clock.Store(now)
	sv := call("GetSlivers", plc.NodeAuth(node, secret, "GetSlivers", now, nil)).(map[string]any)
	s0 := sv["slivers"].([]any)[0].(map[string]any)
	if s0["name"] != "plc_go" || s0["rspec"].(map[string]any)["cpu_shares"] != int64(7) {
		t.Fatalf("GetSlivers: %v", sv)
	}
	reports := []any{map[string]any{"name": "plc_go", "state": "running"}}
	call("ReportSlivers", plc.NodeAuth(node, secret, "ReportSlivers", now, []any{reports}), reports)
	faults := []struct {
		code   int
		method string
		args   []any
	}{
		{plc.FaultInvalidMethod, "NoSuchMethod", []any{admin}},
		{plc.FaultArgCount, "GetSites", []any{admin, nil, nil, nil}},
		{plc.FaultInvalidArg, "AddSite", []any{admin, map[string]any{"name": "x", "abbreviated_name": "x", "login_base": int64(5)}}},
		{plc.FaultAuth, "GetSites", []any{xmlrpc.PasswordAuth("admin@example.org", "wrong")}},
		{plc.FaultPermission, "GetSlivers", []any{plc.NodeAuth(node, secret, "GetSlivers", now, []any{other}), other}},
	}
	for _, f := range faults {
		_, err := c.Call(ctx, f.method, f.args...)
		fault(t, err, f.code)
	}
	// A database failure is fault 106, its detail not shown.
	e.store.Close()
	_, err := c.Call(ctx, "AddSite", admin, map[string]any{"name": "y", "abbreviated_name": "y", "login_base": "y"})
	if f := fault(t, err, plc.FaultDB); strings.Contains(f.Msg, "sql") {
		t.Fatalf("106 shows internals: %q", f.Msg)
	}
}

func TestXMLRPCPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for the conformance test (it is on every machine here)")
	}
	e := newEnvWith(t, sqliteStore, func(o *plc.Options) { o.CentralURL = "https://plc.example.org:8780" })
	_, node, secret := e.registeredNode()
	e.clock.Store(time.Now().Unix()) // the sha256 scheme checks the node's clock
	url := e.serve()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, py, "-c", strings.Replace(pythonConformance, "print(\"CALLED\"", pythonPLCalls+pythonAccessorCalls()+pythonPCUTypeCalls+pythonMessageCalls+pythonNotifyCalls+pythonWhitelistCalls+pythonFixedCalls(e.svc.Registry())+"print(\"CALLED\"", 1), url, strconv.FormatInt(node, 10), secret).CombinedOutput()
	if err != nil {
		t.Fatalf("python conformance: %v\n%s", err, out)
	}
	called := strings.Fields(strings.TrimSpace(string(out[strings.LastIndex(string(out), "CALLED")+6:])))
	for _, m := range e.svc.Registry().Names() {
		if !slices.Contains(called, m) && !e.svc.Registry().Lookup(m).Missing {
			t.Errorf("the Python client never called %s", m)
		}
	}
	t.Logf("python: %s", out)
}

// pythonConformance calls every method of the table through Python's
// xmlrpc.client, checks results and fault codes, and prints the methods
// it called. argv: URL, node id, node secret.
const pythonConformance = `
import sys, time, hmac, hashlib, xmlrpc.client as x

url, node_id, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = x.ServerProxy(url, allow_none=True)
called = set()

def call(name, *args):
    called.add(name)
    return getattr(s, name)(*args)

def check(got, want, what):
    if got != want:
        raise SystemExit("%s: got %r, want %r" % (what, got, want))

def fault(code, name, *args):
    try:
        call(name, *args)
    except x.Fault as f:
        check(f.faultCode, code, "fault of %s: %s" % (name, f.faultString))
        return f.faultString
    raise SystemExit("no fault %d from %s" % (code, name))

# PlanetLab's canonicalize() and BootAuth HMAC-SHA1, from PLCAPI's Auth.py.
def canonicalize(args):
    values = []
    for arg in args:
        if isinstance(arg, (list, tuple)):
            values += canonicalize(arg)
        elif isinstance(arg, dict):
            values += canonicalize(list(arg.values()))
        else:
            values.append(str(arg))
    return values

def legacy(*args):
    v = sorted(canonicalize(args))
    msg = "[" + "".join(v) + "]"
    return {"AuthMethod": "hmac", "node_id": node_id,
            "value": hmac.new(secret.encode(), msg.encode(), hashlib.sha1).hexdigest()}

def sha256(method, *args):
    t = int(time.time())
    v = sorted(canonicalize(args))
    msg = "%s\n%d\n[%s]" % (method, t, "".join(v))
    return {"AuthMethod": "hmac", "node_id": node_id, "time": t,
            "value": "sha256:" + hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()}

admin = {"AuthMethod": "password", "Username": "admin@example.org", "AuthString": "admin-password"}
anon = {"AuthMethod": "anonymous"}
check(call("AuthCheck", admin), 1, "AuthCheck")
session = {"AuthMethod": "session", "session": call("GetSession", admin)}
check(call("AuthCheck", session), 1, "session AuthCheck")
check([r["name"] for r in call("GetRoles", anon)], ["admin", "pi", "user", "tech"], "GetRoles")

site = call("AddSite", session, {"name": "Univ", "abbreviated_name": "U", "login_base": "univ", "max_slices": 10})
call("UpdateSite", admin, "univ", {"url": "http://univ.edu", "latitude": 1.5})
check(call("GetSites", anon, {"login_base": "u*"}, ["site_id", "url", "latitude"]),
      [{"site_id": site, "url": "http://univ.edu", "latitude": 1.5}], "GetSites")

pi = call("AddPerson", admin, {"first_name": "P", "last_name": "I", "email": "pi@univ.edu", "password": "pi-password"})
call("UpdatePerson", admin, pi, {"enabled": True})
call("AddPersonToSite", admin, "pi@univ.edu", "univ")
call("AddRoleToPerson", admin, "pi", pi)
call("AddRoleToPerson", admin, 30, "pi@univ.edu")
call("DeleteRoleFromPerson", admin, "user", pi)
piauth = {"AuthMethod": "password", "Username": "pi@univ.edu", "AuthString": "pi-password"}
p = call("GetPersons", piauth, "pi@univ.edu")[0]
check((p["roles"], p["site_ids"], "password" in p), (["pi"], [site], False), "GetPersons")
u = call("AddPerson", piauth, {"first_name": "U", "last_name": "S", "email": "u@univ.edu", "password": "u-password"})
call("AddPersonToSite", piauth, u, site)
call("UpdatePerson", piauth, u, {"enabled": True})
call("AddRoleToPerson", piauth, "user", u)
uauth = {"AuthMethod": "password", "Username": "u@univ.edu", "AuthString": "u-password"}
k = call("AddPersonKey", uauth, u, {"key_type": "ssh", "key": "ssh-ed25519 AAAAkey u@univ"})
check([r["key_id"] for r in call("GetKeys", uauth)], [k], "GetKeys")
check(call("GetKeyTypes", uauth), ["ssh"], "GetKeyTypes")
check(call("UpdateKey", uauth, k, {"key": "ssh-ed25519 AAAAkey2 u@univ"}), 1, "UpdateKey")
check([r["key"] for r in call("GetKeys", uauth, {"peer_id": None})], ["ssh-ed25519 AAAAkey2 u@univ"], "GetKeys peer_id None")
k2 = call("AddPersonKey", uauth, u, {"key_type": "ssh", "key": "ssh-ed25519 AAAAbad u@univ"})
check(call("BlacklistKey", admin, k2), 1, "BlacklistKey")
fault(102, "AddPersonKey", uauth, u, {"key_type": "ssh", "key": "ssh-ed25519 AAAAbad u@univ"})
check(call("GetAPITokens", uauth), [], "GetAPITokens (password auth holds no token)")
fault(102, "DeleteAPIToken", uauth, u, "0123456789abcdef")

n = call("AddNode", piauth, "univ", {"hostname": "n1.univ.edu", "node_type": "reservable"})
call("UpdateNode", piauth, n, {"version": "7"})
check(call("GetNodes", anon, {"node_type": "reservable"}, ["hostname", "version"]), [{"hostname": "n1.univ.edu", "version": "7"}], "GetNodes")
check(len(call("AddNodeToken", piauth, "n1.univ.edu")), 64, "AddNodeToken")
check(call("GetNodeTypes", uauth), ["regular", "reservable"], "GetNodeTypes")
check(call("UpdateNode", piauth, n, {"model": "Dell R630"}), 1, "UpdateNode model")
check(call("GetNodes", anon, {"model": "Dell*"}, ["model"]), [{"model": "Dell R630"}], "GetNodes model")
check("boot" in call("GetBootStates", uauth), True, "GetBootStates")
check(call("GetPeers", uauth, {}), [], "GetPeers")
check(call("GetSliceInstantiations", uauth), ["plc-instantiated", "not-instantiated", "delegated", "nm-controller"], "GetSliceInstantiations")
check(call("GetNetworkTypes", uauth), ["ipv4", "ipv6"], "GetNetworkTypes")
check("dhcp" in call("GetNetworkMethods", uauth), True, "GetNetworkMethods")
ifc = call("AddInterface", piauth, "n1.univ.edu", {"method": "static", "type": "ipv4", "ip": "192.0.2.10",
    "netmask": "255.255.255.0", "network": "192.0.2.0", "broadcast": "192.0.2.255", "gateway": "192.0.2.1",
    "dns1": "192.0.2.2", "bwlimit": 1000000, "mac": "52:54:00:aa:bb:cc"})
check(call("UpdateInterface", piauth, ifc, {"bwlimit": None, "hostname": "n1.univ.edu"}), 1, "UpdateInterface")
check(call("GetInterfaces", anon, {"node_id": n}, ["interface_id", "is_primary", "bwlimit", "mac", "hostname"]),
    [{"interface_id": ifc, "is_primary": True, "bwlimit": None, "mac": "52:54:00:AA:BB:CC", "hostname": "n1.univ.edu"}], "GetInterfaces")
check(call("GetNodes", anon, n, ["interface_ids"]), [{"interface_ids": [ifc]}], "interface_ids")
fault(102, "AddInterface", piauth, "n1.univ.edu", {"method": "static", "type": "ipv4", "ip": "192.0.2.10", "netmask": "255.255.255.0", "gateway": "10.0.0.1"})
itt = call("AddTagType", admin, {"tagname": "ipv6addr", "category": "interface/ipv6", "description": "an IPv6 address"})
call("AddRoleToTagType", admin, "pi", itt)
ifc6 = call("AddInterface", piauth, "n1.univ.edu", {"method": "static", "type": "ipv6", "ip": "2001:db8::10", "netmask": "ffff:ffff:ffff:ffff::"})
ifv4 = call("AddInterface", piauth, "n1.univ.edu", {"method": "dhcp", "type": "ipv6", "ip": "192.0.2.11"})
itg = call("AddInterfaceTag", piauth, ifc, "ipv6addr", "2001:db8::10")
check(call("UpdateInterfaceTag", piauth, itg, "2001:db8::11"), 1, "UpdateInterfaceTag")
check(call("GetInterfaceTags", uauth, {"interface_id": ifc}, ["tagname", "value"]), [{"tagname": "ipv6addr", "value": "2001:db8::11"}], "GetInterfaceTags")
fault(103, "AddInterfaceTag", uauth, ifc6, "ipv6addr", "x")
il = call("AddIlink", piauth, ifc, ifc6, "ipv6addr", "peer")
check(call("UpdateIlink", piauth, il, "peer2"), 1, "UpdateIlink")
check(call("GetIlinks", uauth, {"src_interface_id": ifc, "dst_interface_id": ifc6}, ["ilink_id", "value"]), [{"ilink_id": il, "value": "peer2"}], "GetIlinks")
check(call("DeleteIlink", piauth, il), 1, "DeleteIlink")
check(call("DeleteInterfaceTag", piauth, itg), 1, "DeleteInterfaceTag")
call("DeleteInterface", piauth, ifc6)
call("DeleteInterface", piauth, ifv4)
call("DeleteTagType", admin, itt)
check(call("DeleteInterface", piauth, ifc), 1, "DeleteInterface")
pcu = call("AddPCU", piauth, "univ", {"hostname": "pcu.univ.edu", "ip": "192.0.2.20", "protocol": "ssh", "username": "root", "password": "pw"})
check(call("AddNodeToPCU", piauth, "n1.univ.edu", pcu, 4), 1, "AddNodeToPCU")
check(call("UpdatePCU", piauth, pcu, {"notes": "rack 1"}), 1, "UpdatePCU")
check(call("GetPCUs", piauth, pcu, ["node_ids", "ports", "notes", "password"]), [{"node_ids": [n], "ports": [4], "notes": "rack 1", "password": "pw"}], "GetPCUs")
fault(103, "GetPCUs", uauth)
check(call("DeleteNodeFromPCU", piauth, n, pcu), 1, "DeleteNodeFromPCU")
check(call("DeletePCU", piauth, pcu), 1, "DeletePCU")
at = call("AddAddressType", admin, {"name": "Billing", "description": "where invoices go"})
check(call("UpdateAddressType", admin, "Billing", {"description": "invoices"}), 1, "UpdateAddressType")
check(call("GetAddressTypes", uauth, "Billing"), [{"address_type_id": at, "name": "Billing", "description": "invoices"}], "GetAddressTypes")
addr = call("AddSiteAddress", piauth, "univ", {"line1": "1 Campus Rd", "city": "Town", "state": "ST", "postalcode": "00001", "country": "US"})
check(call("AddAddressTypeToAddress", piauth, "Billing", addr), 1, "AddAddressTypeToAddress")
check(call("UpdateAddress", piauth, addr, {"line2": "Building 2"}), 1, "UpdateAddress")
check(call("GetAddresses", uauth, [addr], ["line2", "address_types"]), [{"line2": "Building 2", "address_types": ["Billing"]}], "GetAddresses")
fault(103, "AddSiteAddress", uauth, "univ", {"line1": "x", "city": "x", "state": "x", "postalcode": "x", "country": "x"})
check(call("DeleteAddressTypeFromAddress", piauth, at, addr), 1, "DeleteAddressTypeFromAddress")
check(call("DeleteAddress", piauth, addr), 1, "DeleteAddress")
check(call("DeleteAddressType", admin, at), 1, "DeleteAddressType")
tt = call("AddTagType", admin, {"tagname": "ops_note", "category": "slice/ops", "description": "for operators"})
check(call("AddRoleToTagType", admin, "tech", tt), 1, "AddRoleToTagType")
check(call("UpdateTagType", admin, "ops_note", {"description": "ops"}), 1, "UpdateTagType")
check(call("GetTagTypes", uauth, tt, ["tagname", "description", "roles"]), [{"tagname": "ops_note", "description": "ops", "roles": ["tech"]}], "GetTagTypes")
check(call("GetTagTypes", uauth, "cpu_share", ["category", "roles"]), [{"category": "slice/rspec", "roles": ["admin"]}], "GetTagTypes of the table")
fault(103, "AddRoleToTagType", piauth, "pi", tt)
fault(108, "AddRoleToTagType", admin, "user", "cpu_share")
check(call("DeleteRoleFromTagType", admin, 40, tt), 1, "DeleteRoleFromTagType")
check(call("DeleteTagType", admin, tt), 1, "DeleteTagType")
nt = call("AddNodeTag", piauth, "n1.univ.edu", "arch", "x86_64")
check(call("UpdateNodeTag", piauth, nt, "i386"), 1, "UpdateNodeTag")
check(call("GetNodeTags", uauth, {"hostname": "n1.univ.edu"}, ["tagname", "value"]), [{"tagname": "arch", "value": "i386"}], "GetNodeTags")
ng = call("AddNodeGroup", admin, "i386 nodes", "arch", "i386")
check(call("UpdateNodeGroup", admin, ng, {"groupname": "old nodes"}), 1, "UpdateNodeGroup")
check(call("GetNodeGroups", anon, "old nodes", ["node_ids", "tagname"]), [{"node_ids": [n], "tagname": "arch"}], "GetNodeGroups")
fault(103, "AddNodeTag", uauth, "n1.univ.edu", "pldistro", "x")
gcf = call("AddConfFile", admin, {"source": "PlanetLabConf/old", "dest": "/etc/old.conf"})
check(call("AddConfFileToNodeGroup", admin, gcf, "old nodes"), 1, "AddConfFileToNodeGroup")
check(call("GetNodeGroups", anon, ng, ["conf_file_ids"]), [{"conf_file_ids": [gcf]}], "GetNodeGroups conf_file_ids")
check(call("GetConfFiles", admin, gcf, ["nodegroup_ids"]), [{"nodegroup_ids": [ng]}], "GetConfFiles nodegroup_ids")
check(call("DeleteConfFileFromNodeGroup", admin, gcf, ng), 1, "DeleteConfFileFromNodeGroup")
call("DeleteConfFile", admin, gcf)
check(call("DeleteNodeGroup", admin, ng), 1, "DeleteNodeGroup")
check(call("DeleteNodeTag", piauth, nt), 1, "DeleteNodeTag")
st = call("AddSiteTag", admin, "univ", "hrn", "plc.univ")
check(call("UpdateSiteTag", admin, st, "plc.univ2"), 1, "UpdateSiteTag")
check(call("GetSiteTags", uauth, {"login_base": "univ"}, ["tagname", "value"]), [{"tagname": "hrn", "value": "plc.univ2"}], "GetSiteTags")
check(call("GetSites", uauth, {"hrn": "plc.univ2"}, ["login_base", "hrn"]), [{"login_base": "univ", "hrn": "plc.univ2"}], "GetSites by hrn")
fault(108, "UpdateSiteTag", piauth, st, "evil")
check(call("DeleteSiteTag", admin, st), 1, "DeleteSiteTag")
pt = call("AddPersonTag", uauth, "u@univ.edu", "pldistro", "x")
check(call("UpdatePersonTag", uauth, pt, "y"), 1, "UpdatePersonTag")
check(call("GetPersonTags", uauth, {"email": "u@univ.edu"}, ["tagname", "value"]), [{"tagname": "pldistro", "value": "y"}], "GetPersonTags")
check(call("DeletePersonTag", uauth, pt), 1, "DeletePersonTag")

sl = call("AddSlice", piauth, {"name": "univ_exp", "url": "http://e", "description": "experiment"})
call("AddPersonToSlice", piauth, "u@univ.edu", "univ_exp")
call("AddSliceToNodes", uauth, "univ_exp", [n, "node1.plc.org"])
call("DeleteSliceFromNodes", uauth, sl, ["n1.univ.edu"])
call("UpdateSlice", uauth, sl, {"description": "experiment 2"})
call("RenewSlice", uauth, "univ_exp", int(time.time()) + 3 * 7 * 86400)
got = call("GetSlices", uauth, {"name": "univ_*"})[0]
check((got["node_ids"], got["person_ids"], got["description"]), ([node_id], [u], "experiment 2"), "GetSlices")
tag = call("AddSliceTag", uauth, sl, "initscript", "#!/bin/sh\necho hi")
call("UpdateSliceTag", uauth, tag, "#!/bin/sh\necho bye")
ntag = call("AddSliceTag", admin, "univ_exp", "cpu_share", 9, node_id)
check([t["value"] for t in call("GetSliceTags", uauth, {"slice_id": sl})], ["#!/bin/sh\necho bye", "9"], "GetSliceTags")

broker = call("AddSlice", admin, {"name": "univ_broker", "instantiation": "delegated", "shares": 100})
call("AddPersonToSlice", admin, u, broker)
call("DelegateShares", uauth, "univ_broker", "univ_exp", 40)
check(call("GetSlices", admin, [broker, sl], ["shares"]), [{"shares": 41}, {"shares": 60}], "DelegateShares")

# The node, with PlanetLab's HMAC-SHA1 and with Orbis's HMAC-SHA256.
for auth in (legacy(), sha256("GetSlivers")):
    sv = call("GetSlivers", auth)
    check(sv["node_id"], node_id, "GetSlivers node")
    mine = [v for v in sv["slivers"] if v["name"] == "univ_exp"][0]
    check(mine["rspec"]["cpu_shares"], 9, "node tag precedence")
    check(mine["keys"], [{"key_type": "ssh", "key": "ssh-ed25519 AAAAkey2 u@univ"}], "keys")
check(call("GetSlivers", admin, node_id)["hostname"], "node1.plc.org", "admin GetSlivers")
reports = [{"name": "univ_exp", "state": "failed", "reason": "no image"}]
call("ReportSlivers", sha256("ReportSlivers", reports), reports)
call("ReportSlivers", legacy(reports), reports)
check(call("GetSliverReports", uauth)[0]["reason"], "no image", "GetSliverReports")
check(call("GetNodeSummaries", anon, {">load": 0}), [], "GetNodeSummaries")
check(call("GetNodeHistory", anon, node_id), [], "GetNodeHistory")

r = call("AddLeases", uauth, [n], sl, 7200, 3 * 3600)
check(r["errors"], [], "AddLeases errors")
check([(l["t_from"], l["t_until"]) for l in call("GetLeases", anon, r["new_ids"])], [(7200, 10800)], "GetLeases")
call("DeleteLeases", uauth, r["new_ids"])
check(len(call("GetEvents", admin, {"action": "AddSlice"})) >= 2, True, "GetEvents")

# Fault codes.
fault(100, "NoSuchMethod", admin)
fault(101, "AddSite", admin)
fault(102, "AddSite", admin, {"name": "x", "abbreviated_name": "x", "login_base": 5})
fault(102, "GetNodes", admin, {"nosuchfield": 1})
fault(103, "GetSites", {"AuthMethod": "password", "Username": "pi@univ.edu", "AuthString": "wrong"})
fault(103, "GetPersons", anon)
fault(103, "GetSlivers", {"AuthMethod": "hmac", "node_id": node_id, "value": "00"})
fault(103, "AddSite", uauth, {"name": "x", "abbreviated_name": "x", "login_base": "x"})
fault(108, "AddSite", {"AuthMethod": "session", "session": call("GetSession", uauth)}, {"name": "x", "abbreviated_name": "x", "login_base": "x"})
fault(102, "GetSites", {"AuthMethod": "magic"})
fault(103, "DeleteSlice", uauth, sl)

# Deletions, last.
call("DeleteSliceTag", uauth, tag)
call("DeleteSliceTag", admin, ntag)
call("DeletePersonFromSlice", piauth, u, sl)
call("DeleteKey", uauth, k)
call("DeleteSlice", piauth, "univ_exp")
call("DeleteNode", piauth, n)
call("DeletePersonFromSite", piauth, u, site)
call("DeletePerson", admin, u)
call("DeleteSite", admin, "univ")
check(call("GetSites", anon, "univ"), [], "after DeleteSite")
# DeleteSession ends the session it is called with, as in PlanetLab.
check(call("DeleteSession", session), 1, "DeleteSession")
fault(103, "AuthCheck", session)
fault(102, "DeleteSession", admin)
for m in call("system.listMethods"):
    if not m.startswith("system."):
        check(len(s.system.methodHelp(m)) > 0, True, "methodHelp " + m)
print("CALLED", " ".join(sorted(called)))
`
