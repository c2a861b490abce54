package plc_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestFilters runs every kind of filter against five nodes.
func TestFilters(t *testing.T) {
	e := newEnv(t)
	site := e.site("alpha", 0)
	other := e.site("beta", 0)
	var ids []int64
	for _, h := range []string{"a1.alpha.org", "a2.alpha.org", "a3.alpha.org", "b1.beta.org", "b2.beta.org"} {
		s := site
		if h[0] == 'b' {
			s = other
		}
		ids = append(ids, e.node(s, h))
	}
	e.must(e.admin, "UpdateNode", ids[1], map[string]any{"node_type": "reservable"})
	cases := []struct {
		name   string
		filter any
		want   []int64 // in order when sorted is false
		sorted bool
	}{
		{"nil", nil, ids, false},
		{"id", ids[2], ids[2:3], false},
		{"hostname", "b1.beta.org", ids[3:4], false},
		{"hostname case", "B1.Beta.Org", ids[3:4], false},
		{"empty list", []any{}, nil, false},
		{"mixed list", []any{ids[0], "b2.beta.org", "a1.alpha.org"}, []int64{ids[0], ids[4]}, false},
		{"struct eq", map[string]any{"site_id": other}, ids[3:], false},
		{"struct in", map[string]any{"node_id": []any{ids[0], ids[4]}}, []int64{ids[0], ids[4]}, false},
		{"struct and", map[string]any{"site_id": site, "node_type": "reservable"}, ids[1:2], false},
		{"negate", map[string]any{"~site_id": site}, ids[3:], false},
		{"negate list", map[string]any{"~node_id": []any{ids[0], ids[1]}}, ids[2:], false},
		{"less", map[string]any{"<node_id": ids[2]}, ids[:2], false},
		{"greater", map[string]any{">node_id": ids[2]}, ids[3:], false},
		{"at most", map[string]any{"[node_id": ids[2]}, ids[:3], false},
		{"at least", map[string]any{"]node_id": ids[2]}, ids[2:], false},
		{"star", map[string]any{"hostname": "a*"}, ids[:3], false},
		{"percent", map[string]any{"hostname": "%beta%"}, ids[3:], false},
		{"not pattern", map[string]any{"~hostname": "*.alpha.org"}, ids[3:], false},
		{"underscore literal", map[string]any{"hostname": "a_.alpha.org"}, nil, false},
		{"sort desc", map[string]any{"-SORT": "-hostname"}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}, true},
		{"sort list", map[string]any{"-SORT": []any{"site_id", "-node_id"}}, []int64{ids[2], ids[1], ids[0], ids[4], ids[3]}, true},
		{"offset limit", map[string]any{"-SORT": "node_id", "-OFFSET": 1, "-LIMIT": 2}, ids[1:3], true},
		{"list field contains", map[string]any{"slice_ids": int64(999)}, nil, false},
		{"none", map[string]any{"peer_id": nil}, ids, false},
		{"not none", map[string]any{"~peer_id": nil}, nil, false},
		{"peer id", map[string]any{"peer_node_id": int64(3)}, nil, false},
		{"none in list", map[string]any{"peer_id": []any{int64(2), nil}}, ids, false},
		{"null column", map[string]any{"version": nil}, nil, false},
		{"null or one of", map[string]any{"hostname": []any{nil, "a2.alpha.org"}}, ids[1:2], false},
		{"not null or one of", map[string]any{"~hostname": []any{nil, "a2.alpha.org"}}, []int64{ids[0], ids[2], ids[3], ids[4]}, false},
		{"or", map[string]any{"-OR": true, "hostname": "b2.beta.org", "node_type": "reservable"}, []int64{ids[1], ids[4]}, false},
		{"and", map[string]any{"-AND": nil, "site_id": other, "hostname": "b2*"}, ids[4:], false},
		{"empty or", map[string]any{"-OR": 1}, nil, false},
		{"or with peer", map[string]any{"-OR": 1, "~peer_id": nil, "node_id": ids[0]}, ids[:1], false},
		{"any of list", map[string]any{"|node_id": []any{ids[0], ids[3]}}, []int64{ids[0], ids[3]}, false},
		{"all of scalar", map[string]any{"&node_id": []any{ids[0], ids[3]}}, nil, false},
		{"all of one", map[string]any{"&node_id": ids[3]}, ids[3:4], false},
		{"empty list field", map[string]any{"&slice_ids": []any{}}, ids, false},
		{"not any of list field", map[string]any{"~|slice_ids": []any{int64(5)}}, ids, false},
		{"not less", map[string]any{"~<node_id": ids[2]}, ids[2:], false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			for _, r := range records(t, e.must(e.admin, "GetNodes", tc.filter)) {
				got = append(got, r["node_id"].(int64))
			}
			if !tc.sorted {
				slices.Sort(got)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name   string
		method string
		args   []any
		msg    string
	}{
		{"unknown field", "GetNodes", []any{map[string]any{"password": "x"}}, `no field "password"`},
		{"wrong type", "GetNodes", []any{map[string]any{"node_id": "abc"}}, "node_id"},
		{"bad sort", "GetSites", []any{map[string]any{"-SORT": "nothing"}}, "nothing"},
		{"bad limit", "GetSites", []any{map[string]any{"-LIMIT": "ten"}}, "-LIMIT"},
		{"list with <", "GetSites", []any{map[string]any{"<site_id": []any{1}}}, "site_id"},
		{"name for keys", "GetKeys", []any{"somekey"}, "only by id"},
		{"bad filter type", "GetSites", []any{true}, "filter"},
		{"bad return field", "GetSites", []any{nil, []any{"secret"}}, `no field "secret"`},
		{"return fields not list", "GetSites", []any{nil, "name"}, "return_fields"},
		{"list element", "GetSites", []any{[]any{1.5}}, "filter[0]"},
		{"unknown special", "GetSites", []any{map[string]any{"-XOR": 1}}, "-XOR"},
		{"repeated modifier", "GetSites", []any{map[string]any{"~~site_id": 1}}, "modifiers"},
		{"none with less", "GetSites", []any{map[string]any{"<site_id": nil}}, "None"},
		{"none on list field", "GetSites", []any{map[string]any{"node_ids": nil}}, "None"},
		{"set with less", "GetSites", []any{map[string]any{"|<site_id": []any{1}}}, "& and |"},
		{"empty set on scalar", "GetSites", []any{map[string]any{"&site_id": []any{}}}, "list field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.call(e.admin, tc.method, tc.args...)
			f := fault(t, err, plc.FaultInvalidArg)
			if !strings.Contains(f.Msg, tc.msg) {
				t.Fatalf("message %q does not name %q", f.Msg, tc.msg)
			}
		})
	}
}

