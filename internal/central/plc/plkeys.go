package plc

import (
	"context"
	"slices"
)

// GetSliceKeys, RetrieveSlicePersonKeys and ResolveSlices read slices,
// their persons and keys through GetSlices, GetPersons and GetKeys with
// the caller's rights, so that they never show more than those do.

func (s *Service) registerSliceKeys() {
	s.add(method{name: "GetSliceKeys", roles: []string{"admin", "pi", "user", "node"}, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns, for the slices that match the filter (as GetSlices'), one {slice_id, name, person_id, email, key} per key of each of their persons, as far as the caller may see slices, persons and keys; return_fields picks among those five.",
		call: s.getSliceKeys})
	s.add(method{name: "RetrieveSlicePersonKeys", roles: rolesPublic, min: 1, max: 2, sig: []string{"struct", "int", "struct"},
		help: "Returns the ssh keys of a slice's (by slice_id or name) persons that match person_filter (as GetPersons'), by email, as far as the caller may see them.",
		call: s.retrieveSlicePersonKeys})
	s.add(method{name: "ResolveSlices", roles: []string{"admin", "pi", "user", "tech", "anonymous"}, max: 1, sig: []string{"array", "struct"},
		help: "Returns the slice_id, name and expires of the slices that match the filter (as GetSlices'). Orbis deletes a slice when it expires, so expired ones are not among them.",
		call: func(ctx context.Context, c *Caller, args []any) (any, error) {
			return s.getSlices(ctx, c, []any{optArg(args, 0), []any{"slice_id", "name", "expires"}})
		}})
}

// sliceKeyRow is one person's key on one slice.
type sliceKeyRow struct {
	sliceID, personID int64
	name, email, key  string
}

// sliceKeys lists the keys of the persons of the slices filter selects
// (personFilter narrows the persons), as c may see them.
func (s *Service) sliceKeys(ctx context.Context, c *Caller, filter, personFilter any) ([]sliceKeyRow, error) {
	sls, err := s.getSlices(ctx, c, []any{filter, []any{"slice_id", "name", "person_ids"}})
	if err != nil {
		return nil, err
	}
	var personIDs []any
	for _, sl := range recordList(sls) {
		personIDs = append(personIDs, idsOf(sl["person_ids"])...)
	}
	pf := map[string]any{}
	if m, ok := personFilter.(map[string]any); ok {
		for k, v := range m {
			pf[k] = v
		}
	}
	if len(personIDs) == 0 {
		return nil, nil
	}
	if v, ok := pf["person_id"]; ok {
		asked := idsOf(v)
		if asked == nil {
			asked = []any{v}
		}
		personIDs = slices.DeleteFunc(personIDs, func(id any) bool {
			return !slices.ContainsFunc(asked, func(a any) bool { x, ok := AsInt(a); y, _ := AsInt(id); return ok && x == y })
		})
	}
	pf["person_id"] = personIDs
	ps, err := s.getPersons(ctx, c, []any{pf, []any{"person_id", "email", "key_ids"}})
	if err != nil {
		return nil, err
	}
	persons := map[int64]map[string]any{}
	var keyIDs []any
	for _, p := range recordList(ps) {
		id, _ := AsInt(p["person_id"])
		persons[id] = p
		keyIDs = append(keyIDs, idsOf(p["key_ids"])...)
	}
	keys := map[int64]string{}
	if len(keyIDs) > 0 {
		ks, err := s.getKeys(ctx, c, []any{keyIDs, []any{"key_id", "key"}})
		if err != nil {
			return nil, err
		}
		for _, k := range recordList(ks) {
			id, _ := AsInt(k["key_id"])
			keys[id], _ = k["key"].(string)
		}
	}
	var out []sliceKeyRow
	for _, sl := range recordList(sls) {
		sliceID, _ := AsInt(sl["slice_id"])
		name, _ := sl["name"].(string)
		for _, pid := range idsOf(sl["person_ids"]) {
			id, _ := AsInt(pid)
			p, ok := persons[id]
			if !ok {
				continue
			}
			email, _ := p["email"].(string)
			for _, kid := range idsOf(p["key_ids"]) {
				k, _ := AsInt(kid)
				if key, ok := keys[k]; ok {
					out = append(out, sliceKeyRow{sliceID, id, name, email, key})
				}
			}
		}
	}
	return out, nil
}

func (s *Service) getSliceKeys(ctx context.Context, c *Caller, args []any) (any, error) {
	fields := []string{"slice_id", "name", "person_id", "email", "key"}
	if v := optArg(args, 1); v != nil {
		l, ok := v.([]any)
		if !ok {
			return nil, badArg("return_fields", "a list of field names", v)
		}
		fields = nil
		for _, f := range l {
			name, ok := f.(string)
			if !ok || !slices.Contains([]string{"slice_id", "name", "person_id", "email", "key"}, name) {
				return nil, badArg("return_fields", "slice_id, name, person_id, email or key", f)
			}
			fields = append(fields, name)
		}
	}
	rows, err := s.sliceKeys(ctx, c, optArg(args, 0), nil)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, r := range rows {
		all := map[string]any{"slice_id": r.sliceID, "name": r.name, "person_id": r.personID, "email": r.email, "key": r.key}
		m := map[string]any{}
		for _, f := range fields {
			m[f] = all[f]
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Service) retrieveSlicePersonKeys(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "slice_id_or_name")
	if err != nil {
		return nil, err
	}
	pf := optArg(args, 1)
	if _, ok := pf.(map[string]any); pf != nil && !ok {
		return nil, badArg("person_filter", "a struct", pf)
	}
	sls, err := s.getSlices(ctx, c, []any{[]any{ref}, []any{"slice_id"}})
	if err != nil {
		return nil, err
	}
	if len(recordList(sls)) == 0 {
		return nil, noSuch(sliceKind, ref)
	}
	rows, err := s.sliceKeys(ctx, c, []any{ref}, pf)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, r := range rows {
		l, _ := out[r.email].([]any)
		out[r.email] = append(l, r.key)
	}
	return out, nil
}

// recordList is a Get method's answer as its records.
func recordList(v any) []map[string]any {
	var out []map[string]any
	l, _ := v.([]any)
	for _, r := range l {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// idsOf is a record's list of ids as a filter takes it; nil if v is no
// list.
func idsOf(v any) []any {
	switch l := v.(type) {
	case []int64:
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = x
		}
		return out
	case []any:
		return l
	}
	return nil
}
