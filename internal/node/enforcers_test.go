package node

import (
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestEveryEnforcerRegistered: every field of the resource table has an
// enforcer this node registers, and the node registers no enforcer the
// table does not name (one that enforces nothing a request can set).
func TestEveryEnforcerRegistered(t *testing.T) {
	used := map[api.Enforcer]bool{}
	for _, r := range api.Resources {
		used[r.Enforcer] = true
		if _, ok := enforcers[r.Enforcer]; !ok {
			t.Errorf("resource %s: its enforcer %q is not registered by the node: it would be accepted and enforced by nothing", r.Name, r.Enforcer)
		}
	}
	for _, tag := range api.AttributeTags {
		used[tag.Enforcer] = true
		if _, ok := enforcers[tag.Enforcer]; !ok {
			t.Errorf("slice tag %s: its enforcer %q is not registered by the node", tag.Name, tag.Enforcer)
		}
	}
	for e := range enforcers {
		if !used[e] {
			t.Errorf("the node registers enforcer %q, which no resource or tag of the table names", e)
		}
	}
}
