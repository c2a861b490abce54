package plc

import (
	"context"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// PLCAPI's accessors: for each standard tag of a node, an interface, a
// slice, a site or a person, a Get and a Set method (GetNodeArch,
// SetSliceVref, GetInterfaceIfname), as PLC/Accessors makes them:
// Get<Object><Tag>(id_or_name) answers the tag's value or None,
// Set<Object><Tag>(id_or_name, value) sets it with the rights of
// Add<Object>Tag. The tags are api.AccessorTags, and for slices the
// resource table's attribute tags (vref, initscript...).

// accessor is one tag of one kind of object.
type accessor struct {
	object, tag string
}

// accessors lists the accessors of every kind of object.
func accessors() []accessor {
	var out []accessor
	for _, a := range api.AccessorTags {
		for _, o := range a.Objects {
			out = append(out, accessor{o, a.Name})
		}
	}
	for _, a := range api.AttributeTags {
		out = append(out, accessor{"slice", a.Name})
	}
	return out
}

// accessorName is PLCAPI's name of an accessor: "Get", "Node", "Arch".
func accessorName(verb string, a accessor) string {
	var b strings.Builder
	b.WriteString(verb)
	b.WriteString(capitalize(a.object))
	if suffix, ok := api.AccessorSuffixes[a.tag]; ok {
		b.WriteString(suffix)
		return b.String()
	}
	for _, part := range strings.FieldsFunc(a.tag, func(r rune) bool { return r == '_' || r == '-' }) {
		b.WriteString(capitalize(part))
	}
	return b.String()
}

func capitalize(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// withArticle is noun with "a" or "an" before it.
func withArticle(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func (s *Service) registerAccessors() {
	for _, a := range accessors() {
		what := a.object + "_id"
		if name := map[string]string{"node": "hostname", "slice": "name", "site": "login_base", "person": "email"}[a.object]; name != "" {
			what += "_or_" + name
		}
		s.add(method{name: accessorName("Get", a), roles: rolesAll, min: 1, max: 1, sig: []string{"string", "int"},
			help: "Returns the " + a.tag + " tag of " + withArticle(a.object) + " (by " + what + "), or None.",
			call: s.getAccessor(a, what)})
		s.add(method{name: accessorName("Set", a), roles: rolesPersons, min: 2, max: 2, sig: []string{"string", "int", "string"},
			help: "Sets the " + a.tag + " tag of " + withArticle(a.object) + " (by " + what + "), with the rights of Add" + capitalize(a.object) + "Tag and the tag type's roles.",
			call: s.setAccessor(a, what)})
	}
}

func (s *Service) getAccessor(a accessor, what string) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		ref, err := argRef(args, 0, what)
		if err != nil {
			return nil, err
		}
		var value any
		err = s.view(ctx, c, func(t *txn) error {
			v, ok, err := t.accessorValue(a, ref)
			if ok {
				value = v
			}
			return err
		})
		return value, err
	}
}

// accessorValue reads the tag a of the object ref: a node's tag, or a
// slice's tag on every node, as the caller may see them.
func (t *txn) accessorValue(a accessor, ref any) (string, bool, error) {
	var id int64
	switch a.object {
	case "node":
		n, err := t.node(ref)
		if err != nil {
			return "", false, err
		}
		id = n.NodeID
	case "site":
		site, err := t.site(ref)
		if err != nil {
			return "", false, err
		}
		id = site.SiteID
	case "interface":
		i, err := t.iface(ref)
		if err != nil {
			return "", false, err
		}
		id = i.InterfaceID
	case "person":
		p, err := t.person(ref)
		if err != nil {
			return "", false, err
		}
		ids, all, err := t.visiblePersonIDs()
		if err != nil {
			return "", false, err
		}
		if !all && !slices.Contains(ids, any(p.PersonID)) {
			return "", false, noSuch(personKind, ref)
		}
		id = p.PersonID
	}
	if id != 0 {
		values, err := t.tagValues(a.object, []any{id}, []string{a.tag})
		v, ok := values[id][a.tag]
		return v, ok, err
	}
	sl, err := t.slice(ref)
	if err != nil {
		return "", false, err
	}
	ids, all, err := t.visibleSliceIDs()
	if err != nil {
		return "", false, err
	}
	if !all && !slices.Contains(ids, any(sl.SliceID)) {
		return "", false, noSuch(sliceKind, ref)
	}
	tag, err := t.sliceWideTag(sl.SliceID, a.tag)
	if err != nil || tag == nil {
		return "", false, err
	}
	return tag.Value, true, nil
}

// sliceWideTag is the slice's tag name on every node, or nil.
func (t *txn) sliceWideTag(sliceID int64, name string) (*api.SliceTag, error) {
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{
		{Field: "slice_id", Op: store.Eq, Value: sliceID}, {Field: "tagname", Op: store.Eq, Value: name}, {Field: "node_id", Op: store.Eq, Value: int64(0)}}})
	if err != nil || len(tags) == 0 {
		return nil, err
	}
	return &tags[len(tags)-1], nil
}

func (s *Service) setAccessor(a accessor, what string) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		ref, err := argRef(args, 0, what)
		if err != nil {
			return nil, err
		}
		value, err := tagValue(args, 1)
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			switch a.object {
			case "node":
				return nodeTags.setRef(t, ref, a.tag, value)
			case "site":
				return siteTags.setRef(t, ref, a.tag, value)
			case "person":
				return personTags.setRef(t, ref, a.tag, value)
			case "interface":
				return interfaceTags.setRef(t, ref, a.tag, value)
			}
			return t.setSliceWideTag(ref, a.tag, value)
		})
		return value, err
	}
}

// setSliceWideTag sets the slice's tag name on every node, with the
// rights and checks of AddSliceTag.
func (t *txn) setSliceWideTag(ref any, name, value string) error {
	sl, err := t.slice(ref)
	if err != nil {
		return err
	}
	if err := t.checkTag(sl, name, value); err != nil {
		return err
	}
	tag, err := t.sliceWideTag(sl.SliceID, name)
	if err != nil {
		return err
	}
	t.bump(sl.NodeIDs...)
	if tag != nil {
		tag.Value = value
		return t.UpdateSliceTag(tag)
	}
	return t.AddSliceTag(&api.SliceTag{SliceID: sl.SliceID, TagName: name, Value: value})
}
