package plc

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// fieldType is the type of a record field, for checking filter values.
type fieldType int

const (
	ftInt fieldType = iota
	ftString
	ftBool
	ftFloat
	ftIntList
	ftStringList
)

// recordKind describes one kind of record: its fields (the json names of
// its Go type), and which field an id or a name in a filter means.
type recordKind struct {
	name      string // for messages: "site"
	idField   string // "site_id"
	nameField string // "login_base"; "" if a name cannot select it
	fields    map[string]fieldType
}

func newKind(name string, rec any, idField, nameField string) *recordKind {
	k := &recordKind{name: name, idField: idField, nameField: nameField, fields: map[string]fieldType{}}
	t := reflect.TypeOf(rec)
	for i := range t.NumField() {
		f := t.Field(i)
		n, _, ok := jsonName(f)
		if !ok {
			continue
		}
		k.fields[n] = typeOf(f.Type)
	}
	return k
}

func typeOf(t reflect.Type) fieldType {
	switch t.Kind() {
	case reflect.Int64, reflect.Int:
		return ftInt
	case reflect.Bool:
		return ftBool
	case reflect.Pointer, reflect.Float64:
		return ftFloat
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return ftStringList
		}
		return ftIntList
	}
	return ftString
}

// The kinds of record the Get* methods return.
var (
	siteKind   = newKind("site", api.Site{}, "site_id", "login_base")
	personKind = newKind("person", api.Person{}, "person_id", "email")
	keyKind    = newKind("key", api.Key{}, "key_id", "")
	nodeKind   = newKind("node", api.Node{}, "node_id", "hostname")
	sliceKind  = newKind("slice", api.Slice{}, "slice_id", "name")
	tagKind    = newKind("slice tag", api.SliceTag{}, "slice_tag_id", "tagname")
	leaseKind  = newKind("lease", api.Lease{}, "lease_id", "")
	eventKind  = newKind("event", store.Event{}, "event_id", "")
	reportKind = newKind("sliver report", store.SliverReportRow{}, "node_id", "name")
)

// parseFilter turns a PLCAPI filter into queries whose results, merged,
// are the records it selects: nil selects all; an id, a name, or a list of
// ids and names select those (two queries when the list mixes both; none
// when it is empty); a struct holds conditions (see the package doc).
func parseFilter(k *recordKind, v any) ([]store.Query, error) {
	if v == nil {
		return []store.Query{{}}, nil
	}
	if id, ok := AsInt(v); ok {
		return []store.Query{condQuery(k.idField, id)}, nil
	}
	switch x := v.(type) {
	case string:
		if k.nameField == "" {
			return nil, Faultf(FaultInvalidArg, "filter: a %s cannot be selected by name, only by id", k.name)
		}
		return []store.Query{condQuery(k.nameField, x)}, nil
	case []any:
		return listFilter(k, x)
	case map[string]any:
		q, err := structFilter(k, x)
		return []store.Query{q}, err
	}
	return nil, badArg("filter", "an id, a name, a list or a struct", v)
}

func condQuery(field string, v any) store.Query {
	return store.Query{Conds: []store.Cond{{Field: field, Op: store.Eq, Value: v}}}
}

// listFilter splits a list of ids and names into one query each.
func listFilter(k *recordKind, list []any) ([]store.Query, error) {
	var ids, names []any
	for i, v := range list {
		if id, ok := AsInt(v); ok {
			ids = append(ids, id)
			continue
		}
		s, ok := v.(string)
		if !ok || k.nameField == "" {
			want := "an id or a name"
			if k.nameField == "" {
				want = "an id"
			}
			return nil, badArg(fmt.Sprintf("filter[%d]", i), want, v)
		}
		names = append(names, s)
	}
	var qs []store.Query
	if len(ids) > 0 {
		qs = append(qs, condQuery(k.idField, ids))
	}
	if len(names) > 0 {
		qs = append(qs, condQuery(k.nameField, names))
	}
	return qs, nil
}

// filterOps maps a struct filter key's first character to its operator.
var filterOps = map[byte]store.Op{'~': store.Ne, '<': store.Lt, '>': store.Gt, '[': store.Le, ']': store.Ge}

// structFilter parses a struct filter. Keys are sorted first so that the
// fault for a bad filter does not depend on map order.
func structFilter(k *recordKind, m map[string]any) (store.Query, error) {
	var q store.Query
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		if err := addFilterKey(k, &q, key, m[key]); err != nil {
			return q, err
		}
	}
	return q, nil
}

