package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testIlinksAndScopes keeps interface tags and links (gone with either
// interface), conf files linked to node groups, and slice tags on a node
// group (gone with the group; on a node or a group, not both).
func testIlinksAndScopes(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0 := f.nodes[0].NodeID
	tt := api.TagType{TagName: "peer", Category: "interface/link"}
	i0 := api.Interface{NodeID: n0, Type: "ipv4", Method: "dhcp", IP: "192.0.2.1"}
	i1 := api.Interface{NodeID: f.nodes[1].NodeID, Type: "ipv6", Method: "dhcp"}
	var it store.InterfaceTag
	var l store.Ilink
	g := api.NodeGroup{GroupName: "all", Value: "v"}
	cf := store.ConfFile{Enabled: true, Source: "s", Dest: "/etc/x", FilePermissions: "644"}
	st := api.SliceTag{SliceID: f.slice.SliceID, TagName: "vref", Value: "g"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddTagType(&tt); err != nil {
			return err
		}
		for _, i := range []*api.Interface{&i0, &i1} {
			if err := tx.AddInterface(i); err != nil {
				return err
			}
		}
		it = store.InterfaceTag{InterfaceID: i0.InterfaceID, TagTypeID: tt.TagTypeID, Value: "a"}
		if err := tx.AddInterfaceTag(&it); err != nil {
			return err
		}
		l = store.Ilink{TagTypeID: tt.TagTypeID, SrcInterfaceID: i0.InterfaceID, DstInterfaceID: i1.InterfaceID, Value: "fiber"}
		if err := tx.AddIlink(&l); err != nil {
			return err
		}
		g.TagTypeID = tt.TagTypeID
		if err := tx.AddNodeGroup(&g); err != nil {
			return err
		}
		if err := tx.AddConfFile(&cf); err != nil {
			return err
		}
		if err := tx.AddConfFileToNodeGroup(cf.ConfFileID, g.NodeGroupID); err != nil {
			return err
		}
		st.NodeGroupID = g.NodeGroupID
		return tx.AddSliceTag(&st)
	})
	gotTag := only(t, s, store.Tx.InterfaceTags, "interface_tag_id", it.InterfaceTagID)
	equal(t, "interface tag", []any{gotTag.IP, gotTag.TagName, gotTag.Value}, []any{"192.0.2.1", "peer", "a"})
	equal(t, "ilink", only(t, s, store.Tx.Ilinks, "ilink_id", l.IlinkID), l)
	dup := func(tx store.Tx) error {
		x := store.Ilink{TagTypeID: tt.TagTypeID, SrcInterfaceID: i0.InterfaceID, DstInterfaceID: i1.InterfaceID}
		return tx.AddIlink(&x)
	}
	if err := s.Update(t.Context(), "system", dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second link of a type between two interfaces: %v, want ErrConflict", err)
	}
	both := func(tx store.Tx) error {
		x := api.SliceTag{SliceID: f.slice.SliceID, TagName: "vref", Value: "x", NodeID: n0, NodeGroupID: g.NodeGroupID}
		return tx.AddSliceTag(&x)
	}
	if err := s.Update(t.Context(), "system", both); err == nil {
		t.Error("a slice tag on a node and a node group")
	}
	equal(t, "slice tag's group", only(t, s, store.Tx.SliceTags, "slice_tag_id", st.SliceTagID).NodeGroupID, g.NodeGroupID)
	equal(t, "by nodegroup_id", len(get(t, s, store.Tx.SliceTags, where(eq("nodegroup_id", g.NodeGroupID)))), 1)
	equal(t, "conf file's groups", only(t, s, store.Tx.ConfFiles, "conf_file_id", cf.ConfFileID).NodeGroupIDs, []int64{g.NodeGroupID})
	equal(t, "group's conf files", only(t, s, store.Tx.NodeGroups, "nodegroup_id", g.NodeGroupID).ConfFileIDs, []int64{cf.ConfFileID})
	update(t, s, func(tx store.Tx) error { return tx.UpdateIlink(l.IlinkID, "copper") })
	equal(t, "ilink value", only(t, s, store.Tx.Ilinks, "ilink_id", l.IlinkID).Value, "copper")

	update(t, s, func(tx store.Tx) error { return tx.DeleteInterface(i1.InterfaceID) })
	equal(t, "links gone with an interface", len(get(t, s, store.Tx.Ilinks, store.Query{})), 0)
	update(t, s, func(tx store.Tx) error { return tx.DeleteInterface(i0.InterfaceID) })
	equal(t, "tags gone with their interface", len(get(t, s, store.Tx.InterfaceTags, store.Query{})), 0)
	update(t, s, func(tx store.Tx) error { return tx.DeleteNodeGroup(g.NodeGroupID) })
	equal(t, "slice tags gone with their group", len(get(t, s, store.Tx.SliceTags, store.Query{})), 0)
	equal(t, "conf file's groups after", only(t, s, store.Tx.ConfFiles, "conf_file_id", cf.ConfFileID).NodeGroupIDs, []int64{})
}
