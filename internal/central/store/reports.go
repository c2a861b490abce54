package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/orbisproject/orbis/api"
)

// sliverReportTable is what a sliver report Query may name.
var sliverReportTable = &table{
	kind: "sliver report", from: "sliver_reports t", pk: "t.node_id, t.name",
	cols: map[string]column{
		"node_id": {"t.node_id", kInt, false}, "name": {"t.name", kString, false},
		"state": {"t.state", kString, false}, "reason": {"t.reason", kString, false},
		"updated": {"t.updated", kInt, false},
		// slice_id is the reported slice's, for restricting reports to
		// the slices a caller may see without reading those slices.
		"slice_id": {"(SELECT s.slice_id FROM slices s WHERE s.name = t.name)", kInt, false},
	},
}

const sliverReportCols = "t.node_id, t.name, t.state, t.reason, t.updated"

func scanSliverReport(r *sql.Rows) (SliverReportRow, error) {
	var s SliverReportRow
	err := r.Scan(&s.NodeID, &s.Name, &s.State, &s.Reason, &s.Updated)
	return s, err
}

// SliverReports lists nodes' reports on their slivers.
func (t *tx) SliverReports(q Query) ([]SliverReportRow, error) {
	return list(t, sliverReportTable, sliverReportCols, q, scanSliverReport)
}

// SetSliverReports replaces a node's reports. It is logged only when a
// state or reason changed, not at every report.
func (t *tx) SetSliverReports(nodeID int64, reports []api.SliverReport, at int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", nodeID); err != nil {
		return err
	}
	prev, err := t.SliverReports(Query{Conds: []Cond{{Field: "node_id", Op: Eq, Value: nodeID}}})
	if err != nil {
		return err
	}
	byName := map[string]api.SliverReport{}
	for _, r := range reports {
		byName[r.Name] = r // the last report of a name wins
	}
	if _, err := t.exec("DELETE FROM sliver_reports WHERE node_id = ?", nodeID); err != nil {
		return fmt.Errorf("replace sliver reports: %w", err)
	}
	for _, r := range byName {
		if _, err := t.exec("INSERT INTO sliver_reports (node_id, name, state, reason, updated) VALUES (?, ?, ?, ?, ?)",
			nodeID, r.Name, r.State, r.Reason, at); err != nil {
			return fmt.Errorf("replace sliver reports: %w", err)
		}
	}
	if sameReports(prev, byName) {
		return nil
	}
	return t.event("SetSliverReports", "node", nodeID, map[string]any{"reports": reports})
}

// sameReports reports whether rows say what next says.
func sameReports(rows []SliverReportRow, next map[string]api.SliverReport) bool {
	if len(rows) != len(next) {
		return false
	}
	for _, r := range rows {
		n, ok := next[r.Name]
		if !ok || n.State != api.SliverState(r.State) || n.Reason != r.Reason {
			return false
		}
	}
	return true
}

// BumpNodes increments the version of each node that exists. The rows are
// only ever inserted, so concurrent bumps of one node never conflict.
func (t *tx) BumpNodes(nodeIDs []int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	ids := uniqueIDs(nodeIDs)
	if len(ids) == 0 {
		return nil
	}
	args := anySlice(ids)
	if _, err := t.exec("INSERT INTO node_bumps (node_id) SELECT node_id FROM nodes WHERE node_id IN ("+
		placeholders("?", len(ids))+")", args...); err != nil {
		return fmt.Errorf("bump nodes: %w", err)
	}
	if q := t.d.notifyNodes(); q != "" {
		if _, err := t.exec(q); err != nil {
			return fmt.Errorf("bump nodes: notify: %w", err)
		}
	}
	return t.event("BumpNodes", "node", 0, map[string]any{"node_ids": ids})
}

// NodeVersions returns each node's version, 0 if never bumped.
func (t *tx) NodeVersions(nodeIDs []int64) (map[int64]int64, error) {
	ids := uniqueIDs(nodeIDs)
	out := make(map[int64]int64, len(ids))
	for _, id := range ids {
		out[id] = 0
	}
	for chunk := range slices.Chunk(ids, 500) {
		q := t.d.rebind("SELECT node_id, CAST(SUM(n) AS BIGINT) FROM node_bumps WHERE node_id IN (" +
			placeholders("?", len(chunk)) + ") GROUP BY node_id")
		rows, err := scanAll(t, q, anySlice(chunk), func(r *sql.Rows) ([2]int64, error) {
			var v [2]int64
			return v, r.Scan(&v[0], &v[1])
		})
		if err != nil {
			return nil, fmt.Errorf("read node versions: %w", err)
		}
		for _, v := range rows {
			out[v[0]] = v[1]
		}
	}
	return out, nil
}

// eventTable is what an event Query may name.
var eventTable = &table{
	kind: "event", from: "events t", pk: "t.event_id",
	cols: map[string]column{
		"event_id": {"t.event_id", kInt, false}, "time": {"t.time", kInt, false},
		"actor": {"t.actor", kString, false}, "action": {"t.action", kString, false},
		"object_type": {"t.object_type", kString, false}, "object_id": {"t.object_id", kInt, false},
		"detail": {"t.detail", kString, false},
	},
}

const eventCols = "t.event_id, t.time, t.actor, t.action, t.object_type, t.object_id, t.detail"

func scanEvent(r *sql.Rows) (Event, error) {
	var e Event
	err := r.Scan(&e.EventID, &e.Time, &e.Actor, &e.Action, &e.ObjectType, &e.ObjectID, &e.Detail)
	return e, err
}

// Events lists the change log.
func (t *tx) Events(q Query) ([]Event, error) {
	return list(t, eventTable, eventCols, q, scanEvent)
}

// prune folds each node's version rows into one and removes expired
// sessions and tokens, in one transaction.
func (s *db) prune(ctx context.Context) error {
	opts := &sql.TxOptions{}
	if s.d.name() == "postgres" {
		// One snapshot for every statement: rows committed meanwhile are
		// neither counted nor deleted.
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.w.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	defer tx.Rollback()
	var upTo int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(bump_id), 0) FROM node_bumps").Scan(&upTo); err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	now := time.Now().Unix()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{"INSERT INTO node_bumps (node_id, n) SELECT node_id, CAST(SUM(n) AS BIGINT) FROM node_bumps WHERE bump_id <= ? GROUP BY node_id HAVING COUNT(*) > 1", []any{upTo}},
		{"DELETE FROM node_bumps WHERE bump_id <= ? AND node_id IN (SELECT node_id FROM node_bumps WHERE bump_id <= ? GROUP BY node_id HAVING COUNT(*) > 1)", []any{upTo, upTo}},
		{"DELETE FROM sessions WHERE expires <> 0 AND expires < ?", []any{now}},
		{"DELETE FROM api_tokens WHERE expires <> 0 AND expires < ?", []any{now}},
		{"DELETE FROM node_tokens WHERE expires <> 0 AND expires < ?", []any{now}},
	} {
		if _, err := tx.ExecContext(ctx, s.d.rebind(q.sql), q.args...); err != nil {
			return fmt.Errorf("prune: %w", err)
		}
	}
	return tx.Commit()
}
