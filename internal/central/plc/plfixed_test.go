package plc_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestFixedMethods: the PLCAPI methods whose records Orbis does not keep
// answer fault 102 saying why, never 109; one refused to
// an admin is refused to a PI before (PLCAPI's role fault), and the fixed
// tables stay as they were after the calls.
func TestFixedMethods(t *testing.T) {
	w := newWorld(t)
	before := w.must(w.admin, "GetNodeTypes")
	for name, args := range map[string][]any{
		"AddNodeType": {"dummynet"}, "DeleteNodeType": {"regular"}, "AddRole": {50, "peer"}, "DeleteRole": {10},
		"AddKeyType": {"rsa"}, "AddPeer": {map[string]any{"peername": "x"}},
		"RebootNode": {w.nodeA1}, "GetBootMedium": {w.nodeA1, "node-iso", ""},
		"GetSliceTicket": {"alpha_x"}, "GetEventObjects": {},
	} {
		_, err := w.call(w.admin, name, args...)
		if f := fault(t, err, plc.FaultInvalidArg); !strings.Contains(f.Msg, "Orbis") {
			t.Errorf("%s: %q does not say what Orbis does", name, f.Msg)
		}
	}
	_, err := w.call(w.piA, "AddNodeType", "dummynet")
	fault(t, err, plc.FaultAuth)
	if got := w.must(w.admin, "GetNodeTypes"); len(got.([]any)) != len(before.([]any)) {
		t.Errorf("GetNodeTypes after the calls: %v, before %v", got, before)
	}
	if got := w.must(w.admin, "GetPeerName"); got != "Orbis" {
		t.Errorf("GetPeerName without central's URL: %v", got)
	}
}

// TestBootAndSliceKeyMethods: GetSliceKeys and RetrieveSlicePersonKeys
// show a slice's persons' keys to those who may see them and to no one
// else; BootGetNodeDetails and BootUpdateNode act on the calling node
// only; GetNodeFlavour reads the node's tags.
func TestBootAndSliceKeyMethods(t *testing.T) {
	w := newWorld(t)
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_keys", "url": "http://alpha.org", "description": "x"})
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, sl)
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeys user@alpha"
	w.must(w.userA, "AddPersonKey", w.userA.PersonID, map[string]any{"key_type": "ssh", "key": key})
	want := map[string]any{"slice_id": sl, "name": "alpha_keys", "person_id": w.userA.PersonID, "email": "user@alpha.org", "key": key}
	for _, c := range []*plc.Caller{w.admin, w.piA, w.userA} {
		got := records(t, w.must(c, "GetSliceKeys", []any{"alpha_keys"}))
		if len(got) != 1 || !sameRecord(got[0], want) {
			t.Errorf("GetSliceKeys as %d: %v", c.PersonID, got)
		}
		if got := w.must(c, "RetrieveSlicePersonKeys", "alpha_keys", map[string]any{"person_id": w.userA.PersonID}); len(got.(map[string]any)["user@alpha.org"].([]any)) != 1 {
			t.Errorf("RetrieveSlicePersonKeys as %d: %v", c.PersonID, got)
		}
	}
	if got := records(t, w.must(w.admin, "GetSliceKeys", nil, []any{"email"})); len(got) != 1 || !sameRecord(got[0], map[string]any{"email": "user@alpha.org"}) {
		t.Errorf("GetSliceKeys' return_fields: %v", got)
	}
	for _, c := range []*plc.Caller{w.userB, w.piB, {}} {
		if got, err := w.call(c, "GetSliceKeys", []any{"alpha_keys"}); err == nil && len(records(t, got)) != 0 {
			t.Errorf("another site's caller %d reads slice alpha_keys' keys: %v", c.PersonID, got)
		}
		if got, err := w.call(c, "RetrieveSlicePersonKeys", "alpha_keys"); err == nil && len(got.(map[string]any)) != 0 {
			t.Errorf("another site's caller %d reads slice alpha_keys' keys: %v", c.PersonID, got)
		}
	}
	if got := records(t, w.must(w.userA, "ResolveSlices", "alpha_keys")); len(got) != 1 || got[0]["slice_id"] != sl || len(got[0]) != 3 {
		t.Errorf("ResolveSlices: %v", got)
	}

	node := &plc.Caller{NodeID: w.nodeA1}
	w.must(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
	d := w.must(node, "BootGetNodeDetails").(map[string]any)
	if d["hostname"] != "n1.alpha.org" || d["boot_state"] != "boot" || len(d["networks"].([]any)) != 1 || d["session"] == "" {
		t.Errorf("BootGetNodeDetails: %v", d)
	}
	w.must(node, "BootUpdateNode", map[string]any{"boot_state": "safeboot"})
	for _, f := range []map[string]any{{"boot_state": "evil"}, {"ssh_rsa_key": "x"}, {"primary_network": map[string]any{"interface_id": 1}}} {
		_, err := w.call(node, "BootUpdateNode", f)
		fault(t, err, plc.FaultInvalidArg)
	}
	states := map[int64]string{}
	for _, n := range records(t, w.must(w.admin, "GetNodes", []any{w.nodeA1, w.nodeA2}, []any{"node_id", "boot_state"})) {
		states[n["node_id"].(int64)] = n["boot_state"].(string)
	}
	if states[w.nodeA1] != "safeboot" || states[w.nodeA2] != "boot" {
		t.Errorf("boot states after BootUpdateNode: %v", states)
	}
	_, err := w.call(w.piA, "BootUpdateNode", map[string]any{"boot_state": "disabled"})
	fault(t, err, plc.FaultAuth)
	w.must(node, "ReportRunlevel", map[string]any{"run_level": "boot"})
	_, err = w.call(node, "ReportRunlevel", map[string]any{"run_level": "evil"})
	fault(t, err, plc.FaultInvalidArg)

	w.must(w.admin, "SetNodeExtensions", w.nodeA1, "a b")
	w.must(w.techA, "SetNodeArch", w.nodeA1, "aarch64")
	f := w.must(w.userA, "GetNodeFlavour", "n1.alpha.org").(map[string]any)
	if f["nodefamily"] != "orbis-default-aarch64" || f["virt"] != "lxc" || f["plain"] != false ||
		len(f["extensions"].([]any)) != 2 || f["extensions"].([]any)[1] != "b-default-aarch64" {
		t.Errorf("GetNodeFlavour: %v", f)
	}
}

