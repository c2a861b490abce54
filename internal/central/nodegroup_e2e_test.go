package central_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestNodeGroupTagReachesNode: a slice tag on a node group changes what
// the real node manager of a node in the group enforces, and only there:
// a node outside keeps the slice-wide value until it joins the group.
func TestNodeGroupTagReachesNode(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	tc := startCentral(t)
	site := tc.call(t, "AddSite", map[string]any{"name": "Group", "abbreviated_name": "G", "login_base": "tg", "max_slices": 5, "enabled": true})
	var nodes []*testNode
	for i := range 2 {
		host := fmt.Sprintf("g%d.orbis.test", i)
		id := tc.call(t, "AddNode", site, map[string]any{"hostname": host})
		token := tc.call(t, "AddNodeToken", id).(string)
		nodes = append(nodes, startNode(t, tc, host, token))
	}
	tc.call(t, "AddNodeTag", "g0.orbis.test", "arch", "i386")
	tc.call(t, "AddNodeGroup", "old nodes", "arch", "i386")
	tc.call(t, "AddSlice", map[string]any{"name": "tg_grp", "url": "http://t", "description": "group tags"})
	tc.call(t, "AddSliceTag", "tg_grp", "cpu_share", "2")
	tc.call(t, "AddSliceTag", "tg_grp", "cpu_share", "7", nil, "old nodes")
	tc.call(t, "AddSliceToNodes", "tg_grp", []any{"g0.orbis.test", "g1.orbis.test"})
	shares := func(n *testNode) int64 {
		s, _ := n.RT.Sliver("tg_grp")
		return s.Spec.Rspec.CPUShares
	}
	waitFor(t, "g0 (in the group) to run the group's cpu_share", 5*time.Second, func() bool { return shares(nodes[0]) == 7 })
	waitFor(t, "g1 (outside) to run the slice's cpu_share", 5*time.Second, func() bool { return shares(nodes[1]) == 2 })
	tc.call(t, "AddNodeTag", "g1.orbis.test", "arch", "i386")
	waitFor(t, "g1 to run the group's cpu_share once in it", 5*time.Second, func() bool { return shares(nodes[1]) == 7 })
	if got := shares(nodes[0]); got != 7 {
		t.Errorf("g0's cpu_share changed to %d", got)
	}
}
