package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

func testEvents(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	secrets := []string{"hash-of-ada", "pw-hash-2", "node-secret-xyz", "sess-hash-abc", "tok-hash-def", "reg-hash-ghi"}
	err := s.Update(t.Context(), "node 7", func(tx store.Tx) error {
		if err := tx.SetPasswordHash(f.person.PersonID, "pw-hash-2"); err != nil {
			return err
		}
		if err := tx.SetNodeSecret(f.nodes[0].NodeID, "node-secret-xyz"); err != nil {
			return err
		}
		if err := tx.AddSession("sess-hash-abc", f.person.PersonID, 0, 0); err != nil {
			return err
		}
		if err := tx.AddToken("tok-hash-def", f.person.PersonID, "cli", 0); err != nil {
			return err
		}
		if err := tx.AddNodeToken(f.nodes[1].NodeID, "reg-hash-ghi", 0); err != nil {
			return err
		}
		if _, err := tx.UseNodeToken("reg-hash-ghi", 1); err != nil {
			return err
		}
		sl := f.slice
		sl.Description = "changed"
		if err := tx.UpdateSlice(&sl); err != nil {
			return err
		}
		if err := tx.AddSliceToNodes(sl.SliceID, []int64{f.nodes[0].NodeID}); err != nil {
			return err
		}
		if err := tx.TouchNode(f.nodes[0].NodeID, 5); err != nil { // not logged
			return err
		}
		if err := tx.DeleteSession("sess-hash-abc"); err != nil {
			return err
		}
		return tx.DeleteToken("tok-hash-def")
	})
	if err != nil {
		t.Fatal(err)
	}
	all := get(t, s, events, store.Query{})
	var actions []string
	for _, e := range all {
		if e.Actor != "person 1" && e.Actor != "node 7" {
			t.Errorf("event %d actor %q", e.EventID, e.Actor)
		}
		if e.Time == 0 || e.ObjectType == "" || !json.Valid([]byte(e.Detail)) {
			t.Errorf("event %+v incomplete", e)
		}
		for _, sec := range secrets {
			if strings.Contains(e.Detail, sec) {
				t.Errorf("event %s detail %s holds a secret", e.Action, e.Detail)
			}
		}
		actions = append(actions, e.Action)
	}
	want := []string{"AddSite", "AddPerson", "AddPersonToSite", "AddNode", "AddNode", "AddSlice",
		"SetPasswordHash", "SetNodeSecret", "AddSession", "AddToken", "AddNodeToken", "UseNodeToken",
		"UpdateSlice", "AddSliceToNodes", "DeleteSession", "DeleteToken"}
	equal(t, "actions", actions, want)

	upd := get(t, s, events, where(eq("action", "UpdateSlice"), eq("actor", "node 7")))
	if len(upd) != 1 || upd[0].ObjectID != f.slice.SliceID || upd[0].ObjectType != "slice" ||
		upd[0].Detail != `{"description":"changed"}` {
		t.Errorf("UpdateSlice event = %+v, want only the changed field", upd)
	}
	last := get(t, s, events, store.Query{Sort: []string{"-event_id"}, Limit: 1})
	equal(t, "newest event", last[0].Action, "DeleteToken")
}

func testVerbatim(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	odd := []string{"'); DROP TABLE sites; --", `%`, `_`, `\`, `a%b_c*d`, `"quoted" 'single'`,
		"ünïcødé ✓ 日本語", "?", "$1", "line\nbreak", "tab\there"}
	ids := map[string]int64{}
	update(t, s, func(tx store.Tx) error {
		for i, v := range odd {
			sl := newSlice(f.site.SiteID, v)
			sl.Description = v
			if err := tx.AddSlice(&sl); err != nil {
				return err
			}
			ids[v] = sl.SliceID
			tag := api.SliceTag{SliceID: sl.SliceID, TagName: "initscript", Value: v}
			if err := tx.AddSliceTag(&tag); err != nil {
				return err
			}
			p := api.Person{Email: v, FirstName: v}
			if err := tx.AddPerson(&p, v); err != nil {
				t.Errorf("person %d: %v", i, err)
			}
		}
		return nil
	})
	if n := len(get(t, s, sites, store.Query{})); n != 1 {
		t.Fatalf("%d sites: the table was tampered with", n)
	}
	for _, v := range odd {
		l := get(t, s, slicesOf, where(eq("name", v)))
		if len(l) != 1 || l[0].Name != v || l[0].Description != v || l[0].SliceID != ids[v] {
			t.Errorf("slice named %q: found %+v", v, l)
		}
		tags := get(t, s, sliceTags, where(eq("value", v)))
		if len(tags) != 1 || tags[0].Value != v {
			t.Errorf("tag valued %q: found %+v", v, tags)
		}
		// As a pattern, a literal value with no * or % matches itself only.
		if !strings.ContainsAny(v, "*%") {
			if l := get(t, s, slicesOf, where(store.Cond{Field: "name", Op: store.Like, Value: v})); len(l) != 1 {
				t.Errorf("pattern %q matched %d slices, want 1", v, len(l))
			}
		}
		view(t, s, func(tx store.Tx) error {
			if _, h, err := tx.PasswordHash(v); err != nil || h != v {
				t.Errorf("password hash of %q = %q, %v", v, h, err)
			}
			return nil
		})
	}
	if l := get(t, s, slicesOf, where(store.Cond{Field: "name", Op: store.Like, Value: `*\*`})); len(l) != 1 || l[0].Name != `\` {
		t.Errorf("pattern ending in a backslash: %+v", l)
	}
}

func testViewIsReadOnly(t *testing.T, b backend) {
	s := b.newStore(t)
	seed(t, s, "ex")
	err := s.View(t.Context(), func(tx store.Tx) error { x := newSite("ro"); return tx.AddSite(&x) })
	if err == nil {
		t.Error("AddSite in a View succeeded")
	}
	equal(t, "sites", len(get(t, s, sites, store.Query{})), 1)
}

func testRollbackOnError(t *testing.T, b backend) {
	s := b.newStore(t)
	seed(t, s, "ex")
	boom := errors.New("boom")
	err := s.Update(t.Context(), "system", func(tx store.Tx) error {
		x := newSite("gone")
		if err := tx.AddSite(&x); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update = %v, want fn's error", err)
	}
	equal(t, "sites", len(get(t, s, sites, store.Query{})), 1)
	equal(t, "events of the rolled back site", len(get(t, s, events, where(eq("action", "AddSite")))), 1)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Update(ctx, "system", func(tx store.Tx) error { return nil }); err == nil {
		t.Error("Update with a cancelled context succeeded")
	}
}

func testMigrations(t *testing.T, b backend) {
	dsn, dir := b.fresh(t)
	s := open(t, dsn, dir)
	seed(t, s, "ex")
	s.Close()
	s = open(t, dsn, dir) // reopening an up-to-date schema changes nothing
	equal(t, "sites after reopen", len(get(t, s, sites, store.Query{})), 1)
	s.Close()

	raw, err := b.raw(dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRow("SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := raw.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(t.Context(), dsn, dir, discard); err == nil {
		s.Close()
		t.Error("opened a database newer than the code")
	} else if !strings.Contains(err.Error(), "newer") {
		t.Errorf("open newer database: %v", err)
	}
}
