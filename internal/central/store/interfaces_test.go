package store_test

import (
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testInterfaces adds, lists, updates and deletes interfaces: one primary
// per node, listed in the node's interface_ids, gone with their node.
func testInterfaces(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	bw := int64(1000000)
	a := api.Interface{NodeID: n0, IsPrimary: true, Type: "ipv4", Method: "static", IP: "192.0.2.1", Netmask: "255.255.255.0", BWLimit: &bw}
	c := api.Interface{NodeID: n0, IsPrimary: true, Type: "ipv4", Method: "dhcp", Hostname: "N0.ex.example"}
	d := api.Interface{NodeID: n1, Type: "ipv4", Method: "dhcp"}
	update(t, s, func(tx store.Tx) error {
		for _, i := range []*api.Interface{&a, &c, &d} {
			if err := tx.AddInterface(i); err != nil {
				return err
			}
		}
		return nil
	})
	got := only(t, s, store.Tx.Interfaces, "interface_id", a.InterfaceID)
	if got.IsPrimary || got.BWLimit == nil || *got.BWLimit != bw || got.IP != "192.0.2.1" {
		t.Errorf("first interface after a second primary: %+v", got)
	}
	equal(t, "node's interfaces", only(t, s, nodes, "node_id", n0).InterfaceIDs, []int64{a.InterfaceID, c.InterfaceID})
	equal(t, "by hostname", len(get(t, s, store.Tx.Interfaces, where(eq("hostname", "n0.EX.example")))), 1)
	equal(t, "nodes with interface", len(get(t, s, nodes, where(eq("interface_ids", d.InterfaceID)))), 1)

	update(t, s, func(tx store.Tx) error {
		a.IsPrimary, a.BWLimit, a.NodeID = true, nil, n1 // the node stays
		return tx.UpdateInterface(&a)
	})
	got = only(t, s, store.Tx.Interfaces, "interface_id", a.InterfaceID)
	if !got.IsPrimary || got.BWLimit != nil || got.NodeID != n0 {
		t.Errorf("after update: %+v", got)
	}
	if only(t, s, store.Tx.Interfaces, "interface_id", c.InterfaceID).IsPrimary {
		t.Errorf("two primary interfaces on node %d", n0)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteInterface(c.InterfaceID) })
	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(n1) })
	equal(t, "interfaces left", len(get(t, s, store.Tx.Interfaces, store.Query{})), 1)
}
