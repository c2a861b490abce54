package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestNodeTagsAttack: a PI or tech tags their site's nodes with the tag
// types their role may set; a PI of another site cannot tag, retag or
// untag them, a user cannot tag at all, and a PI cannot set a tag type
// that is for admins (deployment, hrn). Node groups follow the tags.
func TestNodeTagsAttack(t *testing.T) {
	w := newWorld(t)
	arch := w.id(w.techA, "AddNodeTag", w.nodeA1, "arch", "x86_64")
	w.id(w.piA, "AddNodeTag", w.nodeA2, "arch", "x86_64")
	g := w.id(w.admin, "AddNodeGroup", "x86", "arch", "x86_64")
	_, err := w.call(w.piA, "AddNodeGroup", "mine", "arch", "x86_64")
	fault(t, err, plc.FaultAuth)

	for _, call := range [][]any{
		{"AddNodeTag", w.nodeA1, "pldistro", "evil"},
		{"UpdateNodeTag", arch, "evil"},
		{"DeleteNodeTag", arch},
	} {
		_, err := w.call(w.piB, call[0].(string), call[1:]...)
		fault(t, err, plc.FaultPermission) // another site's node
		_, err = w.call(w.userA, call[0].(string), call[1:]...)
		fault(t, err, plc.FaultAuth) // a user's role may not call it
	}
	for _, name := range []string{"deployment", "hrn", "hardware_type"} {
		_, err := w.call(w.piA, "AddNodeTag", w.nodeA1, name, "evil")
		fault(t, err, plc.FaultPermission) // admins' tag types
	}
	_, err = w.call(w.admin, "AddNodeTag", w.nodeA1, "arch", "aarch64")
	fault(t, err, plc.FaultInvalidArg) // one tag of a type a node

	tags := records(t, w.must(w.userB, "GetNodeTags", map[string]any{"node_id": w.nodeA1}))
	if len(tags) != 1 || tags[0]["value"] != "x86_64" || tags[0]["tagname"] != "arch" || tags[0]["hostname"] != "n1.alpha.org" {
		t.Fatalf("node A1's tags after the attacks: %v", tags)
	}
	ng := records(t, w.must(w.userB, "GetNodeGroups", g))[0]
	if ids := ng["node_ids"].([]any); len(ids) != 2 {
		t.Fatalf("node group x86: %v", ng)
	}
	w.must(w.techA, "UpdateNodeTag", arch, "aarch64")
	if ids := records(t, w.must(w.userB, "GetNodeGroups", g))[0]["node_ids"].([]any); len(ids) != 1 || ids[0] != w.nodeA2 {
		t.Fatalf("node group x86 after retagging A1: %v", ids)
	}
	w.id(w.admin, "AddNodeTag", w.nodeA1, "deployment", "beta")
}
