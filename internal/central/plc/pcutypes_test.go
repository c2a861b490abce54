package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestPCUTypes keeps PCU models and their protocol types as PLCAPI does:
// admins write them, anyone reads them, a model is unique, the bounds
// hold, and a PI's attempts to change them change nothing.
func TestPCUTypes(t *testing.T) {
	w := newWorld(t)
	typ := w.id(w.admin, "AddPCUType", map[string]any{"model": "APCControl12p3", "name": "APC AP79xx"})
	proto := w.id(w.admin, "AddPCUProtocolType", "APCControl12p3", map[string]any{"port": 22, "protocol": "ssh", "supported": true})
	w.id(w.admin, "AddPCUProtocolType", typ, map[string]any{"port": 23, "protocol": "telnet", "supported": false})
	got := records(t, w.must(w.userA, "GetPCUTypes", "APCControl12p3"))
	if len(got) != 1 || got[0]["name"] != "APC AP79xx" || len(got[0]["pcu_protocol_type_ids"].([]any)) != 2 {
		t.Fatalf("GetPCUTypes: %v", got)
	}
	first := got[0]["pcu_protocol_types"].([]any)[0].(map[string]any)
	if first["port"] != int64(22) || first["protocol"] != "ssh" || first["supported"] != true {
		t.Errorf("GetPCUTypes' first protocol type: %v", first)
	}
	if got := ints(t, w.must(&plc.Caller{NodeID: w.nodeA1}, "GetPCUProtocolTypes", map[string]any{"pcu_type_id": typ, "supported": false}), "port"); len(got) != 1 || got[0] != 23 {
		t.Errorf("GetPCUProtocolTypes of unsupported ports: %v", got)
	}
	w.must(w.admin, "UpdatePCUType", typ, map[string]any{"name": "APC"})
	w.must(w.admin, "UpdatePCUProtocolType", proto, map[string]any{"supported": false})

	for name, args := range map[string][]any{
		"AddPCUType": {map[string]any{"model": "mine"}}, "UpdatePCUType": {typ, map[string]any{"name": "x"}},
		"DeletePCUType": {typ}, "AddPCUProtocolType": {typ, map[string]any{"port": 80, "protocol": "http"}},
		"UpdatePCUProtocolType": {proto, map[string]any{"port": 1}}, "DeletePCUProtocolType": {proto},
	} {
		_, err := w.call(w.piA, name, args...)
		fault(t, err, plc.FaultAuth)
	}
	for _, bad := range []struct {
		name string
		args []any
	}{
		{"AddPCUType", []any{map[string]any{"model": "APCControl12p3"}}}, // taken
		{"AddPCUType", []any{map[string]any{"name": "no model"}}},
		{"AddPCUType", []any{map[string]any{"model": string(make([]byte, 255))}}},
		{"AddPCUType", []any{map[string]any{"model": "x", "pcu_type_id": 9}}},
		{"AddPCUProtocolType", []any{typ, map[string]any{"port": 0, "protocol": "ssh"}}},
		{"AddPCUProtocolType", []any{typ, map[string]any{"port": 22}}},
		{"AddPCUProtocolType", []any{"no-such-model", map[string]any{"port": 22, "protocol": "ssh"}}},
		{"UpdatePCUProtocolType", []any{proto, map[string]any{"port": 70000}}},
	} {
		_, err := w.call(w.admin, bad.name, bad.args...)
		fault(t, err, plc.FaultInvalidArg)
	}
	got = records(t, w.must(w.admin, "GetPCUTypes", typ))
	if got[0]["name"] != "APC" || got[0]["pcu_protocol_types"].([]any)[0].(map[string]any)["supported"] != false {
		t.Errorf("PCU type after the calls: %v", got)
	}

	for i := 2; i < 32; i++ {
		w.id(w.admin, "AddPCUProtocolType", typ, map[string]any{"port": 1000 + i, "protocol": "http"})
	}
	_, err := w.call(w.admin, "AddPCUProtocolType", typ, map[string]any{"port": 2000, "protocol": "http"})
	fault(t, err, plc.FaultInvalidArg)
	for i := 1; i < 256; i++ {
		w.id(w.admin, "AddPCUType", map[string]any{"model": "m" + string(rune('a'+i%26)) + string(rune('a'+i/26))})
	}
	_, err = w.call(w.admin, "AddPCUType", map[string]any{"model": "one too many"})
	fault(t, err, plc.FaultInvalidArg)

	w.must(w.admin, "DeletePCUProtocolType", proto)
	w.must(w.admin, "DeletePCUType", "APCControl12p3")
	if got := records(t, w.must(w.admin, "GetPCUProtocolTypes", map[string]any{"pcu_type_id": typ})); len(got) != 0 {
		t.Errorf("protocol types of a deleted PCU type: %v", got)
	}
}

// pcuTypeMethods are pcutypes.go's, for TestMethodTable.
var pcuTypeMethods = []string{"GetPCUTypes", "AddPCUType", "UpdatePCUType", "DeletePCUType",
	"GetPCUProtocolTypes", "AddPCUProtocolType", "UpdatePCUProtocolType", "DeletePCUProtocolType"}

// pythonPCUTypeCalls calls the PCU type methods from Python within
// TestXMLRPCPython.
const pythonPCUTypeCalls = `
# PCU types (pcutypes_test.go).
pt = call("AddPCUType", admin, {"model": "plc-py-model", "name": "a model"})
pp = call("AddPCUProtocolType", admin, pt, {"port": 443, "protocol": "https", "supported": True})
check(call("GetPCUTypes", piauth, [pt], ["model", "pcu_protocol_type_ids"]), [{"model": "plc-py-model", "pcu_protocol_type_ids": [pp]}], "GetPCUTypes")
check(call("GetPCUProtocolTypes", piauth, pp, ["port", "supported"]), [{"port": 443, "supported": True}], "GetPCUProtocolTypes")
check(call("UpdatePCUType", admin, pt, {"name": "b"}), 1, "UpdatePCUType")
check(call("UpdatePCUProtocolType", admin, pp, {"supported": False}), 1, "UpdatePCUProtocolType")
fault(103, "AddPCUType", piauth, {"model": "x"})
check(call("DeletePCUProtocolType", admin, pp), 1, "DeletePCUProtocolType")
check(call("DeletePCUType", admin, "plc-py-model"), 1, "DeletePCUType")
`
