package store_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// names lists the names of the slices q selects.
func names(t *testing.T, s store.Store, q store.Query) []string {
	t.Helper()
	out := []string{}
	for _, sl := range get(t, s, slicesOf, q) {
		out = append(out, sl.Name)
	}
	return out
}

func testFilters(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	// Slices ex_one (seeded), ex_s0..ex_s4 with max_nodes 0..4; ex_s0,
	// ex_s1 on node 0; ex_s2 on node 1.
	update(t, s, func(tx store.Tx) error {
		for i := range 5 {
			sl := newSlice(f.site.SiteID, fmt.Sprintf("ex_s%d", i))
			sl.MaxNodes = int64(i)
			if err := tx.AddSlice(&sl); err != nil {
				return err
			}
			if i < 3 {
				if err := tx.AddSliceToNodes(sl.SliceID, []int64{f.nodes[i/2].NodeID}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	all := []string{"ex_one", "ex_s0", "ex_s1", "ex_s2", "ex_s3", "ex_s4"}
	c := func(field string, op store.Op, v any) store.Cond { return store.Cond{Field: field, Op: op, Value: v} }
	for _, tc := range []struct {
		name string
		q    store.Query
		want []string
	}{
		{"all", store.Query{}, all},
		{"eq", where(c("name", store.Eq, "ex_s1")), []string{"ex_s1"}},
		{"ne", where(c("name", store.Ne, "ex_one")), all[1:]},
		{"lt", where(c("max_nodes", store.Lt, 2)), []string{"ex_s0", "ex_s1"}},
		{"le", where(c("max_nodes", store.Le, int64(2))), []string{"ex_s0", "ex_s1", "ex_s2"}},
		{"gt float", where(c("max_nodes", store.Gt, 3.0)), []string{"ex_one", "ex_s4"}},
		{"ge", where(c("max_nodes", store.Ge, 4)), []string{"ex_one", "ex_s4"}},
		{"and", where(c("max_nodes", store.Ge, 1), c("max_nodes", store.Le, 3)), []string{"ex_s1", "ex_s2", "ex_s3"}},
		{"in", where(c("name", store.Eq, []any{"ex_s3", "ex_one", "nope"})), []string{"ex_one", "ex_s3"}},
		{"in ids", where(c("max_nodes", store.Eq, []int64{0, 4})), []string{"ex_s0", "ex_s4"}},
		{"empty in", where(c("name", store.Eq, []any{})), []string{}},
		{"not in", where(c("name", store.Ne, []any{"ex_s3", "ex_one"})), []string{"ex_s0", "ex_s1", "ex_s2", "ex_s4"}},
		{"star", where(c("name", store.Like, "ex_s*")), all[1:]},
		{"percent", where(c("name", store.Like, "%s_")), []string{}},
		{"both", where(c("name", store.Like, "*_%3")), []string{"ex_s3"}},
		{"like is case-insensitive", where(c("name", store.Like, "EX_ONE")), []string{"ex_one"}},
		{"underscore literal", where(c("name", store.Like, "ex_o_e")), []string{}},
		{"not like", where(c("name", store.NotLike, "*s*")), []string{"ex_one"}},
		{"list contains", where(c("node_ids", store.Eq, f.nodes[0].NodeID)), []string{"ex_s0", "ex_s1"}},
		{"list contains any", where(c("node_ids", store.Eq, []any{f.nodes[0].NodeID, f.nodes[1].NodeID})), []string{"ex_s0", "ex_s1", "ex_s2"}},
		{"list lacks", where(c("node_ids", store.Ne, f.nodes[0].NodeID), c("name", store.Like, "ex_s*")), []string{"ex_s2", "ex_s3", "ex_s4"}},
		{"or", where(group(true, false, c("name", store.Eq, "ex_s1"), c("max_nodes", store.Ge, 4))), []string{"ex_one", "ex_s1", "ex_s4"}},
		{"empty or", where(group(true, false)), []string{}},
		{"empty and", where(group(false, false)), all},
		{"not and", where(group(false, true, c("max_nodes", store.Ge, 1), c("max_nodes", store.Le, 3))), []string{"ex_one", "ex_s0", "ex_s4"}},
		{"and of or", where(c("name", store.Like, "ex_s*"), group(true, false, c("max_nodes", store.Eq, 0), c("max_nodes", store.Eq, 4))), []string{"ex_s0", "ex_s4"}},
		{"list contains all", where(group(false, false, c("node_ids", store.Eq, f.nodes[0].NodeID), c("node_ids", store.Eq, f.nodes[1].NodeID))), []string{}},
		{"list empty", where(store.Cond{Field: "node_ids", Op: store.Empty}), []string{"ex_one", "ex_s3", "ex_s4"}},
		{"sort desc", store.Query{Sort: []string{"-name"}}, reversed(all)},
		{"sort two", store.Query{Sort: []string{"-max_nodes", "name"}, Limit: 3}, []string{"ex_one", "ex_s4", "ex_s3"}},
		{"offset limit", store.Query{Sort: []string{"name"}, Offset: 2, Limit: 2}, []string{"ex_s1", "ex_s2"}},
		{"offset only", store.Query{Sort: []string{"name"}, Offset: 4}, []string{"ex_s3", "ex_s4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			equal(t, "names", names(t, s, tc.q), tc.want)
		})
	}

	// Other record kinds: list fields, case-insensitive email and
	// hostname, roles by name, booleans, nulls.
	update(t, s, func(tx store.Tx) error { return tx.AddRoleToPerson(api.RoleTech, f.person.PersonID) })
	if l := get(t, s, persons, where(eq("email", "ADA@ex.EXAMPLE"), eq("roles", "tech"), eq("site_ids", f.site.SiteID))); len(l) != 1 {
		t.Errorf("person by email, role name and site: %d found", len(l))
	}
	if l := get(t, s, persons, where(eq("roles", "admin"))); len(l) != 0 {
		t.Errorf("admins: %+v", l)
	}
	if l := get(t, s, nodes, where(eq("hostname", "N1.EX.example"))); len(l) != 1 || l[0].NodeID != f.nodes[1].NodeID {
		t.Errorf("node by upper-case hostname: %+v", l)
	}
	if l := get(t, s, sites, where(eq("enabled", true), eq("longitude", nil), eq("node_ids", f.nodes[0].NodeID))); len(l) != 1 {
		t.Errorf("site by enabled, null longitude and node: %d found", len(l))
	}
	if l := get(t, s, sites, where(eq("is_public", false))); len(l) != 0 {
		t.Errorf("non-public sites: %+v", l)
	}
}

func group(or, not bool, conds ...store.Cond) store.Cond {
	return store.Cond{Group: &store.Group{Or: or, Not: not, Conds: conds}}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func testInvalidFields(t *testing.T, b backend) {
	s := b.newStore(t)
	seed(t, s, "ex")
	for name, q := range map[string]store.Query{
		"unknown field":    where(eq("password_hash", "x")),
		"sql in field":     where(eq("name = name OR 1", 1)),
		"unknown sort":     {Sort: []string{"-secret"}},
		"sort by list":     {Sort: []string{"node_ids"}},
		"wrong type":       where(eq("max_nodes", "many")),
		"pattern on int":   where(store.Cond{Field: "max_nodes", Op: store.Like, Value: "1*"}),
		"lt on list":       where(store.Cond{Field: "node_ids", Op: store.Lt, Value: 3}),
		"list with lt":     where(store.Cond{Field: "name", Op: store.Lt, Value: []any{"a"}}),
		"negative limit":   {Limit: -1},
		"unknown operator": where(store.Cond{Field: "name", Op: store.Op(99), Value: "x"}),
		"empty on scalar":  where(store.Cond{Field: "name", Op: store.Empty}),
		"bad in group":     where(group(true, false, eq("name", "x"), eq("max_nodes", "many"))),
	} {
		err := s.View(t.Context(), func(tx store.Tx) error { _, err := tx.Slices(q); return err })
		if !errors.Is(err, store.ErrInvalidField) {
			t.Errorf("%s: %v, want ErrInvalidField", name, err)
		}
	}
	err := s.View(t.Context(), func(tx store.Tx) error { _, err := tx.Persons(where(eq("roles", "wizard"))); return err })
	if !errors.Is(err, store.ErrInvalidField) {
		t.Errorf("unknown role name: %v, want ErrInvalidField", err)
	}
}
