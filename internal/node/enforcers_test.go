package node

import (
	"reflect"
	"runtime"
	"strings"
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

// TestEnforcersAreReal: every registered enforcer is a function of an
// Orbis component, not nil and not a stand-in written into the registry.
func TestEnforcersAreReal(t *testing.T) {
	for e, how := range enforcers {
		v := reflect.ValueOf(how.fn)
		if v.Kind() != reflect.Func || v.IsNil() {
			t.Errorf("enforcer %q: %T is not a function", e, how.fn)
			continue
		}
		name := runtime.FuncForPC(v.Pointer()).Name()
		if !strings.HasPrefix(name, "github.com/orbisproject/orbis/internal/") || strings.Contains(name, ".func") {
			t.Errorf("enforcer %q: %s is not a component's function", e, name)
		}
		if how.how == "" {
			t.Errorf("enforcer %q (%s) does not say what it does", e, name)
		}
	}
}
