package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// nodeSummaryTable is what a node summary Query may name.
var nodeSummaryTable = &table{
	kind: "node summary", from: "node_summaries t", pk: "t.node_id",
	cols: map[string]column{
		"node_id": {"t.node_id", kInt, false}, "updated": {"t.updated", kInt, false},
		"load": {"t.load", kFloat, false}, "mem_total": {"t.mem_total", kInt, false},
		"free_mem": {"t.free_mem", kInt, false}, "disk_total": {"t.disk_total", kInt, false},
		"free_disk": {"t.free_disk", kInt, false}, "slivers": {"t.slivers", kInt, false},
		"bw_in": {"t.bw_in", kInt, false}, "bw_out": {"t.bw_out", kInt, false},
		"agent_version": {"t.agent_version", kString, false},
	},
}

const nodeSummaryCols = "t.node_id, t.updated, t.load, t.mem_total, t.free_mem, t.disk_total, t.free_disk, " +
	"t.slivers, t.bw_in, t.bw_out, t.agent_version"

func scanNodeSummary(r *sql.Rows) (api.NodeSummary, error) {
	var s api.NodeSummary
	err := r.Scan(&s.NodeID, &s.Updated, &s.Load, &s.MemTotal, &s.FreeMem, &s.DiskTotal, &s.FreeDisk,
		&s.Slivers, &s.BwIn, &s.BwOut, &s.AgentVersion)
	return s, err
}

// NodeSummaries lists the nodes' latest summaries.
func (t *tx) NodeSummaries(q Query) ([]api.NodeSummary, error) {
	return list(t, nodeSummaryTable, nodeSummaryCols, q, scanNodeSummary)
}

// SetNodeSummary makes s its node's latest summary and the point of its
// period in the node's history, and deletes the points older than
// api.NodeHistoryPoints periods. It is not logged: nodes send one every
// minute.
func (t *tx) SetNodeSummary(s api.NodeSummary) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", s.NodeID); err != nil {
		return err
	}
	const latest = `INSERT INTO node_summaries (node_id, updated, load, mem_total, free_mem, disk_total, free_disk,
		slivers, bw_in, bw_out, agent_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (node_id) DO UPDATE SET updated = excluded.updated, load = excluded.load,
		mem_total = excluded.mem_total, free_mem = excluded.free_mem, disk_total = excluded.disk_total,
		free_disk = excluded.free_disk, slivers = excluded.slivers, bw_in = excluded.bw_in,
		bw_out = excluded.bw_out, agent_version = excluded.agent_version`
	if _, err := t.exec(latest, s.NodeID, s.Updated, s.Load, s.MemTotal, s.FreeMem, s.DiskTotal, s.FreeDisk,
		s.Slivers, s.BwIn, s.BwOut, s.AgentVersion); err != nil {
		return fmt.Errorf("set node summary: %w", err)
	}
	slot := s.Updated / api.NodeHistoryStep
	const point = `INSERT INTO node_history (node_id, slot, time, load, free_mem, free_disk, slivers, bw_in, bw_out)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (node_id, slot) DO UPDATE SET time = excluded.time, load = excluded.load,
		free_mem = excluded.free_mem, free_disk = excluded.free_disk, slivers = excluded.slivers,
		bw_in = excluded.bw_in, bw_out = excluded.bw_out`
	if _, err := t.exec(point, s.NodeID, slot, s.Updated, s.Load, s.FreeMem, s.FreeDisk, s.Slivers, s.BwIn, s.BwOut); err != nil {
		return fmt.Errorf("set node summary: history: %w", err)
	}
	if _, err := t.exec("DELETE FROM node_history WHERE node_id = ? AND (slot <= ? OR slot > ?)",
		s.NodeID, slot-api.NodeHistoryPoints, slot); err != nil {
		return fmt.Errorf("set node summary: prune history: %w", err)
	}
	return nil
}

// NodeHistory returns a node's history, oldest first.
func (t *tx) NodeHistory(nodeID int64) ([]api.NodePoint, error) {
	q := t.d.rebind(`SELECT time, load, free_mem, free_disk, slivers, bw_in, bw_out FROM node_history
		WHERE node_id = ? ORDER BY slot`)
	out, err := scanAll(t, q, []any{nodeID}, func(r *sql.Rows) (api.NodePoint, error) {
		var p api.NodePoint
		return p, r.Scan(&p.Time, &p.Load, &p.FreeMem, &p.FreeDisk, &p.Slivers, &p.BwIn, &p.BwOut)
	})
	if err != nil {
		return nil, fmt.Errorf("read node history: %w", err)
	}
	return out, nil
}
