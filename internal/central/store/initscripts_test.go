package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var (
	initScripts = store.Tx.InitScripts
	confFiles   = store.Tx.ConfFiles
	sessions    = store.Tx.Sessions
)

func testInitScripts(t *testing.T, b backend) {
	s := b.newStore(t)
	a := store.InitScript{Name: "web", Enabled: true, Script: "#!/bin/sh\nexec httpd"}
	off := store.InitScript{Name: "old", Script: "true"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddInitScript(&a); err != nil {
			return err
		}
		return tx.AddInitScript(&off)
	})
	equal(t, "enabled", get(t, s, initScripts, where(eq("enabled", true))), []store.InitScript{a})
	err := s.Update(t.Context(), "system", func(tx store.Tx) error {
		dup := store.InitScript{Name: "web", Script: "x"}
		return tx.AddInitScript(&dup)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second initscript named web: %v, want ErrConflict", err)
	}
	off.Name = "web"
	err = s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.UpdateInitScript(&off) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("renaming onto web: %v, want ErrConflict", err)
	}
	off.Name, off.Enabled = "new", true
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpdateInitScript(&off); err != nil {
			return err
		}
		return tx.DeleteInitScript(a.InitScriptID)
	})
	equal(t, "after update and delete", get(t, s, initScripts, store.Query{}), []store.InitScript{off})
	err = s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.DeleteInitScript(a.InitScriptID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
}

func testConfFiles(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	c := store.ConfFile{Enabled: true, Source: "PlanetLabConf/ntp.conf", Dest: "/etc/ntp.conf",
		FilePermissions: "644", FileOwner: "root", FileGroup: "root", PostinstallCmd: "service ntpd restart"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddConfFile(&c); err != nil {
			return err
		}
		if err := tx.AddConfFileToNode(c.ConfFileID, f.nodes[0].NodeID); err != nil {
			return err
		}
		return tx.AddConfFileToNode(c.ConfFileID, f.nodes[0].NodeID) // idempotent
	})
	c.NodeIDs = []int64{f.nodes[0].NodeID}
	equal(t, "linked", get(t, s, confFiles, where(eq("node_ids", f.nodes[0].NodeID))), []store.ConfFile{c})
	equal(t, "not linked", get(t, s, confFiles, where(eq("node_ids", f.nodes[1].NodeID))), []store.ConfFile{})
	c.Enabled, c.AlwaysUpdate = false, true
	update(t, s, func(tx store.Tx) error { return tx.UpdateConfFile(&c) })
	equal(t, "updated", get(t, s, confFiles, store.Query{}), []store.ConfFile{c})
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(f.nodes[0].NodeID) })
	c.NodeIDs = []int64{}
	equal(t, "node deleted", get(t, s, confFiles, store.Query{}), []store.ConfFile{c})
	err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.DeleteConfFileFromNode(c.ConfFileID, f.nodes[1].NodeID) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unlinking a node never linked: %v, want ErrNotFound", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteConfFile(c.ConfFileID) })
	equal(t, "deleted", get(t, s, confFiles, store.Query{}), []store.ConfFile{})
}

func testUpdateLease(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	l := api.Lease{TFrom: 3600, TUntil: 7200, NodeID: f.nodes[0].NodeID, SliceID: f.slice.SliceID}
	update(t, s, func(tx store.Tx) error { return tx.AddLease(&l) })
	l.TUntil = 10800
	update(t, s, func(tx store.Tx) error { return tx.UpdateLease(&l) })
	equal(t, "updated", get(t, s, leases, store.Query{}), []api.Lease{l})
	moved := l
	moved.NodeID = f.nodes[1].NodeID
	err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.UpdateLease(&moved) })
	if !errors.Is(err, store.ErrInvalidField) {
		t.Errorf("moving a lease to another node: %v, want ErrInvalidField", err)
	}
	moved = l
	moved.LeaseID = 999999
	err = s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.UpdateLease(&moved) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("updating a missing lease: %v, want ErrNotFound", err)
	}
	equal(t, "unchanged", get(t, s, leases, store.Query{}), []api.Lease{l})
}

func testPrimarySite(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	other := newSite("zz")
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddSite(&other); err != nil {
			return err
		}
		return tx.AddPersonToSite(f.person.PersonID, other.SiteID)
	})
	siteIDs := func() []int64 { return only(t, s, persons, "person_id", f.person.PersonID).SiteIDs }
	equal(t, "by id", siteIDs(), []int64{f.site.SiteID, other.SiteID})
	update(t, s, func(tx store.Tx) error { return tx.SetPrimarySite(f.person.PersonID, other.SiteID) })
	equal(t, "primary first", siteIDs(), []int64{other.SiteID, f.site.SiteID})
	err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.SetPrimarySite(f.person.PersonID, 999999) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a site the person is not at: %v, want ErrNotFound", err)
	}
	equal(t, "unchanged", siteIDs(), []int64{other.SiteID, f.site.SiteID})
}

func testSessionList(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddSession("aa", f.person.PersonID, 0, 100); err != nil {
			return err
		}
		return tx.AddSession("bb", 0, f.nodes[0].NodeID, 200)
	})
	equal(t, "all", get(t, s, sessions, store.Query{}), []store.SessionRow{
		{SessionID: "aa", PersonID: f.person.PersonID, Expires: 100}, {SessionID: "bb", NodeID: f.nodes[0].NodeID, Expires: 200}})
	equal(t, "a person's", get(t, s, sessions, where(eq("person_id", f.person.PersonID))), []store.SessionRow{
		{SessionID: "aa", PersonID: f.person.PersonID, Expires: 100}})
}
