package plc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// accessorMethods are PLCAPI's accessors of the tags central declares,
// named as PLC/Accessors names them.
func accessorMethods() []string {
	camel := func(s string) string {
		if suffix, ok := api.AccessorSuffixes[s]; ok {
			return suffix
		}
		var b strings.Builder
		for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' }) {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
		return b.String()
	}
	var out []string
	add := func(object, tag string) { out = append(out, "Get"+object+camel(tag), "Set"+object+camel(tag)) }
	for _, a := range api.AccessorTags {
		for _, o := range a.Objects {
			switch o {
			case "node":
				add("Node", a.Name)
			case "slice":
				add("Slice", a.Name)
			case "site":
				add("Site", a.Name)
			case "person":
				add("Person", a.Name)
			case "interface":
				add("Interface", a.Name)
			}
		}
	}
	for _, a := range api.AttributeTags {
		add("Slice", a.Name)
	}
	return out
}

// pythonAccessorCalls calls every accessor from Python within
// TestXMLRPCPython: each Set, then its Get must answer the value.
func pythonAccessorCalls() string {
	names, _ := json.Marshal(accessorMethods())
	return `
# Accessors (accessors_test.go).
acc_sl = call("AddSlice", admin, {"name": "plc_acc", "url": "http://plc.org", "description": "accessors"})
acc_if = call("AddInterface", admin, "node1.plc.org", {"method": "dhcp", "type": "ipv4"})
acc_values = {"Enabled": "1", "OrbisSoftware": "` + strings.Repeat("0", 64) + ` /opt/x"}
for name in ` + string(names) + `:
    if not name.startswith("Set"):
        continue
    obj = [o for o in ("Node", "Site", "Slice", "Person", "Interface") if name.startswith("Set" + o)][0]
    tag = name[3 + len(obj):]
    ref = {"Node": "node1.plc.org", "Site": "plc", "Slice": "plc_acc", "Person": "admin@example.org", "Interface": acc_if}[obj]
    value = acc_values.get(tag, "v1")
    call(name, admin, ref, value)
    check(call("Get" + name[3:], admin, ref), value, "Get" + name[3:])
check(call("GetSliceArch", admin, "plc_acc"), "v1", "GetSliceArch")
check(call("GetNodeDeployment", admin, "node1.plc.org"), "v1", "GetNodeDeployment")
acc_ifs = call("GetInterfaces", admin, {"ifname": "v1", "interface_id": acc_if}, ["interface_id", "ifname", "essid", "interface_tag_ids"])
check([(i["interface_id"], i["ifname"], i["essid"], len(i["interface_tag_ids"])) for i in acc_ifs],
      [(acc_if, "v1", "v1", len([n for n in ` + string(names) + ` if n.startswith("SetInterface")]))], "GetInterfaces by ifname")
check(call("GetInterfaceSecurityMode", admin, acc_if), "v1", "GetInterfaceSecurityMode")
call("DeleteInterface", admin, acc_if)
`
}

// TestAccessorsAttack: the accessors set tags with the rights of
// AddNodeTag and AddSliceTag: a slice's user cannot set its hrn (SFA's
// name for it) nor a node's tag, a PI of another site cannot set a tag of
// a node of this site nor read a slice's tags they cannot see.
func TestAccessorsAttack(t *testing.T) {
	w := newWorld(t)
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_acc", "url": "http://alpha.org", "description": "x"})
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, sl)
	w.must(w.admin, "SetSliceHrn", sl, "plc.alpha.acc")
	w.must(w.userA, "SetSliceVref", "alpha_acc", "debian")
	w.must(w.techA, "SetNodeArch", w.nodeA1, "x86_64")
	for _, a := range []struct {
		c      *plc.Caller
		method string
		ref    any
		code   int
	}{
		{w.userA, "SetSliceHrn", sl, plc.FaultPermission},
		{w.piA, "SetSliceSfaCreated", sl, plc.FaultPermission},
		{w.piB, "SetSliceVref", sl, plc.FaultPermission},
		{w.userA, "SetNodeArch", w.nodeA1, plc.FaultPermission},
		{w.piB, "SetNodeArch", w.nodeA1, plc.FaultPermission},
		{w.piA, "SetNodeHrn", w.nodeA1, plc.FaultPermission},
	} {
		_, err := w.call(a.c, a.method, a.ref, "evil")
		fault(t, err, a.code)
	}
	_, err := w.call(w.piB, "GetSliceVref", sl)
	fault(t, err, plc.FaultInvalidArg) // not a slice piB may see
	for method, want := range map[string]string{"GetSliceHrn": "plc.alpha.acc", "GetSliceVref": "debian"} {
		if got := w.must(w.userA, method, sl); got != want {
			t.Errorf("%s after the attacks: %v, want %q", method, got, want)
		}
	}
	// Tags as slice fields and filter keys show only slices one may see.
	got := records(t, w.must(w.userA, "GetSlices", map[string]any{"hrn": "plc.alpha.acc"}, []any{"name", "hrn", "arch"}))
	if len(got) != 1 || !sameRecord(got[0], map[string]any{"name": "alpha_acc", "hrn": "plc.alpha.acc", "arch": nil}) {
		t.Errorf("GetSlices by hrn: %v", got)
	}
	if got := records(t, w.must(w.userB, "GetSlices", map[string]any{"hrn": []any{"plc.alpha.acc"}})); len(got) != 0 {
		t.Errorf("a user of another site finds slices by hrn: %v", got)
	}
	if got := w.must(w.userB, "GetNodeArch", w.nodeA1); got != "x86_64" {
		t.Errorf("GetNodeArch after the attacks: %v", got)
	}
	if got := w.must(w.userB, "GetNodeHrn", w.nodeA1); got != nil {
		t.Errorf("GetNodeHrn after the attacks: %v, want None", got)
	}
}