func TestReturnFields(t *testing.T) {
	e := newEnv(t)
	e.site("alpha", 2)
	got := records(t, e.must(e.admin, "GetSites", nil, []any{"login_base", "person_ids"}))
	if len(got) != 1 || len(got[0]) != 2 || got[0]["login_base"] != "alpha" || len(got[0]["person_ids"].([]any)) != 0 {
		t.Fatalf("return_fields: %v", got)
	}
	// Persons with return_fields never gain a password.
	got = records(t, e.must(e.admin, "GetPersons", nil, []any{"email"}))
	if len(got[0]) != 1 {
		t.Fatalf("persons: %v", got)
	}
	// SQL-like strings are values, stored and matched verbatim.
	evil := "x'; DROP TABLE sites; --"
	e.id(e.admin, "AddSite", map[string]any{"name": evil, "abbreviated_name": evil, "login_base": "evil"})
	got = records(t, e.must(e.admin, "GetSites", map[string]any{"name": evil}))
	if len(got) != 1 || got[0]["name"] != evil {
		t.Fatalf("verbatim: %v", got)
	}
}

// TestOrFilterKeepsVisibility is the attack of a caller who widens a
// filter with -OR, a negation or None in the hope that the conditions
// limiting what they may see are ORed with theirs: they still see only
// themselves and the persons of their own site.
func TestOrFilterKeepsVisibility(t *testing.T) {
	e := newEnv(t)
	alpha, beta := e.site("alpha", 0), e.site("beta", 0)
	attacker := e.person("eve@alpha.org", alpha, "user")
	e.person("bob@alpha.org", alpha, "user")
	e.person("victim@beta.org", beta, "user")
	for _, filter := range []map[string]any{
		{"-OR": true, "email": "victim@beta.org"},
		{"-OR": true, "~peer_id": nil, "email": "*"},
		{"-OR": true},
		{"~email": nil},
		{"|site_ids": []any{alpha, beta}},
		{"peer_id": nil},
	} {
		got := strs(t, e.must(attacker, "GetPersons", filter), "email")
		if slices.Contains(got, "victim@beta.org") || slices.Contains(got, "admin@example.org") {
			t.Errorf("filter %v showed %v to a user of alpha", filter, got)
		}
	}
}
