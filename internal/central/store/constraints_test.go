package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

func testUniques(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	other := seed(t, s, "zz")
	for _, tc := range []struct {
		name, field string
		fn          func(tx store.Tx) error
	}{
		{"site", "login_base", func(tx store.Tx) error { x := newSite("ex"); return tx.AddSite(&x) }},
		{"renamed site", "login_base", func(tx store.Tx) error { x := other.site; x.LoginBase = "ex"; return tx.UpdateSite(&x) }},
		{"email", "email", func(tx store.Tx) error { x := api.Person{Email: "ADA@Ex.Example"}; return tx.AddPerson(&x, "h") }},
		{"renamed person", "email", func(tx store.Tx) error {
			x := other.person
			x.Email = "Ada@ex.example"
			return tx.UpdatePerson(&x)
		}},
		{"hostname", "hostname", func(tx store.Tx) error { x := newNode(f.site.SiteID, "N0.EX.EXAMPLE"); return tx.AddNode(&x) }},
		{"renamed node", "hostname", func(tx store.Tx) error {
			x := other.nodes[0]
			x.Hostname = "n1.ex.Example"
			return tx.UpdateNode(&x)
		}},
		{"slice", "name", func(tx store.Tx) error { x := newSlice(other.site.SiteID, "ex_one"); return tx.AddSlice(&x) }},
		{"renamed slice", "name", func(tx store.Tx) error { x := other.slice; x.Name = "ex_one"; return tx.UpdateSlice(&x) }},
	} {
		err := s.Update(t.Context(), "system", tc.fn)
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrConflict naming %s", tc.name, err, tc.field)
		}
	}
	// A conflict inside a transaction leaves it usable on every backend.
	update(t, s, func(tx store.Tx) error {
		x := newSite("ex")
		if err := tx.AddSite(&x); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate site: %v", err)
		}
		y := newSite("fresh")
		return tx.AddSite(&y)
	})
	if n := len(get(t, s, sites, store.Query{})); n != 3 {
		t.Errorf("%d sites, want 3", n)
	}
	// Updating a record without changing its unique field is no conflict.
	update(t, s, func(tx store.Tx) error { x := f.site; x.Name = "same base"; return tx.UpdateSite(&x) })
}

