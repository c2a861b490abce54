package store_test

import (
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testNodeSummaries: the latest summary replaces the last, filters on
// its fields, one history point a period, at most a day of them, none of
// it logged, and a deleted node's go with it.
func testNodeSummaries(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	set := func(sum api.NodeSummary) {
		update(t, s, func(tx store.Tx) error { return tx.SetNodeSummary(sum) })
	}
	history := func(id int64) []api.NodePoint {
		var out []api.NodePoint
		view(t, s, func(tx store.Tx) error {
			var err error
			out, err = tx.NodeHistory(id)
			return err
		})
		return out
	}
	const step = api.NodeHistoryStep
	set(api.NodeSummary{NodeID: n0, Updated: 10 * step, Load: 0.5, MemTotal: 8 << 30, FreeMem: 1 << 30, AgentVersion: "v1"})
	set(api.NodeSummary{NodeID: n0, Updated: 10*step + 60, Load: 1.5, MemTotal: 8 << 30, FreeMem: 2 << 30, AgentVersion: "v2"})
	set(api.NodeSummary{NodeID: n1, Updated: 10 * step, Load: 3, FreeMem: 4 << 30})
	equal(t, "latest", only(t, s, summaries, "node_id", n0),
		api.NodeSummary{NodeID: n0, Updated: 10*step + 60, Load: 1.5, MemTotal: 8 << 30, FreeMem: 2 << 30, AgentVersion: "v2"})
	equal(t, "one point a period", history(n0),
		[]api.NodePoint{{Time: 10*step + 60, Load: 1.5, FreeMem: 2 << 30}})
	busy := get(t, s, summaries, where(store.Cond{Field: "load", Op: store.Gt, Value: 2.0}))
	equal(t, "load > 2", len(busy) == 1 && busy[0].NodeID == n1, true)

	for i := range int64(2 * api.NodeHistoryPoints) {
		set(api.NodeSummary{NodeID: n0, Updated: (11 + i) * step, Slivers: i})
	}
	h := history(n0)
	equal(t, "history bounded to a day", len(h), api.NodeHistoryPoints)
	equal(t, "newest last", h[len(h)-1].Slivers, int64(2*api.NodeHistoryPoints-1))
	equal(t, "summaries not logged", len(get(t, s, events, where(eq("action", "SetNodeSummary")))), 0)

	update(t, s, func(tx store.Tx) error { return tx.DeleteNode(n0) })
	equal(t, "summaries of a deleted node", len(get(t, s, summaries, where(eq("node_id", n0)))), 0)
	equal(t, "history of a deleted node", len(history(n0)), 0)
	var err error
	s.Update(t.Context(), "test", func(tx store.Tx) error {
		err = tx.SetNodeSummary(api.NodeSummary{NodeID: n0, Updated: 1})
		return nil
	})
	if err == nil {
		t.Error("summary of a deleted node accepted")
	}
}
