package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testTagTypes keeps tag types with their roles: unique names, roles
// listed in id order with their names, filters by role, an unknown role
// refused, and roles gone with their type.
func testTagTypes(t *testing.T, b backend) {
	s := b.newStore(t)
	arch := api.TagType{TagName: "arch", Category: "node/config", RoleIDs: []int64{api.RolePI, api.RoleAdmin}}
	note := api.TagType{TagName: "note", Category: "slice/general", Description: "free text", Contract: true}
	update(t, s, func(tx store.Tx) error {
		for _, x := range []*api.TagType{&arch, &note} {
			if err := tx.AddTagType(x); err != nil {
				return err
			}
		}
		return nil
	})
	got := only(t, s, store.Tx.TagTypes, "tag_type_id", arch.TagTypeID)
	equal(t, "roles", []any{got.RoleIDs, got.Roles}, []any{[]int64{api.RoleAdmin, api.RolePI}, []string{"admin", "pi"}})
	equal(t, "contract", only(t, s, store.Tx.TagTypes, "tag_type_id", note.TagTypeID).Contract, true)
	equal(t, "by role", len(get(t, s, store.Tx.TagTypes, where(eq("roles", "pi")))), 1)
	dup := func(tx store.Tx) error { x := api.TagType{TagName: "arch"}; return tx.AddTagType(&x) }
	rename := func(tx store.Tx) error { x := note; x.TagName = "arch"; return tx.UpdateTagType(&x) }
	for name, fn := range map[string]func(store.Tx) error{"add": dup, "rename": rename} {
		if err := s.Update(t.Context(), "system", fn); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s a taken tag name: %v, want ErrConflict", name, err)
		}
	}
	badRole := func(tx store.Tx) error { x := note; x.RoleIDs = []int64{99}; return tx.UpdateTagType(&x) }
	if err := s.Update(t.Context(), "system", badRole); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown role: %v, want ErrNotFound", err)
	}
	update(t, s, func(tx store.Tx) error {
		arch.RoleIDs, arch.Description = []int64{api.RoleTech}, "the node's architecture"
		return tx.UpdateTagType(&arch)
	})
	got = only(t, s, store.Tx.TagTypes, "tag_type_id", arch.TagTypeID)
	equal(t, "after update", []any{got.RoleIDs, got.Description}, []any{[]int64{api.RoleTech}, "the node's architecture"})
	update(t, s, func(tx store.Tx) error { return tx.DeleteTagType(arch.TagTypeID) })
	equal(t, "left", len(get(t, s, store.Tx.TagTypes, store.Query{})), 1)
}

// testNodeTags keeps node tags (one a type a node, named by their type)
// and node groups, whose nodes are those tagged with the group's value.
func testNodeTags(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	arch := api.TagType{TagName: "arch", Category: "node/config"}
	a := api.NodeTag{NodeID: n0, Value: "x86_64"}
	c := api.NodeTag{NodeID: n1, Value: "aarch64"}
	g := api.NodeGroup{GroupName: "x86 nodes", Value: "x86_64"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddTagType(&arch); err != nil {
			return err
		}
		a.TagTypeID, c.TagTypeID, g.TagTypeID = arch.TagTypeID, arch.TagTypeID, arch.TagTypeID
		for _, x := range []*api.NodeTag{&a, &c} {
			if err := tx.AddNodeTag(x); err != nil {
				return err
			}
		}
		return tx.AddNodeGroup(&g)
	})
	got := only(t, s, store.Tx.NodeTags, "node_tag_id", a.NodeTagID)
	equal(t, "node tag", []any{got.TagName, got.Value, got.Hostname, got.Category}, []any{"arch", "x86_64", f.nodes[0].Hostname, "node/config"})
	equal(t, "by tagname", len(get(t, s, store.Tx.NodeTags, where(eq("tagname", "arch")))), 2)
	dup := func(tx store.Tx) error {
		x := api.NodeTag{NodeID: n0, TagTypeID: arch.TagTypeID}
		return tx.AddNodeTag(&x)
	}
	if err := s.Update(t.Context(), "system", dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second tag of a type on a node: %v, want ErrConflict", err)
	}
	equal(t, "group's nodes", only(t, s, store.Tx.NodeGroups, "nodegroup_id", g.NodeGroupID).NodeIDs, []int64{n0})
	node := only(t, s, nodes, "node_id", n0)
	equal(t, "node's tags and groups", [][]int64{node.NodeTagIDs, node.NodeGroupIDs}, [][]int64{{a.NodeTagID}, {g.NodeGroupID}})
	update(t, s, func(tx store.Tx) error { return tx.UpdateNodeTag(c.NodeTagID, "x86_64") })
	equal(t, "group's nodes after update", only(t, s, store.Tx.NodeGroups, "nodegroup_id", g.NodeGroupID).NodeIDs, []int64{n0, n1})
	update(t, s, func(tx store.Tx) error { g.Value = "aarch64"; return tx.UpdateNodeGroup(&g) })
	equal(t, "group's nodes, new value", only(t, s, store.Tx.NodeGroups, "nodegroup_id", g.NodeGroupID).NodeIDs, []int64{})
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(n1) })
	equal(t, "tags gone with their node", len(get(t, s, store.Tx.NodeTags, store.Query{})), 1)
	update(t, s, func(tx store.Tx) error { return tx.DeleteTagType(arch.TagTypeID) })
	equal(t, "tags and groups gone with their type", []int{len(get(t, s, store.Tx.NodeTags, store.Query{})), len(get(t, s, store.Tx.NodeGroups, store.Query{}))}, []int{0, 0})
}

