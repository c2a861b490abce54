package plc_test

import (
	"slices"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestNodeWhitelist: an admin puts a slice on a node's whitelist; the
// node then takes only that slice. The attacks: a PI adds another slice
// to the node (refused, and the node does not run it), a slice that was
// on the node before the whitelist keeps running there (it does not: the
// node's slivers, on both of its channels, hold only the whitelisted
// one), and a PI writes a whitelist (refused).
func TestNodeWhitelist(t *testing.T) {
	w := newWorld(t)
	kept := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_kept", "url": "http://alpha.org", "description": "x"})
	old := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_old", "url": "http://alpha.org", "description": "x"})
	other := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_other", "url": "http://alpha.org", "description": "x"})
	w.must(w.piA, "AddSliceToNodes", old, []any{w.nodeA1})

	w.must(w.admin, "AddSliceToNodesWhitelist", "alpha_kept", []any{"n1.alpha.org"})
	got := records(t, w.must(w.userA, "GetNodes", w.nodeA1, []any{"slice_ids_whitelist"}))
	if wl := got[0]["slice_ids_whitelist"].([]any); len(wl) != 1 || wl[0] != kept {
		t.Fatalf("GetNodes' slice_ids_whitelist: %v", got)
	}
	if got := ints(t, w.must(w.userA, "GetWhitelist"), "node_id"); !slices.Equal(got, []int64{w.nodeA1}) {
		t.Errorf("GetWhitelist: %v", got)
	}
	w.must(w.piA, "AddSliceToNodes", kept, []any{w.nodeA1})
	_, err := w.call(w.piA, "AddSliceToNodes", other, []any{w.nodeA2, w.nodeA1})
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.piA, "AddSliceToNodes", other, []any{w.nodeA2}) // no whitelist there

	names := func(node int64) []string {
		sv, err := w.svc.NodeSlivers(w.ctx, node)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range sv.Slivers {
			out = append(out, s.Name)
		}
		pl := w.must(w.admin, "GetSlivers", node).(map[string]any)["slivers"].([]any)
		if len(pl) != len(out) {
			t.Errorf("node %d: GetSlivers has %d slivers, the node channel %d", node, len(pl), len(out))
		}
		slices.Sort(out)
		return out
	}
	if got := names(w.nodeA1); !slices.Equal(got, []string{"alpha_kept"}) {
		t.Errorf("the whitelisted node runs %v, want alpha_kept only", got)
	}
	if got := names(w.nodeA2); !slices.Equal(got, []string{"alpha_other"}) {
		t.Errorf("another node runs %v", got)
	}

	for _, name := range []string{"AddSliceToNodesWhitelist", "DeleteSliceFromNodesWhitelist"} {
		_, err = w.call(w.piA, name, other, []any{w.nodeA1})
		fault(t, err, plc.FaultAuth)
	}
	_, err = w.call(w.admin, "AddSliceToNodesWhitelist", "no_such", []any{w.nodeA1})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.admin, "AddSliceToNodesWhitelist", kept, []any{"no.such.host"})
	fault(t, err, plc.FaultInvalidArg)

	w.must(w.admin, "DeleteSliceFromNodesWhitelist", kept, []any{w.nodeA1})
	if got := names(w.nodeA1); !slices.Equal(got, []string{"alpha_kept", "alpha_old"}) {
		t.Errorf("after the whitelist ends the node runs %v", got)
	}
	if got := records(t, w.must(w.admin, "GetWhitelist")); len(got) != 0 {
		t.Errorf("GetWhitelist after the last whitelisted slice went: %v", got)
	}
	w.must(w.piA, "AddSliceToNodes", other, []any{w.nodeA1})
}

// whitelistMethods are whitelist.go's, for TestMethodTable.
var whitelistMethods = []string{"GetWhitelist", "AddSliceToNodesWhitelist", "DeleteSliceFromNodesWhitelist"}

// pythonWhitelistCalls calls whitelist.go's methods from Python within
// TestXMLRPCPython.
const pythonWhitelistCalls = `
# Node whitelists (whitelist_test.go).
wl = call("AddSlice", admin, {"name": "plc_wl"})
check(call("AddSliceToNodesWhitelist", admin, wl, [node_id]), 1, "AddSliceToNodesWhitelist")
check(call("GetNodes", admin, node_id, ["slice_ids_whitelist"]), [{"slice_ids_whitelist": [wl]}], "slice_ids_whitelist")
check([n["node_id"] for n in call("GetWhitelist", anon)], [node_id], "GetWhitelist")
check(call("DeleteSliceFromNodesWhitelist", admin, wl, [node_id]), 1, "DeleteSliceFromNodesWhitelist")
check(call("GetWhitelist", admin), [], "GetWhitelist empty")
call("DeleteSlice", admin, wl)
`
