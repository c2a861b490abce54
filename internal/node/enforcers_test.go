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

// TestRspecEnforcersReact: each enforcer that is a function of the rspec
// gives another answer when the resource it enforces is set, so the
// registry does not name a function that ignores it.
func TestRspecEnforcersReact(t *testing.T) {
	rspecType := reflect.TypeFor[api.Rspec]()
	checked := 0
	for _, r := range api.Resources {
		fn := reflect.ValueOf(enforcers[r.Enforcer].fn)
		if fn.Kind() != reflect.Func || fn.Type().NumIn() == 0 || fn.Type().In(0) != rspecType || !r.IsNumber() {
			continue
		}
		var base api.Rspec
		if r.Requires != "" {
			req := api.ResourceByName(r.Requires)
			req.Set(&base, halfway(req))
		}
		set := base
		r.Set(&set, halfway(&r))
		if reflect.DeepEqual(call(fn, base), call(fn, set)) {
			t.Errorf("resource %s: its enforcer %s ignores it", r.Name, runtime.FuncForPC(fn.Pointer()).Name())
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no enforcer is a function of the rspec: the test checks nothing")
	}
}

// halfway is a value of r well inside its bounds: half its Max, 1 for a
// flag.
func halfway(r *api.Resource) int64 { return max(1, r.Min, r.Max/2) }

// call calls fn with rs and, for its other arguments, 2 for an int and
// zero for anything else.
func call(fn reflect.Value, rs api.Rspec) []any {
	in := []reflect.Value{reflect.ValueOf(rs)}
	for i := 1; i < fn.Type().NumIn(); i++ {
		v := reflect.New(fn.Type().In(i)).Elem()
		if v.Kind() == reflect.Int {
			v.SetInt(2)
		}
		in = append(in, v)
	}
	var out []any
	for _, v := range fn.Call(in) {
		out = append(out, v.Interface())
	}
	return out
}
