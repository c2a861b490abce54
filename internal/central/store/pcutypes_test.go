package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/internal/central/store"
)

// testPLCAPIRecords keeps migration 0010's records: PCU types with their
// protocol types (which go with their type), message templates (a
// taken id is ErrConflict), and a node's slice whitelist (GetNodes'
// slice_ids_whitelist, filterable, gone with the slice).
func testPLCAPIRecords(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	typ := store.PCUType{Model: "apc", Name: "APC"}
	proto := store.PCUProtocolType{Port: 22, Protocol: "ssh", Supported: true}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddPCUType(&typ); err != nil {
			return err
		}
		proto.PCUTypeID = typ.PCUTypeID
		return tx.AddPCUProtocolType(&proto)
	})
	got := only(t, s, store.Tx.PCUTypes, "pcu_type_id", typ.PCUTypeID)
	equal(t, "pcu type", []any{got.Model, got.PCUProtocolTypeIDs, got.PCUProtocolTypes[0].Supported}, []any{"apc", []int64{proto.PCUProtocolTypeID}, true})
	if err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.AddPCUType(&store.PCUType{Model: "apc"}) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a taken model: %v, want ErrConflict", err)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeletePCUType(typ.PCUTypeID) })
	equal(t, "protocol types of a deleted type", len(get(t, s, store.Tx.PCUProtocolTypes, store.Query{})), 0)

	m := store.Message{MessageID: "Verify", Subject: "s", Template: "t", Enabled: true}
	update(t, s, func(tx store.Tx) error { return tx.AddMessage(&m) })
	if err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.AddMessage(&m) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a taken message id: %v, want ErrConflict", err)
	}
	m.Enabled = false
	update(t, s, func(tx store.Tx) error { return tx.UpdateMessage(&m) })
	equal(t, "disabled messages", get(t, s, store.Tx.Messages, where(eq("enabled", false))), []store.Message{m})
	update(t, s, func(tx store.Tx) error { return tx.DeleteMessage("Verify") })
	if err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.DeleteMessage("Verify") }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting a deleted message: %v, want ErrNotFound", err)
	}

	n0 := f.nodes[0].NodeID
	update(t, s, func(tx store.Tx) error { return tx.SetSliceWhitelisted(f.slice.SliceID, []int64{n0}, true) })
	equal(t, "whitelist", only(t, s, nodes, "node_id", n0).SliceIDsWhitelist, []int64{f.slice.SliceID})
	equal(t, "by whitelist", len(get(t, s, nodes, where(eq("slice_ids_whitelist", f.slice.SliceID)))), 1)
	update(t, s, func(tx store.Tx) error { return tx.DeleteSlice(f.slice.SliceID) })
	equal(t, "whitelist of a deleted slice", only(t, s, nodes, "node_id", n0).SliceIDsWhitelist, []int64{})
}
