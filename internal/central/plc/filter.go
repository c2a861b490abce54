package plc

import (
	"fmt"
	"reflect"
	"slices"
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
	// consts are fields whose value is the same for every record, such
	// as PLCAPI's peer_id (None: Orbis keeps no foreign records).
	consts map[string]any
}

// withConsts adds fields whose value is v for every record.
func (k *recordKind) withConsts(v any, names ...string) *recordKind {
	if k.consts == nil {
		k.consts = map[string]any{}
	}
	for _, n := range names {
		k.consts[n] = v
	}
	return k
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
	case reflect.Pointer:
		return typeOf(t.Elem()) // nullable
	case reflect.Float64:
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
	siteKind   = newKind("site", api.Site{}, "site_id", "login_base").withConsts(nil, "peer_id", "peer_site_id")
	personKind = newKind("person", api.Person{}, "person_id", "email").withConsts(nil, "peer_id", "peer_person_id")
	keyKind    = newKind("key", api.Key{}, "key_id", "").withConsts(nil, "peer_id", "peer_key_id")
	nodeKind   = newKind("node", api.Node{}, "node_id", "hostname").withConsts(nil, "peer_id", "peer_node_id")
	sliceKind  = newKind("slice", api.Slice{}, "slice_id", "name").withConsts(nil, "peer_id", "peer_slice_id")
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

// filterOps maps a struct filter key's modifiers that name an operator
// to it: '~' negates, the others compare.
var filterOps = map[byte]store.Op{'~': store.Ne, '<': store.Lt, '>': store.Gt, '[': store.Le, ']': store.Ge}

// structFilter parses a struct filter. Keys are sorted first so that the
// fault for a bad filter does not depend on map order. Its conditions
// must all hold, or with "-OR" any of them ("-AND", the default, and
// "-OR" take any value, as in PLCAPI).
func structFilter(k *recordKind, m map[string]any) (store.Query, error) {
	var q store.Query
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var conds []store.Cond
	for _, key := range keys {
		if strings.HasPrefix(key, "-") {
			if err := addSpecialKey(k, &q, key, m[key]); err != nil {
				return q, err
			}
			continue
		}
		c, err := keyCond(k, key, m[key])
		if err != nil {
			return q, err
		}
		conds = append(conds, c)
	}
	if _, or := m["-OR"]; or {
		conds = []store.Cond{{Group: &store.Group{Or: true, Conds: conds}}}
	}
	q.Conds = conds
	return q, nil
}

// addSpecialKey reads a key starting with '-': -SORT, -OFFSET, -LIMIT,
// -AND or -OR.
func addSpecialKey(k *recordKind, q *store.Query, key string, v any) error {
	switch key {
	case "-AND", "-OR":
		return nil
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
	return Faultf(FaultInvalidArg, "filter: unknown key %q (the keys starting with '-' are -SORT, -OFFSET, -LIMIT, -AND and -OR)", key)
}

// keyModifiers are the modifiers a struct filter key may start with, as
// PLCAPI reads them: '~' negates, '<' '>' '[' ']' compare, '&' and '|'
// ask that a list field hold all or any of the values.
type keyModifiers struct {
	not bool
	cmp store.Op // store.Eq when there is no comparison
	set byte     // '&', '|' or 0
}

// splitKey reads the modifiers off a struct filter key.
func splitKey(key string) (keyModifiers, string, error) {
	mods := keyModifiers{cmp: store.Eq}
	for len(key) > 1 {
		switch c := key[0]; {
		case c == '~' && !mods.not:
			mods.not = true
		case c != '~' && filterOps[c] != store.Eq && mods.cmp == store.Eq:
			mods.cmp = filterOps[c]
		case (c == '&' || c == '|') && mods.set == 0:
			mods.set = c
		default:
			if strings.ContainsRune("~<>[]&|", rune(c)) {
				return mods, "", Faultf(FaultInvalidArg, "filter: key %q repeats or mixes modifiers", key)
			}
			return mods, key, mods.check()
		}
		key = key[1:]
	}
	return mods, key, mods.check()
}

func (m keyModifiers) check() error {
	if m.set != 0 && m.cmp != store.Eq {
		return Faultf(FaultInvalidArg, "filter: & and | do not go with < > [ ]")
	}
	return nil
}

// keyCond turns one struct filter key and its value into a condition.
func keyCond(k *recordKind, key string, v any) (store.Cond, error) {
	mods, field, err := splitKey(key)
	if err != nil {
		return store.Cond{}, err
	}
	if cv, ok := k.consts[field]; ok {
		return constCond(mods, cv, v), nil
	}
	ft, ok := k.fields[field]
	if !ok {
		return store.Cond{}, Faultf(FaultInvalidArg, "filter: a %s has no field %q (fields: %s)", k.name, field, strings.Join(k.fieldNames(), ", "))
	}
	var c store.Cond
	switch {
	case mods.set != 0:
		c, err = setCond(ft, mods.set, field, v)
	case hasNil(v):
		c, err = nilCond(ft, mods.cmp, field, v)
	default:
		op := mods.cmp
		if mods.not && op == store.Eq {
			op, mods.not = store.Ne, false
		}
		c, err = filterCond(ft, op, field, v)
	}
	if err != nil || !mods.not {
		return c, err
	}
	return store.Cond{Group: &store.Group{Not: true, Conds: []store.Cond{c}}}, nil
}

// setCond reads "&field" (holds every value) and "|field" (holds one of
// them). A single value is a list of one; an empty list selects the
// records whose list field is empty. On a scalar field, | is "is one of"
// and & "is every one of".
func setCond(ft fieldType, set byte, field string, v any) (store.Cond, error) {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	isList := ft == ftIntList || ft == ftStringList
	if len(list) == 0 {
		if !isList {
			return store.Cond{}, Faultf(FaultInvalidArg, "filter: %c%s: an empty list only applies to a list field", set, field)
		}
		return store.Cond{Field: field, Op: store.Empty}, nil
	}
	if set == '|' {
		return filterCond(ft, store.Eq, field, list)
	}
	g := &store.Group{}
	for _, x := range list {
		c, err := filterCond(ft, store.Eq, field, x)
		if err != nil {
			return c, err
		}
		g.Conds = append(g.Conds, c)
	}
	return store.Cond{Group: g}, nil
}

// hasNil reports whether v is None or a list holding None.
func hasNil(v any) bool {
	if v == nil {
		return true
	}
	list, _ := v.([]any)
	return slices.Contains(list, nil)
}

// nilCond reads a value that is None, or a list holding None: "is null",
// or "is null or is one of the others".
func nilCond(ft fieldType, op store.Op, field string, v any) (store.Cond, error) {
	if op != store.Eq || ft == ftIntList || ft == ftStringList {
		return store.Cond{}, Faultf(FaultInvalidArg, "filter: %s: None only goes with = or ~ on a single-valued field", field)
	}
	isNull := store.Cond{Field: field, Op: store.Eq}
	rest := slices.DeleteFunc(slices.Clone(asList(v)), func(x any) bool { return x == nil })
	if len(rest) == 0 {
		return isNull, nil
	}
	in, err := filterCond(ft, store.Eq, field, rest)
	if err != nil {
		return in, err
	}
	return store.Cond{Group: &store.Group{Or: true, Conds: []store.Cond{isNull, in}}}, nil
}

// asList returns v as a list: itself, or a list of one.
func asList(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

// constCond decides a condition on a field whose value is the same for
// every record (peer_id, None for every local record): it holds for all
// records or for none.
func constCond(mods keyModifiers, have, v any) store.Cond {
	match := false
	if mods.cmp == store.Eq {
		list := asList(v)
		if mods.set == '&' {
			match = len(list) > 0
		}
		for _, x := range list {
			eq := x == have
			if mods.set == '&' {
				match = match && eq
			} else if eq {
				match = true
			}
		}
	}
	if match != mods.not {
		return store.Cond{Group: &store.Group{}} // always true
	}
	return store.Cond{Group: &store.Group{Or: true}} // never true
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
		if _, ok := k.consts[name]; ok {
			continue // the same for every record: no order
		}
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
	names := make([]string, 0, len(k.fields)+len(k.consts))
	for n := range k.fields {
		names = append(names, n)
	}
	for n := range k.consts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// has reports whether a record of kind k has the field name.
func (k *recordKind) has(name string) bool {
	_, field := k.fields[name]
	_, fixed := k.consts[name]
	return field || fixed
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
		if !k.has(s) {
			return nil, Faultf(FaultInvalidArg, "return_fields: a %s has no field %q (fields: %s)", k.name, s, strings.Join(k.fieldNames(), ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// project returns records of kind k (a slice of structs) as generic
// structs with only the fields named (all if fields is nil).
func project[T any](k *recordKind, records []T, fields []string) []any {
	out := make([]any, len(records))
	for i := range records {
		m := genericStruct(reflect.ValueOf(records[i]))
		for n, v := range k.consts {
			m[n] = v
		}
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
