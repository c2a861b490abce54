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

// TestNodeTagFields: node tags are fields of nodes, as PLCAPI's accessor
// tags are: AddNode and UpdateNode set them with AddNodeTag's rights (a
// PI cannot slip an admin's tag in through UpdateNode, nor tag another
// site's node), and GetNodes returns them.
func TestNodeTagFields(t *testing.T) {
	w := newWorld(t)
	n := w.id(w.piA, "AddNode", w.siteA, map[string]any{"hostname": "n3.alpha.org", "arch": "x86_64"})
	w.must(w.techA, "UpdateNode", n, map[string]any{"pldistro": "orbis", "arch": "aarch64"})
	_, err := w.call(w.piA, "UpdateNode", n, map[string]any{"model": "evil", "deployment": "production"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.piB, "UpdateNode", n, map[string]any{"arch": "evil"})
	fault(t, err, plc.FaultPermission)
	got := records(t, w.must(w.userB, "GetNodes", []any{n, w.nodeA1}, []any{"hostname", "arch", "pldistro", "deployment"}))
	want := map[string]any{"hostname": "n3.alpha.org", "arch": "aarch64", "pldistro": "orbis", "deployment": nil}
	if len(got) != 2 || !sameRecord(got[1], want) || got[0]["arch"] != nil || got[0]["node_id"] != nil {
		t.Fatalf("GetNodes with tag fields: %v, want second %v", got, want)
	}
	if m := records(t, w.must(w.userB, "GetNodes", n))[0]; m["model"] == "evil" || m["arch"] != "aarch64" {
		t.Fatalf("the node after a refused update: %v", m)
	}
}

func sameRecord(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if x, ok := a[k]; !ok || x != v {
			return false
		}
	}
	return true
}
