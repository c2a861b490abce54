package plc

import (
	"context"
	"math"
	"strings"
	"unicode"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Bounds of what a node may say of itself in its summary: its owner
// controls the node and may lie, so central clamps every value into a
// range where it cannot overflow a sum, a sort or a plot, and keeps at
// most one summary a node per minSummaryInterval seconds.
const (
	maxSummaryLoad      = 1e6
	maxSummaryBytes     = 1 << 60 // memory and disk
	maxSummaryBandwidth = 1 << 40 // bytes a second
	maxAgentVersion     = 64
	minSummaryInterval  = 10
)

var summaryKind = newKind("node summary", api.NodeSummary{}, "node_id", "")

func (s *Service) registerNodeSummaries() {
	s.add(method{name: "GetNodeSummaries", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the latest summary each node sent of its sensors ({node_id, updated, load, mem_total, free_mem, disk_total, free_disk, slivers, bw_in, bw_out, agent_version}; bytes and bytes a second), for the nodes that match the filter (node_ids or a struct on those fields).",
		call: s.getNodeSummaries})
	s.add(method{name: "GetNodeHistory", roles: rolesPublic, min: 1, max: 1, sig: []string{"array", "int"},
		help: "Returns a node's (by node_id or hostname) summaries of the last day, one point each 5 minutes, oldest first: [{time, load, free_mem, free_disk, slivers, bw_in, bw_out}].",
		call: s.getNodeHistory})
}

func (s *Service) getNodeSummaries(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, summaryKind, func(t *txn, q store.Query) ([]api.NodeSummary, error) { return t.NodeSummaries(q) },
		func(x *api.NodeSummary) any { return x.NodeID }, nil)
}

func (s *Service) getNodeHistory(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "node_id_or_hostname")
	if err != nil {
		return nil, err
	}
	var out []api.NodePoint
	err = s.view(ctx, c, func(t *txn) error {
		n, err := t.node(ref)
		if err != nil {
			return err
		}
		out, err = t.NodeHistory(n.NodeID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return Generic(out), nil
}

// ReportNodeSummary records what node nodeID's sensors say of it, clamped
// (see clampSummary), as its latest summary and a point of its history,
// and that it was in contact now. A summary within minSummaryInterval of
// the last one kept is dropped after a read-only look, so a node flooding
// central costs it one read each and takes no write slot.
func (s *Service) ReportNodeSummary(ctx context.Context, nodeID int64, sum api.NodeSummary) error {
	clampSummary(&sum)
	sum.NodeID = nodeID
	c := &Caller{NodeID: nodeID}
	recent := false
	if err := s.view(ctx, c, func(t *txn) (err error) { recent, err = t.recentSummary(nodeID); return err }); err != nil || recent {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		if recent, err := t.recentSummary(nodeID); err != nil || recent {
			return err
		}
		sum.Updated = t.now
		if err := t.SetNodeSummary(sum); err != nil {
			return err
		}
		return t.TouchNode(nodeID, t.now)
	})
}

// recentSummary reports whether node nodeID's last summary kept is less
// than minSummaryInterval old.
func (t *txn) recentSummary(nodeID int64) (bool, error) {
	last, err := t.NodeSummaries(condQuery("node_id", nodeID))
	if err != nil {
		return false, err
	}
	return len(last) == 1 && t.now >= last[0].Updated && t.now-last[0].Updated < minSummaryInterval, nil
}

// clampSummary brings every value of sum into its range: negative and
// non-finite numbers become 0, free space at most the total, the agent's
// version printable and short.
func clampSummary(sum *api.NodeSummary) {
	if math.IsNaN(sum.Load) || sum.Load < 0 {
		sum.Load = 0
	}
	sum.Load = min(sum.Load, maxSummaryLoad)
	clampInt := func(v *int64, hi int64) { *v = max(0, min(*v, hi)) }
	clampInt(&sum.MemTotal, maxSummaryBytes)
	clampInt(&sum.FreeMem, sum.MemTotal)
	clampInt(&sum.DiskTotal, maxSummaryBytes)
	clampInt(&sum.FreeDisk, sum.DiskTotal)
	clampInt(&sum.Slivers, maxReports)
	clampInt(&sum.BwIn, maxSummaryBandwidth)
	clampInt(&sum.BwOut, maxSummaryBandwidth)
	v := strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, sum.AgentVersion)
	sum.AgentVersion = v[:min(len(v), maxAgentVersion)]
}