// testSiteTags keeps site tags: one a type a site, named by their type,
// gone with their site.
func testSiteTags(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	hrn := api.TagType{TagName: "hrn", Category: "sfa"}
	a := api.SiteTag{SiteID: f.site.SiteID, Value: "plc.ex"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddTagType(&hrn); err != nil {
			return err
		}
		a.TagTypeID = hrn.TagTypeID
		return tx.AddSiteTag(&a)
	})
	got := only(t, s, store.Tx.SiteTags, "site_tag_id", a.SiteTagID)
	equal(t, "site tag", []any{got.TagName, got.Value, got.LoginBase}, []any{"hrn", "plc.ex", f.site.LoginBase})
	dup := func(tx store.Tx) error {
		x := api.SiteTag{SiteID: f.site.SiteID, TagTypeID: hrn.TagTypeID}
		return tx.AddSiteTag(&x)
	}
	if err := s.Update(t.Context(), "system", dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second tag of a type on a site: %v, want ErrConflict", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.UpdateSiteTag(a.SiteTagID, "plc.ex2") })
	equal(t, "after update", only(t, s, store.Tx.SiteTags, "site_tag_id", a.SiteTagID).Value, "plc.ex2")
	update(t, s, func(tx store.Tx) error { return tx.DeleteSiteTag(a.SiteTagID) })
	equal(t, "left", len(get(t, s, store.Tx.SiteTags, store.Query{})), 0)
}

// testPersonTags keeps person tags: one a type a person, named by their type,
// gone with their person.
func testPersonTags(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	hrn := api.TagType{TagName: "hrn", Category: "sfa"}
	a := api.PersonTag{PersonID: f.person.PersonID, Value: "plc.ex"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddTagType(&hrn); err != nil {
			return err
		}
		a.TagTypeID = hrn.TagTypeID
		return tx.AddPersonTag(&a)
	})
	got := only(t, s, store.Tx.PersonTags, "person_tag_id", a.PersonTagID)
	equal(t, "person tag", []any{got.TagName, got.Value, got.Email}, []any{"hrn", "plc.ex", f.person.Email})
	dup := func(tx store.Tx) error {
		x := api.PersonTag{PersonID: f.person.PersonID, TagTypeID: hrn.TagTypeID}
		return tx.AddPersonTag(&x)
	}
	if err := s.Update(t.Context(), "system", dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second tag of a type on a person: %v, want ErrConflict", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.UpdatePersonTag(a.PersonTagID, "plc.ex2") })
	equal(t, "after update", only(t, s, store.Tx.PersonTags, "person_tag_id", a.PersonTagID).Value, "plc.ex2")
	update(t, s, func(tx store.Tx) error { return tx.DeletePersonTag(a.PersonTagID) })
	equal(t, "left", len(get(t, s, store.Tx.PersonTags, store.Query{})), 0)
}
