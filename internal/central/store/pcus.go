package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// pcuTable is what a PCU Query may name.
var pcuTable = &table{
	kind: "pcu", from: "pcus t", pk: "t.pcu_id",
	cols: map[string]column{
		"pcu_id": {"t.pcu_id", kInt, false}, "site_id": {"t.site_id", kInt, false},
		"hostname": {"t.hostname", kString, true}, "ip": {"t.ip", kString, false},
		"protocol": {"t.protocol", kString, false}, "username": {"t.username", kString, false},
		"notes": {"t.notes", kString, false}, "model": {"t.model", kString, false},
		"last_updated": {"t.last_updated", kInt, false},
	},
	lists: map[string]listCol{
		"node_ids": {table: "pcu_nodes", owner: "pcu_id", member: "node_id"},
		"ports":    {table: "pcu_nodes", owner: "pcu_id", member: "port"},
	},
}

const pcuCols = "t.pcu_id, t.site_id, t.hostname, t.ip, t.protocol, t.username, t.password, t.notes, t.model, t.last_updated"

func scanPCU(r *sql.Rows) (api.PCU, error) {
	var p api.PCU
	err := r.Scan(&p.PCUID, &p.SiteID, &p.Hostname, &p.IP, &p.Protocol, &p.Username, &p.Password, &p.Notes, &p.Model, &p.LastUpdated)
	p.NodeIDs, p.Ports = []int64{}, []int64{}
	return p, err
}

// maxInList bounds the parameters of one IN list the store writes.
const maxInList = 1000

// PCUs lists PCUs, each with its nodes and their ports, in node order.
func (t *tx) PCUs(q Query) ([]api.PCU, error) {
	pcus, err := list(t, pcuTable, pcuCols, q, scanPCU)
	if err != nil || len(pcus) == 0 {
		return pcus, err
	}
	at := make(map[int64]int, len(pcus))
	ids := make([]any, len(pcus))
	for i, p := range pcus {
		at[p.PCUID], ids[i] = i, p.PCUID
	}
	type port struct{ pcu, node, port int64 }
	sel := "SELECT pcu_id, node_id, port FROM pcu_nodes ORDER BY pcu_id, node_id"
	if len(ids) <= maxInList { // else read them all: a query holds a bounded number of parameters
		sel = "SELECT pcu_id, node_id, port FROM pcu_nodes WHERE pcu_id IN (" + placeholders("?", len(ids)) + ") ORDER BY pcu_id, node_id"
	} else {
		ids = nil
	}
	ports, err := scanAll(t, t.d.rebind(sel), ids, func(r *sql.Rows) (port, error) {
		var p port
		return p, r.Scan(&p.pcu, &p.node, &p.port)
	})
	if err != nil {
		return nil, fmt.Errorf("list pcu ports: %w", err)
	}
	for _, p := range ports {
		if i, ok := at[p.pcu]; ok {
			pcus[i].NodeIDs, pcus[i].Ports = append(pcus[i].NodeIDs, p.node), append(pcus[i].Ports, p.port)
		}
	}
	return pcus, nil
}

func pcuValues(p *api.PCU) ([]string, []any) {
	return []string{"hostname", "ip", "protocol", "username", "password", "notes", "model", "last_updated"},
		[]any{p.Hostname, p.IP, p.Protocol, p.Username, p.Password, p.Notes, p.Model, p.LastUpdated}
}

// AddPCU adds a PCU to its site.
func (t *tx) AddPCU(p *api.PCU) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("sites", "site_id", p.SiteID); err != nil {
		return err
	}
	p.LastUpdated = t.now
	cols, vals := pcuValues(p)
	id, err := t.insert("pcus", "pcu_id", append(cols, "site_id"), append(vals, p.SiteID), fmt.Errorf("%w: pcu exists", ErrConflict))
	if err != nil {
		return err
	}
	p.PCUID, p.NodeIDs, p.Ports = id, []int64{}, []int64{}
	return t.event("AddPCU", "pcu", id, map[string]any{"site_id": p.SiteID, "hostname": p.Hostname})
}

// UpdatePCU writes a PCU's fields but its site and nodes.
func (t *tx) UpdatePCU(p *api.PCU) error {
	if err := t.writable(); err != nil {
		return err
	}
	p.LastUpdated = t.now
	cols, vals := pcuValues(p)
	if err := t.update("pcus", "pcu_id", p.PCUID, cols, vals, nil); err != nil {
		return err
	}
	return t.event("UpdatePCU", "pcu", p.PCUID, map[string]any{"hostname": p.Hostname})
}

// DeletePCU deletes a PCU.
func (t *tx) DeletePCU(id int64) error {
	return t.deleteRow("pcus", "pcu_id", "pcu", "DeletePCU", id)
}

// AddNodeToPCU puts a node on a port of a PCU; ErrConflict if the node
// is on the PCU already or the port is taken.
func (t *tx) AddNodeToPCU(nodeID, pcuID, port int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("pcus", "pcu_id", pcuID); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", nodeID); err != nil {
		return err
	}
	n, err := t.execCount("INSERT INTO pcu_nodes (pcu_id, node_id, port) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", pcuID, nodeID, port)
	if err != nil {
		return fmt.Errorf("add node to pcu: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: node %d is on pcu %d already, or its port %d is taken", ErrConflict, nodeID, pcuID, port)
	}
	return t.event("AddNodeToPCU", "pcu", pcuID, map[string]any{"node_id": nodeID, "port": port})
}

// DeleteNodeFromPCU takes a node off a PCU.
func (t *tx) DeleteNodeFromPCU(nodeID, pcuID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("DELETE FROM pcu_nodes WHERE pcu_id = ? AND node_id = ?", pcuID, nodeID)
	if err != nil {
		return fmt.Errorf("delete node from pcu: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("node %d on pcu %d: %w", nodeID, pcuID, ErrNotFound)
	}
	return t.event("DeleteNodeFromPCU", "pcu", pcuID, map[string]any{"node_id": nodeID})
}