// TestSiteTagsAttack: a site's PI sets its tags of types their role may
// set; a PI of another site cannot tag, retag or untag it, nor set its
// hrn, which is SFA's (admins').
func TestSiteTagsAttack(t *testing.T) {
	w := newWorld(t)
	ops := w.id(w.admin, "AddTagType", map[string]any{"tagname": "site_note", "category": "site/ops"})
	w.must(w.admin, "AddRoleToTagType", "pi", ops)
	note := w.id(w.piA, "AddSiteTag", w.siteA, "site_note", "ours")
	w.must(w.admin, "SetSiteHrn", "alpha", "plc.alpha")
	for _, call := range [][]any{
		{"AddSiteTag", w.siteA, "site_note", "evil"},
		{"UpdateSiteTag", note, "evil"},
		{"DeleteSiteTag", note},
		{"SetSiteHrn", "alpha", "evil"},
	} {
		_, err := w.call(w.piB, call[0].(string), call[1:]...)
		fault(t, err, plc.FaultPermission)
	}
	_, err := w.call(w.piA, "SetSiteHrn", "alpha", "plc.beta")
	fault(t, err, plc.FaultPermission) // hrn is SFA's
	_, err = w.call(w.userA, "AddSiteTag", w.siteA, "site_note", "evil")
	fault(t, err, plc.FaultAuth)
	got := records(t, w.must(w.userB, "GetSites", "alpha", []any{"hrn", "sfa_created"}))
	if len(got) != 1 || !sameRecord(got[0], map[string]any{"hrn": "plc.alpha", "sfa_created": nil}) {
		t.Fatalf("site alpha after the attacks: %v", got)
	}
	if tags := records(t, w.must(w.userB, "GetSiteTags", map[string]any{"tagname": "site_note"})); len(tags) != 1 || tags[0]["value"] != "ours" {
		t.Fatalf("site_note after the attacks: %v", tags)
	}
}

// TestPersonTagsAttack: a person's tags are read as the person is (a user
// of another site sees neither them nor the person through a tag filter),
// and set by those who may update the person; hrn is admins'.
func TestPersonTagsAttack(t *testing.T) {
	w := newWorld(t)
	w.must(w.admin, "SetPersonHrn", w.userA.PersonID, "plc.alpha.user")
	note := w.id(w.userA, "AddPersonTag", w.userA.PersonID, "pldistro", "mine")
	for _, c := range []*plc.Caller{w.piB, w.userB} {
		for _, call := range [][]any{
			{"AddPersonTag", w.userA.PersonID, "arch", "evil"},
			{"UpdatePersonTag", note, "evil"},
			{"DeletePersonTag", note},
			{"SetPersonHrn", w.userA.PersonID, "evil"},
		} {
			_, err := w.call(c, call[0].(string), call[1:]...)
			fault(t, err, plc.FaultPermission)
		}
		if got := records(t, w.must(c, "GetPersonTags", map[string]any{"person_id": w.userA.PersonID})); len(got) != 0 {
			t.Errorf("another site's caller reads user A's tags: %v", got)
		}
		if got := records(t, w.must(c, "GetPersons", map[string]any{"hrn": "plc.alpha.user"})); len(got) != 0 {
			t.Errorf("another site's caller finds user A by hrn: %v", got)
		}
		_, err := w.call(c, "GetPersonHrn", w.userA.PersonID)
		fault(t, err, plc.FaultInvalidArg)
	}
	_, err := w.call(w.userA, "SetPersonHrn", w.userA.PersonID, "plc.admin")
	fault(t, err, plc.FaultPermission) // hrn is SFA's
	got := records(t, w.must(w.piA, "GetPersons", map[string]any{"hrn": "plc.alpha.user"}, []any{"email", "hrn", "sfa_created"}))
	if len(got) != 1 || !sameRecord(got[0], map[string]any{"email": "user@alpha.org", "hrn": "plc.alpha.user", "sfa_created": nil}) {
		t.Fatalf("user A after the attacks: %v", got)
	}
	if tags := records(t, w.must(w.userA, "GetPersonTags", note)); len(tags) != 1 || tags[0]["value"] != "mine" {
		t.Fatalf("user A's tag after the attacks: %v", tags)
	}
}