// fixedRefused and fixedNodeRefused are plfixed.go's methods, refused
// with fault 102.
var (
	fixedRefused = []string{"AddKeyType", "DeleteKeyType", "AddNetworkMethod", "DeleteNetworkMethod", "AddNetworkType",
		"DeleteNetworkType", "AddNodeType", "DeleteNodeType", "AddRole", "DeleteRole", "AddSliceInstantiation",
		"DeleteSliceInstantiation", "AddBootState", "DeleteBootState", "RebootNodeWithPCU", "RebootNode",
		"VerifyPerson",
		"AddPeer", "UpdatePeer", "DeletePeer", "RefreshPeer", "DeleteAllPeerEntries", "BindObjectToPeer",
		"UnBindObjectFromPeer", "GetPeerData",
		"GetBootMedium", "GetSliceTicket", "RetrieveSliceSliverKeys", "GetEventObjects"}
	// fixedNodeRefused are refused too, to the node that calls them.
	fixedNodeRefused = []string{"BootNotifyOwners"}
	// newPLMethods are plfixed.go's, plkeys.go's, plboot.go's,
	// nodeconf.go's, pcutypes.go's, messages.go's, notify.go's and whitelist.go's, for TestMethodTable.
	newPLMethods = slices.Concat(fixedRefused, fixedNodeRefused, pcuTypeMethods, messageMethods, notifyMethods, whitelistMethods, []string{"GetPeerName",
		"GetSliceKeys", "RetrieveSlicePersonKeys", "ResolveSlices", "GetNodeFlavour", "BootGetNodeDetails",
		"BootUpdateNode", "ReportRunlevel", "GenerateNodeConfFile"})
)

// pythonFixedCalls calls each of newPLMethods from Python within
// TestXMLRPCPython: the refused ones with arguments of their signature's
// types, which must give fault 102.
func pythonFixedCalls(reg *plc.Registry) string {
	placeholder := map[string]any{"int": 1, "string": "x", "struct": map[string]any{}, "array": []any{}, "boolean": true}
	refused := map[string][]any{}
	for _, name := range slices.Concat(fixedRefused, fixedNodeRefused) {
		m := reg.Lookup(name)
		args := []any{}
		for _, typ := range m.Signature[2 : 2+m.MinArgs] {
			args = append(args, placeholder[typ])
		}
		refused[name] = args
	}
	js, _ := json.Marshal(refused)
	return `
# The methods whose records Orbis does not keep, and BootManager's (plfixed_test.go).
import json
for name, args in json.loads(r'''` + string(js) + `''').items():
    fault(102, name, legacy(*args) if name == "BootNotifyOwners" else admin, *args)
check(type(call("GetPeerName", admin)), str, "GetPeerName")
fk = call("AddSlice", admin, {"name": "plc_fixedkeys"})
check(call("GetSliceKeys", admin, [fk]), [], "GetSliceKeys")
check(call("RetrieveSlicePersonKeys", admin, fk), {}, "RetrieveSlicePersonKeys")
check([s["name"] for s in call("ResolveSlices", admin, "plc_fixedkeys")], ["plc_fixedkeys"], "ResolveSlices")
call("DeleteSlice", admin, fk)
check(call("GetNodeFlavour", admin, node_id)["virt"], "lxc", "GetNodeFlavour")
check(call("BootGetNodeDetails", legacy())["hostname"], "node1.plc.org", "BootGetNodeDetails")
check(call("BootUpdateNode", legacy({"boot_state": "boot"}), {"boot_state": "boot"}), 1, "BootUpdateNode")
check(call("ReportRunlevel", legacy({"run_level": "boot"}), {"run_level": "boot"}), 1, "ReportRunlevel")
fault(103, "GenerateNodeConfFile", uauth, node_id)
check(call("GenerateNodeConfFile", admin, node_id, False).count("ORBIS_CENTRAL="), 1, "GenerateNodeConfFile")
`
}
