package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

func testSites(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	got := only(t, s, sites, "site_id", f.site.SiteID)
	want := f.site
	want.PersonIDs = []int64{f.person.PersonID}
	want.NodeIDs = []int64{f.nodes[0].NodeID, f.nodes[1].NodeID}
	want.SliceIDs = []int64{f.slice.SliceID}
	want.AddressIDs, want.PCUIDs = []int64{}, []int64{}
	equal(t, "added site", got, want)
	if got.DateCreated == 0 || got.LastUpdated == 0 || got.SiteID == 0 {
		t.Errorf("site id and times not set: %+v", got)
	}

	got.Name, got.Latitude, got.Enabled, got.MaxSlices = "Renamed", nil, false, 3
	update(t, s, func(tx store.Tx) error { return tx.UpdateSite(&got) })
	again := only(t, s, sites, "site_id", f.site.SiteID)
	equal(t, "updated site", again, got)

	update(t, s, func(tx store.Tx) error { return tx.DeleteSite(f.site.SiteID) })
	if l := get(t, s, sites, store.Query{}); len(l) != 0 {
		t.Errorf("sites after delete: %+v", l)
	}
}

func testPersons(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	var key api.Key
	update(t, s, func(tx store.Tx) error {
		for range 2 { // idempotent
			if err := tx.AddRoleToPerson(api.RolePI, f.person.PersonID); err != nil {
				return err
			}
			if err := tx.AddRoleToPerson(api.RoleUser, f.person.PersonID); err != nil {
				return err
			}
			if err := tx.AddPersonToSite(f.person.PersonID, f.site.SiteID); err != nil {
				return err
			}
			if err := tx.AddPersonToSlice(f.person.PersonID, f.slice.SliceID); err != nil {
				return err
			}
		}
		key = api.Key{KeyType: "ssh", Key: "ssh-ed25519 AAAA ada", PersonID: f.person.PersonID}
		return tx.AddKey(&key)
	})
	got := only(t, s, persons, "person_id", f.person.PersonID)
	want := f.person
	want.RoleIDs, want.Roles = []int64{api.RolePI, api.RoleUser}, []string{"pi", "user"}
	want.SiteIDs, want.KeyIDs, want.SliceIDs = []int64{f.site.SiteID}, []int64{key.KeyID}, []int64{f.slice.SliceID}
	equal(t, "person", got, want)
	equal(t, "key", only(t, s, keys, "key_id", key.KeyID), key)

	got.Bio, got.Enabled = "hello", false
	update(t, s, func(tx store.Tx) error { return tx.UpdatePerson(&got) })
	equal(t, "updated person", only(t, s, persons, "person_id", f.person.PersonID), got)

	view(t, s, func(tx store.Tx) error {
		id, hash, err := tx.PasswordHash("ADA@EX.example")
		if err != nil || id != f.person.PersonID || hash != "hash-of-ada" {
			t.Errorf("PasswordHash by upper-case email = %d, %q, %v", id, hash, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error {
		if err := tx.SetPasswordHash(f.person.PersonID, "new-hash"); err != nil {
			return err
		}
		if _, h, _ := tx.PasswordHash(f.person.Email); h != "new-hash" {
			t.Errorf("hash after SetPasswordHash = %q", h)
		}
		if err := tx.DeleteRoleFromPerson(api.RolePI, f.person.PersonID); err != nil {
			return err
		}
		if err := tx.DeletePersonFromSite(f.person.PersonID, f.site.SiteID); err != nil {
			return err
		}
		if err := tx.DeletePersonFromSlice(f.person.PersonID, f.slice.SliceID); err != nil {
			return err
		}
		return tx.DeleteKey(key.KeyID)
	})
	got = only(t, s, persons, "person_id", f.person.PersonID)
	equal(t, "roles after delete", got.Roles, []string{"user"})
	equal(t, "lists after delete", [][]int64{got.SiteIDs, got.KeyIDs, got.SliceIDs}, [][]int64{{}, {}, {}})
	update(t, s, func(tx store.Tx) error { return tx.DeletePerson(f.person.PersonID) })
	view(t, s, func(tx store.Tx) error {
		if _, _, err := tx.PasswordHash(f.person.Email); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PasswordHash of deleted person: %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testNodes(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	update(t, s, func(tx store.Tx) error { return tx.AddSliceToNodes(f.slice.SliceID, []int64{f.nodes[0].NodeID}) })
	got := only(t, s, nodes, "node_id", f.nodes[0].NodeID)
	want := f.nodes[0]
	want.SliceIDs, want.SliceIDsWhitelist, want.InterfaceIDs, want.PCUIDs = []int64{f.slice.SliceID}, []int64{}, []int64{}, []int64{}
	want.NodeTagIDs, want.NodeGroupIDs = []int64{}, []int64{}
	equal(t, "node", got, want)

	got.BootState, got.Version, got.Hostname = "safeboot", "orbis-2", "renamed.example"
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpdateNode(&got); err != nil {
			return err
		}
		return tx.TouchNode(got.NodeID, 12345)
	})
	got.LastContact = 12345
	equal(t, "updated node", only(t, s, nodes, "node_id", f.nodes[0].NodeID), got)

	update(t, s, func(tx store.Tx) error { return tx.SetNodeSecret(got.NodeID, "s3cret") })
	view(t, s, func(tx store.Tx) error {
		sec, err := tx.NodeSecret(got.NodeID)
		if err != nil || sec != "s3cret" {
			t.Errorf("NodeSecret = %q, %v", sec, err)
		}
		return nil
	})
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(got.NodeID) })
	if l := get(t, s, nodes, store.ByID("node_id", got.NodeID)); len(l) != 0 {
		t.Errorf("node after delete: %+v", l)
	}
}

func testSlices(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	var tag api.SliceTag
	update(t, s, func(tx store.Tx) error {
		ids := []int64{f.nodes[0].NodeID, f.nodes[1].NodeID, f.nodes[0].NodeID}
		for range 2 { // idempotent, duplicates ignored
			if err := tx.AddSliceToNodes(f.slice.SliceID, ids); err != nil {
				return err
			}
			if err := tx.AddPersonToSlice(f.person.PersonID, f.slice.SliceID); err != nil {
				return err
			}
		}
		tag = api.SliceTag{SliceID: f.slice.SliceID, TagName: "cpu_share", Value: "4"}
		return tx.AddSliceTag(&tag)
	})
	got := only(t, s, slicesOf, "slice_id", f.slice.SliceID)
	want := f.slice
	want.NodeIDs = []int64{f.nodes[0].NodeID, f.nodes[1].NodeID}
	want.PersonIDs, want.SliceTagIDs = []int64{f.person.PersonID}, []int64{tag.SliceTagID}
	equal(t, "slice", got, want)
	if got.Created == 0 {
		t.Error("slice created time not set")
	}

	got.Expires, got.Description, got.Shares = 2100000000, "renewed", 20
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpdateSlice(&got); err != nil {
			return err
		}
		return tx.DeleteSliceFromNodes(got.SliceID, []int64{f.nodes[1].NodeID})
	})
	got.NodeIDs = []int64{f.nodes[0].NodeID}
	equal(t, "updated slice", only(t, s, slicesOf, "slice_id", f.slice.SliceID), got)
	update(t, s, func(tx store.Tx) error { return tx.DeleteSlice(got.SliceID) })
	if l := get(t, s, slicesOf, store.Query{}); len(l) != 0 {
		t.Errorf("slices after delete: %+v", l)
	}
}

