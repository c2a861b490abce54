package plc

import (
	"context"
	"maps"
	"slices"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Tag names are fields of the objects they go on, as PLCAPI exposes its
// accessor tags: GetNodes({}, ['hostname', 'arch']) returns each node's
// arch tag (None when it has none), and AddNode and UpdateNode take
// {'arch': 'x86_64'} and set the tag, with AddNodeTag's rights.

// objectTags are the names of the accessor tags of object ("node").
func objectTags(object string) []string {
	var out []string
	for _, a := range api.AccessorTags {
		if slices.Contains(a.Objects, object) {
			out = append(out, a.Name)
		}
	}
	return out
}

// splitTagFields takes the accessor tags of object out of a fields
// struct: their values (strings) come back, and f keeps the rest.
func splitTagFields(f *fieldSet, object string) (map[string]string, error) {
	tags := map[string]string{}
	for _, name := range objectTags(object) {
		v, ok := f.m[name]
		if !ok {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, badArg(f.what+"."+name, "a string", v)
		}
		tags[name] = s
		delete(f.m, name)
	}
	return tags, nil
}

// taggedGetter is a Get method whose records' accessor tags (of object,
// joined on idField) are filter keys and return fields besides k's own.
func taggedGetter[T any](s *Service, ctx context.Context, c *Caller, args []any, k *recordKind, object, idField string,
	list func(t *txn, q store.Query) ([]T, error), id func(*T) any) (any, error) {
	args, tags, dropID := splitReturnFields(args, object, idField)
	args, filter := splitTagFilter(args, object)
	recs, err := getter(s, ctx, c, args, k, list, id,
		func(t *txn) (restriction, error) { return t.tagRestriction(object, idField, filter) })
	if err != nil {
		return nil, err
	}
	return s.addTagFields(ctx, c, recs, object, idField, tags, dropID)
}

// splitReturnFields takes the accessor tags of object out of a Get call's
// return_fields (args[1]): it returns the args to pass on, the tags asked
// for (every one of object's when return_fields is absent), and whether
// idField was added to the fields (to be dropped from the answer).
func splitReturnFields(args []any, object, idField string) ([]any, []string, bool) {
	fields, ok := optArg(args, 1).([]any)
	if !ok {
		return args, objectTags(object), false
	}
	var rest []any
	var tags []string
	for _, f := range fields {
		if name, ok := f.(string); ok && slices.Contains(objectTags(object), name) {
			tags = append(tags, name)
			continue
		}
		rest = append(rest, f)
	}
	if len(tags) == 0 {
		return args, nil, false
	}
	added := !slices.Contains(rest, any(idField))
	if added {
		rest = append(rest, idField)
	}
	out := slices.Clone(args)
	out[1] = rest
	return out, tags, added
}

// addTagFields adds to each record of a Get answer (recs, projected) the
// value of each tag asked for, or nil, and drops idField if it was only
// added to join them.
func (s *Service) addTagFields(ctx context.Context, c *Caller, recs any, object, idField string, tags []string, dropID bool) (any, error) {
	list, _ := recs.([]any)
	if len(tags) == 0 || len(list) == 0 {
		return recs, nil
	}
	var ids []any
	for _, r := range list {
		ids = append(ids, r.(map[string]any)[idField])
	}
	var values map[int64]map[string]string
	err := s.view(ctx, c, func(t *txn) error {
		var err error
		values, err = t.tagValues(object, ids, tags)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		m := r.(map[string]any)
		id, _ := m[idField].(int64)
		for _, name := range tags {
			if v, ok := values[id][name]; ok {
				m[name] = v
			} else {
				m[name] = nil
			}
		}
		if dropID {
			delete(m, idField)
		}
	}
	return list, nil
}

// tagValues reads the tags names of the objects ids (a slice's tags on
// every node): id, then name, to value.
func (t *txn) tagValues(object string, ids []any, names []string) (map[int64]map[string]string, error) {
	values := map[int64]map[string]string{}
	rows, err := t.tagRows(object, store.Cond{Field: object + "_id", Op: store.Eq, Value: ids},
		store.Cond{Field: "tagname", Op: store.Eq, Value: stringsAny(names)})
	for _, r := range rows {
		if values[r.objID] == nil {
			values[r.objID] = map[string]string{}
		}
		values[r.objID][r.name] = r.value
	}
	return values, err
}

// splitTagFilter takes the accessor tags of object out of a struct filter
// (args[0]): it returns the args to pass on and the values asked for each
// tag (one, or any of a list).
func splitTagFilter(args []any, object string) ([]any, map[string][]any) {
	f, ok := optArg(args, 0).(map[string]any)
	if !ok {
		return args, nil
	}
	var rest map[string]any
	tags := map[string][]any{}
	for _, name := range objectTags(object) {
		v, ok := f[name]
		if !ok {
			continue
		}
		if rest == nil {
			rest = maps.Clone(f)
		}
		delete(rest, name)
		if l, ok := v.([]any); ok {
			tags[name] = l
		} else {
			tags[name] = []any{v}
		}
	}
	if rest == nil {
		return args, nil
	}
	out := slices.Clone(args)
	out[0] = rest
	return out, tags
}

// tagRestriction narrows a Get to the objects whose tags have the values
// asked for (splitTagFilter).
func (t *txn) tagRestriction(object, idField string, filter map[string][]any) (restriction, error) {
	var r restriction
	for _, name := range slices.Sorted(maps.Keys(filter)) {
		rows, err := t.tagRows(object, store.Cond{Field: "tagname", Op: store.Eq, Value: name}, store.Cond{Field: "value", Op: store.Eq, Value: filter[name]})
		var ids []any
		for _, x := range rows {
			ids = append(ids, x.objID)
		}
		if err != nil || len(ids) == 0 {
			return restriction{none: true}, err
		}
		r.conds = append(r.conds, store.Cond{Field: idField, Op: store.Eq, Value: ids})
	}
	return r, nil
}

func stringsAny(s []string) []any {
	out := make([]any, len(s))
	for i, x := range s {
		out[i] = x
	}
	return out
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// tagWriter makes UpdateXTag (update) or DeleteXTag of one kind of tag:
// own checks the caller's right to set the tag id to value ("" for a
// delete), then update or remove writes.
func (s *Service) tagWriter(idField string, own func(t *txn, id int64, value string) error,
	update func(t *txn, id int64, value string) error, remove func(t *txn, id int64) error) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		id, err := argInt(args, 0, idField)
		if err != nil {
			return nil, err
		}
		value := ""
		if update != nil {
			if value, err = tagValue(args, 1); err != nil {
				return nil, err
			}
		}
		err = s.update(ctx, c, func(t *txn) error {
			if err := own(t, id, value); err != nil {
				return err
			}
			if update != nil {
				return update(t, id, value)
			}
			return remove(t, id)
		})
		return int64(1), err
	}
}
