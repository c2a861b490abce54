package plc_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestTagTypesFromTable: every tag of the resource table is a tag type,
// with the table's roles (admins only for resource tags), and no one, not
// even an admin, changes those through PLCAPI.
func TestTagTypesFromTable(t *testing.T) {
	w := newWorld(t)
	types := records(t, w.must(w.userA, "GetTagTypes"))
	byName := map[string]map[string]any{}
	for _, tt := range types {
		byName[tt["tagname"].(string)] = tt
	}
	for _, spec := range api.TagSpecs() {
		tt, ok := byName[spec.Name]
		if !ok {
			t.Errorf("tag %s of the resource table is no tag type", spec.Name)
			continue
		}
		roles := tt["roles"].([]any)
		if admin := slices.Contains(roles, any("admin")); !admin || slices.Contains(roles, any("user")) != (spec.Role != api.RoleAdmin) {
			t.Errorf("tag type %s: roles %v, the table's role is %d", spec.Name, roles, spec.Role)
		}
	}
	for _, a := range api.AccessorTags {
		tt, ok := byName[a.Name]
		if _, dup, _ := api.LookupTag(a.Name); dup || !ok {
			t.Errorf("accessor tag %s: a tag type %v, named by the resource table too %v", a.Name, ok, dup)
			continue
		}
		if got := tt["role_ids"].([]any); len(got) != len(a.Roles) || tt["category"] != a.Category {
			t.Errorf("accessor tag %s: %v, want roles %v", a.Name, tt, a.Roles)
		}
	}
	for _, call := range [][]any{
		{"AddRoleToTagType", "user", "cpu_share"},
		{"AddRoleToTagType", "user", "hrn"},
		{"DeleteRoleFromTagType", "user", "vref"},
		{"UpdateTagType", "cpu_share", map[string]any{"tagname": "my_share"}},
		{"DeleteTagType", "vref"},
	} {
		_, err := w.call(w.admin, call[0].(string), call[1:]...)
		fault(t, err, plc.FaultPermission)
	}
	_, err := w.call(w.admin, "AddTagType", map[string]any{"tagname": "net_share"})
	fault(t, err, plc.FaultInvalidArg) // a tag central refuses
	_, err = w.call(w.admin, "AddTagType", map[string]any{"tagname": "cpu_share"})
	fault(t, err, plc.FaultInvalidArg) // taken by the table
	cpu := records(t, w.must(w.admin, "GetTagTypes", "cpu_share"))[0]
	if !slices.Equal(cpu["roles"].([]any), []any{"admin"}) {
		t.Fatalf("cpu_share's roles after the attempts: %v", cpu["roles"])
	}
	// The table, not the database, still decides: a user cannot set it.
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_tt", "url": "http://alpha.org", "description": "x"})
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, sl)
	_, err = w.call(w.userA, "AddSliceTag", sl, "cpu_share", "100")
	fault(t, err, plc.FaultPermission)
}

// TestTagTypeRolesAttack: a PI or user cannot make or change tag types,
// nor give their own role to one; a tag whose type's roles exclude them
// they cannot set on their own slice, while an admin can, and the tag
// type a PI could not touch is as the admin left it.
func TestTagTypeRolesAttack(t *testing.T) {
	w := newWorld(t)
	ops := w.id(w.admin, "AddTagType", map[string]any{"tagname": "ops_note", "category": "slice/ops", "description": "for operators"})
	w.must(w.admin, "AddRoleToTagType", "tech", ops)
	for _, c := range []*plc.Caller{w.piA, w.userA, w.piB} {
		for _, call := range [][]any{
			{"AddTagType", map[string]any{"tagname": "mine"}},
			{"AddRoleToTagType", "pi", ops},
			{"AddRoleToTagType", "user", "cpu_share"},
			{"UpdateTagType", ops, map[string]any{"description": "hijacked"}},
			{"DeleteRoleFromTagType", "tech", ops},
			{"DeleteTagType", ops},
		} {
			_, err := w.call(c, call[0].(string), call[1:]...)
			fault(t, err, plc.FaultAuth) // password callers, as PLCAPI answers
		}
	}
	tt := records(t, w.must(w.piA, "GetTagTypes", ops))[0]
	if tt["description"] != "for operators" || !slices.Equal(tt["role_ids"].([]any), []any{int64(api.RoleTech)}) {
		t.Fatalf("the tag type after the attacks: %v", tt)
	}
	if got := records(t, w.must(w.admin, "GetTagTypes", "mine")); len(got) != 0 {
		t.Fatalf("a PI made tag type %v", got)
	}
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_ops", "url": "http://alpha.org", "description": "x"})
	w.must(w.piA, "AddPersonToSlice", w.userA.PersonID, sl)
	for _, c := range []*plc.Caller{w.piA, w.userA} {
		_, err := w.call(c, "AddSliceTag", sl, "ops_note", "mine now")
		fault(t, err, plc.FaultPermission)
	}
	id := w.id(w.admin, "AddSliceTag", sl, "ops_note", "by the admin")
	for _, c := range []*plc.Caller{w.piA, w.userA} {
		_, err := w.call(c, "UpdateSliceTag", id, "changed")
		fault(t, err, plc.FaultPermission)
		_, err = w.call(c, "DeleteSliceTag", id)
		fault(t, err, plc.FaultPermission)
	}
	tags := records(t, w.must(w.admin, "GetSliceTags", map[string]any{"slice_id": sl}))
	if len(tags) != 1 || tags[0]["value"] != "by the admin" {
		t.Fatalf("slice tags after the attacks: %v", tags)
	}
	// A free-form tag no tag type names stays the slice's users'.
	w.id(w.userA, "AddSliceTag", sl, "my_note", "x")
	// The type's tags go with it, so that they do not become free-form
	// tags the slice's users could change.
	w.must(w.admin, "DeleteTagType", ops)
	if tags := records(t, w.must(w.admin, "GetSliceTags", map[string]any{"tagname": "ops_note"})); len(tags) != 0 {
		t.Fatalf("slice tags of a deleted tag type: %v", tags)
	}
}

// TestTagTypesSeededAtStart: New writes the resource table's tag types
// into the store before it returns (no request path does), and a store
// that cannot take them makes New fail rather than serve without them.
func TestTagTypesSeededAtStart(t *testing.T) {
	ctx := testutil.Context(t)
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "c.db"), testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plc.New(ctx, plc.Options{Store: st, Log: testutil.Logger(t)}); err != nil {
		t.Fatal(err)
	}
	var types []api.TagType
	if err := st.View(ctx, func(tx store.Tx) error {
		types, err = tx.TagTypes(store.Query{Conds: []store.Cond{{Field: "tagname", Op: store.Eq, Value: []any{"cpu_share", "vref", "hrn"}}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(types) != 3 {
		t.Fatalf("tag types after New: %v, want cpu_share, vref and hrn", types)
	}
	st.Close()
	if _, err := plc.New(ctx, plc.Options{Store: st, Log: testutil.Logger(t)}); err == nil {
		t.Fatal("New over a closed store: no error")
	}
}