func testSliceTagsAndLeases(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	global := api.SliceTag{SliceID: f.slice.SliceID, TagName: "net_max_rate", Value: "1000"}
	local := api.SliceTag{SliceID: f.slice.SliceID, TagName: "net_max_rate", Value: "50", NodeID: f.nodes[1].NodeID}
	lease := api.Lease{TFrom: 3600, TUntil: 7200, NodeID: f.nodes[0].NodeID, SliceID: f.slice.SliceID}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddSliceTag(&global); err != nil {
			return err
		}
		if err := tx.AddSliceTag(&local); err != nil {
			return err
		}
		return tx.AddLease(&lease)
	})
	equal(t, "tags", get(t, s, sliceTags, where(eq("slice_id", f.slice.SliceID))), []api.SliceTag{global, local})
	equal(t, "global tags", get(t, s, sliceTags, where(eq("node_id", 0))), []api.SliceTag{global})
	equal(t, "lease", get(t, s, leases, store.Query{}), []api.Lease{lease})

	local.Value = "60"
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpdateSliceTag(&local); err != nil {
			return err
		}
		if err := tx.DeleteSliceTag(global.SliceTagID); err != nil {
			return err
		}
		return tx.DeleteLease(lease.LeaseID)
	})
	equal(t, "tags after update", get(t, s, sliceTags, store.Query{}), []api.SliceTag{local})
	equal(t, "leases after delete", get(t, s, leases, store.Query{}), []api.Lease{})
}

func testNotFound(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	const missing = 999999
	for name, fn := range map[string]func(tx store.Tx) error{
		"UpdateSite":       func(tx store.Tx) error { x := f.site; x.SiteID = missing; return tx.UpdateSite(&x) },
		"DeleteSite":       func(tx store.Tx) error { return tx.DeleteSite(missing) },
		"DeletePerson":     func(tx store.Tx) error { return tx.DeletePerson(missing) },
		"UpdateNode":       func(tx store.Tx) error { x := f.nodes[0]; x.NodeID = missing; return tx.UpdateNode(&x) },
		"AddNode":          func(tx store.Tx) error { x := newNode(missing, "x.example"); return tx.AddNode(&x) },
		"AddSlice":         func(tx store.Tx) error { x := newSlice(missing, "ex_x"); return tx.AddSlice(&x) },
		"DeleteSlice":      func(tx store.Tx) error { return tx.DeleteSlice(missing) },
		"AddSliceToNodes":  func(tx store.Tx) error { return tx.AddSliceToNodes(f.slice.SliceID, []int64{missing}) },
		"AddPersonToSlice": func(tx store.Tx) error { return tx.AddPersonToSlice(missing, f.slice.SliceID) },
		"DeleteKey":        func(tx store.Tx) error { return tx.DeleteKey(missing) },
		"UpdateKey":        func(tx store.Tx) error { return tx.UpdateKey(&api.Key{KeyID: missing, KeyType: "ssh", Key: "k"}) },
		"BlacklistKey":     func(tx store.Tx) error { return tx.BlacklistKey(missing) },
		"DeleteSliceTag":   func(tx store.Tx) error { return tx.DeleteSliceTag(missing) },
		"DeleteLease":      func(tx store.Tx) error { return tx.DeleteLease(missing) },
		"TouchNode":        func(tx store.Tx) error { return tx.TouchNode(missing, 1) },
		"NodeSecret":       func(tx store.Tx) error { _, err := tx.NodeSecret(missing); return err },
		"DeletePersonFromSite": func(tx store.Tx) error {
			return tx.DeletePersonFromSite(f.person.PersonID, missing)
		},
	} {
		err := s.Update(t.Context(), "system", fn)
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a missing record: %v, want ErrNotFound", name, err)
		}
	}
}
