package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// update runs fn in an Update as "person 1", failing the test on error.
func update(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), "person 1", fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// view runs fn in a View, failing the test on error.
func view(t testing.TB, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// fixture is a small world: one site with a person, two nodes and a slice.
type fixture struct {
	site   api.Site
	person api.Person
	nodes  [2]api.Node
	slice  api.Slice
}

func newSite(base string) api.Site {
	lat := 48.85
	return api.Site{Name: "Site " + base, AbbreviatedName: base, LoginBase: base, IsPublic: true,
		Enabled: true, Latitude: &lat, URL: "https://" + base + ".example", MaxSlices: 10,
		MaxSlivers: 1000, Shares: 100}
}

func newNode(siteID int64, host string) api.Node {
	return api.Node{Hostname: host, SiteID: siteID, NodeType: "regular", BootState: "boot",
		Version: "orbis-1", IP: "10.0.0.1"}
}

func newSlice(siteID int64, name string) api.Slice {
	return api.Slice{SiteID: siteID, Name: name, Instantiation: "plc-instantiated",
		URL: "https://x.example", Description: "d", MaxNodes: 100, Expires: 2000000000, Shares: 10}
}

func seed(t testing.TB, s store.Store, base string) fixture {
	t.Helper()
	var f fixture
	update(t, s, func(tx store.Tx) error {
		f.site = newSite(base)
		if err := tx.AddSite(&f.site); err != nil {
			return err
		}
		f.person = api.Person{FirstName: "Ada", LastName: "L", Email: "ada@" + base + ".example", Enabled: true}
		if err := tx.AddPerson(&f.person, "hash-of-ada"); err != nil {
			return err
		}
		if err := tx.AddPersonToSite(f.person.PersonID, f.site.SiteID); err != nil {
			return err
		}
		for i := range f.nodes {
			f.nodes[i] = newNode(f.site.SiteID, fmt.Sprintf("n%d.%s.example", i, base))
			if err := tx.AddNode(&f.nodes[i]); err != nil {
				return err
			}
		}
		f.slice = newSlice(f.site.SiteID, base+"_one")
		return tx.AddSlice(&f.slice)
	})
	return f
}

// get lists records with q in a View.
func get[T any](t testing.TB, s store.Store, list func(store.Tx, store.Query) ([]T, error), q store.Query) []T {
	t.Helper()
	var out []T
	view(t, s, func(tx store.Tx) error {
		var err error
		out, err = list(tx, q)
		return err
	})
	return out
}

// only lists one record by id and fails unless there is exactly one.
func only[T any](t testing.TB, s store.Store, list func(store.Tx, store.Query) ([]T, error), field string, id int64) T {
	t.Helper()
	l := get(t, s, list, store.ByID(field, id))
	if len(l) != 1 {
		t.Fatalf("%s %d: got %d records, want 1", field, id, len(l))
	}
	return l[0]
}

func equal(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// Method expressions, for get and only.
var (
	sites     = store.Tx.Sites
	persons   = store.Tx.Persons
	keys      = store.Tx.Keys
	nodes     = store.Tx.Nodes
	slicesOf  = store.Tx.Slices
	sliceTags = store.Tx.SliceTags
	leases    = store.Tx.Leases
	events    = store.Tx.Events
	reports   = store.Tx.SliverReports
	summaries = store.Tx.NodeSummaries
)

func eq(field string, v any) store.Cond { return store.Cond{Field: field, Op: store.Eq, Value: v} }

func where(conds ...store.Cond) store.Query { return store.Query{Conds: conds} }

// discard is a logger that drops everything.
var discard = slog.New(slog.DiscardHandler)