func addFilterKey(k *recordKind, q *store.Query, key string, v any) error {
	switch key {
	case "-SORT":
		return parseSort(k, q, v)
	case "-OFFSET", "-LIMIT":
		n, ok := AsInt(v)
		if !ok || n < 0 {
			return Faultf(FaultInvalidArg, "filter: %s wants an int >= 0", key)
		}
		if key == "-OFFSET" {
			q.Offset = int(n)
		} else {
			q.Limit = int(n)
		}
		return nil
	}
	op, field := store.Eq, key
	if o, ok := filterOps[key[0]]; ok && len(key) > 1 {
		op, field = o, key[1:]
	}
	ft, ok := k.fields[field]
	if !ok {
		return Faultf(FaultInvalidArg, "filter: a %s has no field %q (fields: %s)", k.name, field, strings.Join(k.fieldNames(), ", "))
	}
	c, err := filterCond(ft, op, field, v)
	if err != nil {
		return err
	}
	q.Conds = append(q.Conds, c)
	return nil
}

// filterCond checks v against the field's type and builds the condition:
// a list means IN (or NOT IN), a string with * or % a pattern.
func filterCond(ft fieldType, op store.Op, field string, v any) (store.Cond, error) {
	c := store.Cond{Field: field, Op: op}
	if list, ok := v.([]any); ok {
		if op != store.Eq && op != store.Ne {
			return c, Faultf(FaultInvalidArg, "filter: %s: a list of values only goes with = or ~", field)
		}
		vals := make([]any, len(list))
		for i, x := range list {
			val, err := filterValue(ft, field, x)
			if err != nil {
				return c, err
			}
			vals[i] = val
		}
		c.Value = vals
		return c, nil
	}
	val, err := filterValue(ft, field, v)
	if err != nil {
		return c, err
	}
	if ft == ftIntList || ft == ftStringList {
		if op != store.Eq {
			return c, Faultf(FaultInvalidArg, "filter: %s is a list: only \"contains\" (no prefix) applies", field)
		}
	}
	if s, ok := val.(string); ok && strings.ContainsAny(s, "*%") {
		switch op {
		case store.Eq:
			c.Op = store.Like
		case store.Ne:
			c.Op = store.NotLike
		}
	}
	c.Value = val
	return c, nil
}

// filterValue checks one value against the field's (element) type.
func filterValue(ft fieldType, field string, v any) (any, error) {
	what := "filter: " + field
	switch ft {
	case ftInt, ftIntList:
		if n, ok := AsInt(v); ok {
			return n, nil
		}
		return nil, badArg(what, "an int", v)
	case ftBool:
		if b, ok := asBool(v); ok {
			return b, nil
		}
		return nil, badArg(what, "a boolean", v)
	case ftFloat:
		if x, ok := asFloat(v); ok {
			return x, nil
		}
		return nil, badArg(what, "a double", v)
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	return nil, badArg(what, "a string", v)
}

// parseSort reads -SORT: a field name or a list of them, each with an
// optional leading '-' (descending) or '+'.
func parseSort(k *recordKind, q *store.Query, v any) error {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return badArg("filter: -SORT", "a field name", x)
		}
		desc := strings.HasPrefix(s, "-")
		name := strings.TrimLeft(s, "+-")
		if _, ok := k.fields[name]; !ok {
			return Faultf(FaultInvalidArg, "filter: -SORT: a %s has no field %q", k.name, name)
		}
		if desc {
			name = "-" + name
		}
		q.Sort = append(q.Sort, name)
	}
	return nil
}

func (k *recordKind) fieldNames() []string {
	names := make([]string, 0, len(k.fields))
	for n := range k.fields {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// parseReturnFields reads the optional return_fields argument: nil means
// every field.
func parseReturnFields(k *recordKind, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, badArg("return_fields", "a list of field names", v)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, badArg("return_fields", "a list of field names", x)
		}
		if _, ok := k.fields[s]; !ok {
			return nil, Faultf(FaultInvalidArg, "return_fields: a %s has no field %q (fields: %s)", k.name, s, strings.Join(k.fieldNames(), ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// project returns records (a slice of structs) as generic structs with
// only the fields named (all if fields is nil).
func project[T any](records []T, fields []string) []any {
	out := make([]any, len(records))
	for i := range records {
		m := genericStruct(reflect.ValueOf(records[i]))
		if fields != nil {
			keep := make(map[string]any, len(fields))
			for _, f := range fields {
				keep[f] = m[f]
			}
			m = keep
		}
		out[i] = m
	}
	return out
}

// withCond returns copies of qs with c added to each.
func withCond(qs []store.Query, c store.Cond) []store.Query {
	out := make([]store.Query, len(qs))
	for i, q := range qs {
		q.Conds = append(append([]store.Cond(nil), q.Conds...), c)
		out[i] = q
	}
	return out
}

// runQueries runs each query and merges the results, dropping records
// found twice (the two halves of a mixed id-and-name list).
func runQueries[T any](qs []store.Query, run func(store.Query) ([]T, error), id func(*T) any) ([]T, error) {
	if len(qs) == 1 {
		return run(qs[0])
	}
	var out []T
	seen := map[any]bool{}
	for _, q := range qs {
		recs, err := run(q)
		if err != nil {
			return nil, err
		}
		for i := range recs {
			if k := id(&recs[i]); !seen[k] {
				seen[k] = true
				out = append(out, recs[i])
			}
		}
	}
	return out, nil
}