func testCascades(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	keep := seed(t, s, "kk")
	update(t, s, func(tx store.Tx) error {
		// Cross-links between the two sites, which must survive.
		if err := tx.AddSliceToNodes(keep.slice.SliceID, []int64{f.nodes[0].NodeID, keep.nodes[0].NodeID}); err != nil {
			return err
		}
		if err := tx.AddSliceToNodes(f.slice.SliceID, []int64{keep.nodes[1].NodeID}); err != nil {
			return err
		}
		if err := tx.AddPersonToSlice(f.person.PersonID, keep.slice.SliceID); err != nil {
			return err
		}
		tag := api.SliceTag{SliceID: keep.slice.SliceID, TagName: "disk_max", Value: "1", NodeID: f.nodes[0].NodeID}
		if err := tx.AddSliceTag(&tag); err != nil {
			return err
		}
		l := api.Lease{TFrom: 0, TUntil: 3600, NodeID: f.nodes[1].NodeID, SliceID: keep.slice.SliceID}
		if err := tx.AddLease(&l); err != nil {
			return err
		}
		k := api.Key{KeyType: "ssh", Key: "k", PersonID: f.person.PersonID}
		if err := tx.AddKey(&k); err != nil {
			return err
		}
		if err := tx.AddSession("sess", f.person.PersonID, 0, 0); err != nil {
			return err
		}
		return tx.AddToken("tok", f.person.PersonID, "cli", 0)
	})

	// Deleting the site takes its nodes and slices, and every membership,
	// tag and lease of them, but not the person or the other site's.
	update(t, s, func(tx store.Tx) error { return tx.DeleteSite(f.site.SiteID) })
	equal(t, "nodes left", len(get(t, s, nodes, store.Query{})), 2)
	equal(t, "slices left", len(get(t, s, slicesOf, store.Query{})), 1)
	k := only(t, s, slicesOf, "slice_id", keep.slice.SliceID)
	equal(t, "kept slice's nodes", k.NodeIDs, []int64{keep.nodes[0].NodeID})
	equal(t, "kept slice's tags", k.SliceTagIDs, []int64{})
	equal(t, "kept slice's persons", k.PersonIDs, []int64{f.person.PersonID})
	equal(t, "leases", len(get(t, s, leases, store.Query{})), 0)
	p := only(t, s, persons, "person_id", f.person.PersonID)
	equal(t, "person's sites", p.SiteIDs, []int64{})

	// Deleting the person takes keys, memberships, sessions and tokens.
	update(t, s, func(tx store.Tx) error { return tx.DeletePerson(f.person.PersonID) })
	equal(t, "keys", len(get(t, s, keys, store.Query{})), 0)
	equal(t, "kept slice's persons", only(t, s, slicesOf, "slice_id", keep.slice.SliceID).PersonIDs, []int64{})
	view(t, s, func(tx store.Tx) error {
		if _, _, err := tx.Session("sess", 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session of deleted person: %v", err)
		}
		if _, err := tx.Token("tok", 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token of deleted person: %v", err)
		}
		return nil
	})

	// Deleting a slice takes its tags and node memberships; deleting a
	// node takes its memberships.
	update(t, s, func(tx store.Tx) error {
		tag := api.SliceTag{SliceID: keep.slice.SliceID, TagName: "x", Value: "1"}
		if err := tx.AddSliceTag(&tag); err != nil {
			return err
		}
		if err := tx.DeleteNode(keep.nodes[0].NodeID); err != nil {
			return err
		}
		if n, _ := tx.Slices(store.Query{}); len(n[0].NodeIDs) != 0 {
			t.Errorf("slice nodes after node delete: %v", n[0].NodeIDs)
		}
		return tx.DeleteSlice(keep.slice.SliceID)
	})
	equal(t, "tags", len(get(t, s, sliceTags, store.Query{})), 0)
	equal(t, "node slices", only(t, s, nodes, "node_id", keep.nodes[1].NodeID).SliceIDs, []int64{})
}

func testSessionsAndTokens(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddSession("live", f.person.PersonID, 0, 1000); err != nil {
			return err
		}
		if err := tx.AddSession("node", 0, f.nodes[0].NodeID, 1000); err != nil {
			return err
		}
		if err := tx.AddSession("live", f.person.PersonID, 0, 1000); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate session: %v", err)
		}
		return tx.AddToken("t1", f.person.PersonID, "laptop", 1000)
	})
	view(t, s, func(tx store.Tx) error {
		if p, n, err := tx.Session("live", 999); err != nil || p != f.person.PersonID || n != 0 {
			t.Errorf("live session = %d, %d, %v", p, n, err)
		}
		if p, n, err := tx.Session("node", 999); err != nil || p != 0 || n != f.nodes[0].NodeID {
			t.Errorf("node session = %d, %d, %v", p, n, err)
		}
		if _, _, err := tx.Session("live", 1000); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		if _, _, err := tx.Session("nope", 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("absent session: %v", err)
		}
		if p, err := tx.Token("t1", 999); err != nil || p != f.person.PersonID {
			t.Errorf("token = %d, %v", p, err)
		}
		if _, err := tx.Token("t1", 1001); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired token: %v", err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeleteSession("live"); err != nil {
			return err
		}
		return tx.DeleteToken("t1")
	})
	view(t, s, func(tx store.Tx) error {
		if _, _, err := tx.Session("live", 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted session: %v", err)
		}
		if _, err := tx.Token("t1", 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted token: %v", err)
		}
		return nil
	})
}

