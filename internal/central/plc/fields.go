package plc

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// fieldSet reads the fields struct of an Add* or Update* call. Every
// getter leaves its destination alone when the field is absent, and the
// first wrong type is kept in err, a fault 102 naming the field.
type fieldSet struct {
	what string // the argument, e.g. "site_fields"
	m    map[string]any
	err  error
}

// structArg returns args[i] as a fields struct.
func structArg(args []any, i int, what string) (*fieldSet, error) {
	if i >= len(args) {
		return nil, Faultf(FaultArgCount, "missing argument %s", what)
	}
	m, ok := args[i].(map[string]any)
	if !ok {
		return nil, badArg(what, "a struct", args[i])
	}
	return &fieldSet{what: what, m: m}, nil
}

// only refuses a field not in allowed; the fault lists what is allowed.
func (f *fieldSet) only(allowed ...string) error {
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var bad []string
	for k := range f.m {
		if !ok[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	names := slices.Sorted(maps.Keys(ok))
	return Faultf(FaultInvalidArg, "%s: field %q cannot be set here (allowed: %s)", f.what, bad[0], strings.Join(names, ", "))
}

// has reports whether the field is present.
func (f *fieldSet) has(name string) bool {
	_, ok := f.m[name]
	return ok
}

// require fails unless every name is present.
func (f *fieldSet) require(names ...string) error {
	for _, n := range names {
		if !f.has(n) {
			return Faultf(FaultInvalidArg, "%s: field %q is required", f.what, n)
		}
	}
	return nil
}

func (f *fieldSet) fail(name, want string, v any) {
	if f.err == nil {
		f.err = badArg(fmt.Sprintf("%s.%s", f.what, name), want, v)
	}
}

// str reads a string field; nil reads as "".
func (f *fieldSet) str(name string, dst *string) {
	v, ok := f.m[name]
	if !ok {
		return
	}
	switch x := v.(type) {
	case string:
		*dst = x
	case nil:
		*dst = ""
	default:
		f.fail(name, "a string", v)
	}
}

// int reads an integer field.
func (f *fieldSet) int(name string, dst *int64) {
	v, ok := f.m[name]
	if !ok {
		return
	}
	if n, ok := AsInt(v); ok {
		*dst = n
		return
	}
	f.fail(name, "an int", v)
}

// bool reads a boolean field.
func (f *fieldSet) bool(name string, dst *bool) {
	v, ok := f.m[name]
	if !ok {
		return
	}
	if b, ok := asBool(v); ok {
		*dst = b
		return
	}
	f.fail(name, "a boolean", v)
}

// float reads a nullable float field.
func (f *fieldSet) float(name string, dst **float64) {
	v, ok := f.m[name]
	if !ok {
		return
	}
	if v == nil {
		*dst = nil
		return
	}
	if x, ok := asFloat(v); ok {
		*dst = &x
		return
	}
	f.fail(name, "a double", v)
}

// optInt reads a nullable integer field: None reads as nil.
func (f *fieldSet) optInt(name string, dst **int64) {
	v, ok := f.m[name]
	if !ok {
		return
	}
	if v == nil {
		*dst = nil
		return
	}
	if n, ok := AsInt(v); ok {
		*dst = &n
		return
	}
	f.fail(name, "an int or None", v)
}
