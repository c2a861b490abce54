package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testPCUs adds a PCU, puts nodes on its ports, refuses a taken port or
// a node twice, updates and deletes it, and checks that it goes with its
// site's nodes and its site.
func testPCUs(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	p := api.PCU{SiteID: f.site.SiteID, Hostname: "pcu.ex.example", IP: "192.0.2.9", Password: "secret"}
	update(t, s, func(tx store.Tx) error {
		if err := tx.AddPCU(&p); err != nil {
			return err
		}
		if err := tx.AddNodeToPCU(n1, p.PCUID, 3); err != nil {
			return err
		}
		return tx.AddNodeToPCU(n0, p.PCUID, 7)
	})
	got := only(t, s, store.Tx.PCUs, "pcu_id", p.PCUID)
	equal(t, "nodes and ports", [][]int64{got.NodeIDs, got.Ports}, [][]int64{{n0, n1}, {7, 3}})
	equal(t, "password", got.Password, "secret")
	equal(t, "by node", len(get(t, s, store.Tx.PCUs, where(eq("node_ids", n1)))), 1)
	equal(t, "node's and site's pcu_ids", [][]int64{only(t, s, nodes, "node_id", n1).PCUIDs, only(t, s, sites, "site_id", f.site.SiteID).PCUIDs}, [][]int64{{p.PCUID}, {p.PCUID}})
	for name, fn := range map[string]func(tx store.Tx) error{
		"port taken": func(tx store.Tx) error {
			n := newNode(f.site.SiteID, "n9.ex.example")
			if err := tx.AddNode(&n); err != nil {
				return err
			}
			return tx.AddNodeToPCU(n.NodeID, p.PCUID, 3)
		},
		"node on it": func(tx store.Tx) error { return tx.AddNodeToPCU(n0, p.PCUID, 4) },
	} {
		if err := s.Update(t.Context(), "system", fn); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s: %v, want ErrConflict", name, err)
		}
	}
	update(t, s, func(tx store.Tx) error {
		p.Notes, p.SiteID = "rack 2", 0 // the site stays
		return tx.UpdatePCU(&p)
	})
	got = only(t, s, store.Tx.PCUs, "pcu_id", p.PCUID)
	equal(t, "after update", []any{got.Notes, got.SiteID, len(got.NodeIDs)}, []any{"rack 2", f.site.SiteID, 2})
	update(t, s, func(tx store.Tx) error { return tx.DeleteNodeFromPCU(n0, p.PCUID) })
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(n1) })
	got = only(t, s, store.Tx.PCUs, "pcu_id", p.PCUID)
	equal(t, "nodes left", len(got.NodeIDs)+len(got.Ports), 0)
	update(t, s, func(tx store.Tx) error { return tx.DeletePCU(p.PCUID) })
	for name, fn := range map[string]func(tx store.Tx) error{
		"DeletePCU":         func(tx store.Tx) error { return tx.DeletePCU(p.PCUID) },
		"UpdatePCU":         func(tx store.Tx) error { return tx.UpdatePCU(&p) },
		"AddNodeToPCU":      func(tx store.Tx) error { return tx.AddNodeToPCU(n0, p.PCUID, 1) },
		"DeleteNodeFromPCU": func(tx store.Tx) error { return tx.DeleteNodeFromPCU(n0, p.PCUID) },
	} {
		if err := s.Update(t.Context(), "system", fn); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a deleted PCU: %v, want ErrNotFound", name, err)
		}
	}
}