// testRevokePerson: a person's sessions and tokens end at once, but the
// two kept, and no one else's.
func testRevokePerson(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	g := seed(t, s, "other")
	update(t, s, func(tx store.Tx) error {
		for _, k := range []string{"s1", "s2", "keep"} {
			if err := tx.AddSession(k, f.person.PersonID, 0, 0); err != nil {
				return err
			}
		}
		for _, k := range []string{"t1", "t2", "tkeep"} {
			if err := tx.AddToken(k, f.person.PersonID, "cli", 0); err != nil {
				return err
			}
		}
		if err := tx.AddSession("node", 0, f.nodes[0].NodeID, 0); err != nil {
			return err
		}
		if err := tx.AddSession("g", g.person.PersonID, 0, 0); err != nil {
			return err
		}
		return tx.AddToken("gt", g.person.PersonID, "cli", 0)
	})
	update(t, s, func(tx store.Tx) error {
		n, err := tx.RevokePerson(f.person.PersonID, "keep", "tkeep")
		if err == nil && n != 4 {
			t.Errorf("revoked %d, want 4", n)
		}
		return err
	})
	alive := func(tx store.Tx) []string {
		var out []string
		for _, k := range []string{"s1", "s2", "keep", "node", "g"} {
			if _, _, err := tx.Session(k, 1); err == nil {
				out = append(out, k)
			}
		}
		for _, k := range []string{"t1", "t2", "tkeep", "gt"} {
			if _, err := tx.Token(k, 1); err == nil {
				out = append(out, k)
			}
		}
		return out
	}
	view(t, s, func(tx store.Tx) error {
		if got := fmt.Sprint(alive(tx)); got != "[keep node g tkeep gt]" {
			t.Errorf("alive after revoking but two: %s", got)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		_, err := tx.RevokePerson(f.person.PersonID, "", "")
		return err
	})
	view(t, s, func(tx store.Tx) error {
		if got := fmt.Sprint(alive(tx)); got != "[node g gt]" {
			t.Errorf("alive after revoking all: %s", got)
		}
		return nil
	})
}

func testNodeTokens(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddNodeToken(f.nodes[0].NodeID, "tok", 500); err != nil {
			return err
		}
		return tx.AddNodeToken(f.nodes[1].NodeID, "old", 100)
	})
	use := func(hash string, now int64) (int64, error) {
		var id int64
		err := s.Update(t.Context(), "system", func(tx store.Tx) error {
			var err error
			id, err = tx.UseNodeToken(hash, now)
			return err
		})
		return id, err
	}
	if _, err := use("old", 100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	if id, err := use("tok", 400); err != nil || id != f.nodes[0].NodeID {
		t.Errorf("first use = %d, %v", id, err)
	}
	if _, err := use("tok", 400); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second use: %v, want ErrNotFound", err)
	}
}

func testNodeVersions(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	versions := func() map[int64]int64 {
		var v map[int64]int64
		view(t, s, func(tx store.Tx) error {
			var err error
			v, err = tx.NodeVersions([]int64{n0, n1, 999999})
			return err
		})
		return v
	}
	equal(t, "before", versions(), map[int64]int64{n0: 0, n1: 0, 999999: 0})
	update(t, s, func(tx store.Tx) error { return tx.BumpNodes([]int64{n0, n1, n0, 999999}) })
	update(t, s, func(tx store.Tx) error { return tx.BumpNodes([]int64{n0}) })
	equal(t, "after", versions(), map[int64]int64{n0: 2, n1: 1, 999999: 0})
}

func testSliverReports(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0 := f.nodes[0].NodeID
	set := func(at int64, r ...api.SliverReport) {
		update(t, s, func(tx store.Tx) error { return tx.SetSliverReports(n0, r, at) })
	}
	set(10, api.SliverReport{Name: "ex_one", State: "running"}, api.SliverReport{Name: "ex_two", State: "failed", Reason: "no disk"})
	set(20, api.SliverReport{Name: "ex_one", State: "running"})
	equal(t, "reports", get(t, s, reports, where(eq("node_id", n0))),
		[]store.SliverReportRow{{NodeID: n0, Name: "ex_one", State: "running", Updated: 20}})
	set(30, api.SliverReport{Name: "ex_one", State: "running"})
	n := len(get(t, s, events, where(eq("action", "SetSliverReports"))))
	equal(t, "report events (logged on change only)", n, 2)
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(n0) })
	equal(t, "reports of a deleted node", len(get(t, s, reports, store.Query{})), 0)
}
