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
