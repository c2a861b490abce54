package central_test

import (
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestLeasesReachNode: on a reservable node, the sliver of a slice runs
// only while the slice holds a lease there, and the node's resource
// manager follows each AddLeases and DeleteLeases within seconds.
func TestLeasesReachNode(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	tc := startCentral(t)
	site := tc.call(t, "AddSite", map[string]any{"name": "Test", "abbreviated_name": "T", "login_base": "ts", "max_slices": 5, "enabled": true})
	id := tc.call(t, "AddNode", site, map[string]any{"hostname": "r.orbis.test", "node_type": "reservable"})
	n := startNode(t, tc, "r.orbis.test", tc.call(t, "AddNodeToken", id).(string))
	for _, name := range []string{"ts_a", "ts_b"} {
		tc.call(t, "AddSlice", map[string]any{"name": name, "url": "http://t", "description": "lease test"})
		tc.call(t, "AddSliceToNodes", name, []any{"r.orbis.test"})
	}
	state := func(slice string) string {
		s, ok := n.RT.Sliver(slice)
		if !ok {
			return "absent"
		}
		return string(s.State)
	}
	expect := func(what string, a, b string) {
		t.Helper()
		waitFor(t, what, 5*time.Second, func() bool { return state("ts_a") == a && state("ts_b") == b })
	}
	expect("both slivers made and stopped (no lease)", "stopped", "stopped")

	// A lease covering now, for at least an hour whatever the minute.
	now := time.Now().Unix()
	r := tc.call(t, "AddLeases", []any{"r.orbis.test"}, "ts_a", now, now+7200).(map[string]any)
	ids := r["new_ids"].([]any)
	if len(ids) != 1 {
		t.Fatalf("AddLeases: %v", r)
	}
	expect("a running in its lease, b stopped", "running", "stopped")

	tc.call(t, "DeleteLeases", ids)
	tc.call(t, "AddLeases", []any{"r.orbis.test"}, "ts_b", now, now+7200)
	expect("b running in its lease, a stopped with its files kept", "stopped", "running")
}
