package plc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestInterfaces adds, checks, updates and deletes interfaces, and makes
// the attacks of another site's tech and PI (changing or deleting the
// node's interfaces) and of a tech filling the store with interfaces.
func TestInterfaces(t *testing.T) {
	w := newWorld(t)
	static := map[string]any{"method": "static", "type": "ipv4", "ip": "198.51.100.7", "netmask": "255.255.255.128",
		"network": "198.51.100.0", "broadcast": "198.51.100.127", "gateway": "198.51.100.1", "dns1": "198.51.100.2"}
	first := w.id(w.techA, "AddInterface", w.nodeA1, static)
	second := w.id(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
	got := records(t, w.must(w.userB, "GetInterfaces", map[string]any{"node_id": w.nodeA1, "-SORT": "interface_id"}))
	if len(got) != 2 || got[0]["is_primary"] != true || got[1]["is_primary"] != false || got[0]["bwlimit"] != nil || got[0]["ip"] != "198.51.100.7" {
		t.Fatalf("GetInterfaces: %v", got)
	}
	w.must(w.piA, "UpdateInterface", second, map[string]any{"is_primary": true, "bwlimit": 2000000})
	if got := ints(t, w.must(w.admin, "GetInterfaces", map[string]any{"is_primary": true}), "interface_id"); len(got) != 1 || got[0] != second {
		t.Fatalf("primary interfaces after UpdateInterface: %v", got)
	}

	// Another site's PI and tech cannot touch them.
	techB := w.person("tech@beta.org", w.siteB, "tech")
	for _, c := range []*plc.Caller{techB, w.piB} {
		_, err := w.call(c, "UpdateInterface", first, map[string]any{"ip": "198.51.100.8"})
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "DeleteInterface", first)
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
		fault(t, err, plc.FaultPermission)
	}
	if got := records(t, w.must(w.admin, "GetInterfaces", first)); got[0]["ip"] != "198.51.100.7" {
		t.Fatalf("victim's interface changed: %v", got)
	}

	// Bad input is refused, naming the field.
	for field, f := range map[string]map[string]any{
		"method":    {"method": "carrier-pigeon", "type": "ipv4"},
		"ip":        {"method": "dhcp", "type": "ipv4", "ip": "198.51.100.300"},
		"dns1":      {"method": "dhcp", "type": "ipv6", "ip": "2001:db8::1", "dns1": "198.51.100.53"},
		"netmask":   {"method": "static", "type": "ipv4", "ip": "198.51.100.7", "netmask": "255.0.255.0"},
		"gateway":   {"method": "static", "type": "ipv4", "ip": "198.51.100.7", "netmask": "255.255.255.128", "gateway": "198.51.100.200"},
		"broadcast": {"method": "static", "type": "ipv4", "ip": "198.51.100.7", "netmask": "255.255.255.128", "broadcast": "198.51.100.255"},
		"bwlimit":   {"method": "dhcp", "type": "ipv4", "bwlimit": 1000},
		"mac":       {"method": "dhcp", "type": "ipv4", "mac": "not-a-mac"},
		"node_id":   {"method": "dhcp", "type": "ipv4", "node_id": w.nodeB1},
	} {
		_, err := w.call(w.techA, "AddInterface", w.nodeA1, f)
		if msg := fault(t, err, plc.FaultInvalidArg).Msg; !strings.Contains(msg, field) {
			t.Errorf("fault %q does not name %s", msg, field)
		}
	}

	// A tech cannot add interfaces without end.
	for range 14 {
		w.id(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
	}
	_, err := w.call(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
	fault(t, err, plc.FaultInvalidArg)
	if n := len(records(t, w.must(w.admin, "GetInterfaces", map[string]any{"node_id": w.nodeA1}))); n != 16 {
		t.Fatalf("%d interfaces on the node, want the 16 allowed", n)
	}

	w.must(w.techA, "DeleteInterface", first)
	w.must(w.admin, "DeleteNode", w.nodeA1)
	if got := records(t, w.must(w.admin, "GetInterfaces")); len(got) != 0 {
		t.Fatalf("interfaces outlive their node: %v", got)
	}
}

// TestInterfaceAccessorsAttack: the interface accessor tags (ifname, the
// wireless ones, backdoor) are set through AddInterface, UpdateInterface
// and Set<Interface><Tag> with AddInterfaceTag's rights, are return
// fields and filter keys of GetInterfaces, and interface_tag_ids lists
// them. Another site's tech and PI, and the node's site's user, cannot
// set them; backdoor is admins' only.
func TestInterfaceAccessorsAttack(t *testing.T) {
	w := newWorld(t)
	ifc := w.id(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4", "ifname": "eth0"})
	other := w.id(w.techA, "AddInterface", w.nodeA1, map[string]any{"method": "dhcp", "type": "ipv4"})
	w.must(w.piA, "UpdateInterface", ifc, map[string]any{"essid": "orbis", "bwlimit": 2000000})
	w.must(w.techA, "SetInterfaceSecurityMode", ifc, "restricted")
	w.must(w.admin, "SetInterfaceBackdoor", ifc, "yes")
	techB := w.person("tech@beta.org", w.siteB, "tech")
	for _, a := range []struct {
		c      *plc.Caller
		method string
		args   []any
		code   int
	}{
		{techB, "SetInterfaceIfname", []any{ifc, "evil"}, plc.FaultPermission},
		{w.piB, "SetInterfaceKey", []any{ifc, "evil"}, plc.FaultPermission},
		{techB, "UpdateInterface", []any{ifc, map[string]any{"ifname": "evil"}}, plc.FaultPermission},
		{w.piA, "SetInterfaceBackdoor", []any{ifc, "no"}, plc.FaultPermission},
		{w.techA, "UpdateInterface", []any{other, map[string]any{"backdoor": "no"}}, plc.FaultPermission},
		{w.userA, "SetInterfaceIfname", []any{ifc, "evil"}, plc.FaultPermission},
		{w.techA, "SetInterfaceIfname", []any{"198.51.100.7", "eth1"}, plc.FaultInvalidArg},
		{w.techA, "UpdateInterface", []any{ifc, map[string]any{"ifname": 7}}, plc.FaultInvalidArg},
	} {
		_, err := w.call(a.c, a.method, a.args...)
		fault(t, err, a.code)
	}
	want := map[string]any{"interface_id": ifc, "ifname": "eth0", "essid": "orbis", "securitymode": "restricted", "backdoor": "yes", "driver": nil}
	got := records(t, w.must(w.userB, "GetInterfaces", map[string]any{"ifname": "eth0"}, []any{"interface_id", "ifname", "essid", "securitymode", "backdoor", "driver"}))
	if len(got) != 1 || !sameRecord(got[0], want) {
		t.Fatalf("GetInterfaces by ifname after the attacks: %v, want %v", got, want)
	}
	if got := w.must(w.userB, "GetInterfaceIfname", ifc); got != "eth0" {
		t.Errorf("GetInterfaceIfname: %v", got)
	}
	if got := w.must(w.userB, "GetInterfaceDriver", ifc); got != nil {
		t.Errorf("GetInterfaceDriver of an untagged interface: %v, want None", got)
	}
	tagIDs := ints(t, w.must(w.admin, "GetInterfaceTags", map[string]any{"interface_id": ifc}), "interface_tag_id")
	all := records(t, w.must(w.admin, "GetInterfaces", map[string]any{"node_id": w.nodeA1, "-SORT": "interface_id"}))
	if len(all) != 2 || len(tagIDs) != 4 || fmt.Sprint(all[0]["interface_tag_ids"]) != fmt.Sprint(tagIDs) ||
		fmt.Sprint(all[1]["interface_tag_ids"]) != "[]" || all[1]["ifname"] != nil {
		t.Fatalf("GetInterfaces' interface_tag_ids and tags (tags %v): %v", tagIDs, all)
	}
	if got := ints(t, w.must(w.admin, "GetInterfaces", map[string]any{"|interface_tag_ids": []any{tagIDs[0]}}), "interface_id"); len(got) != 1 || got[0] != ifc {
		t.Errorf("GetInterfaces by interface_tag_ids: %v", got)
	}
	if got := ints(t, w.must(w.admin, "GetInterfaces", map[string]any{"ifname": []any{"eth1", "eth2"}}), "interface_id"); len(got) != 0 {
		t.Errorf("GetInterfaces by an ifname no interface has: %v", got)
	}
	w.must(w.techA, "DeleteInterface", ifc)
	if got := records(t, w.must(w.admin, "GetInterfaceTags", map[string]any{"tagname": "ifname"})); len(got) != 0 {
		t.Errorf("an interface's tags outlive it: %v", got)
	}
}
