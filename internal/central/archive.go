package central

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/central/push"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Bounds of the traffic archive (paper 4.4.3): rows older than the
// retention, and the oldest rows beyond the row count, are deleted every
// trafficPruneEvery. A row is about 150 bytes with its indexes, so the
// default count keeps central's database under about 3 GB.
const (
	DefaultTrafficDays    = 30
	DefaultTrafficMaxRows = 20_000_000
	trafficPruneEvery     = 5 * time.Minute
)

// AuditPath is where central serves the traffic archive's page, to
// anyone: "which slices sent traffic to this address between these
// times".
const AuditPath = "/audit/"

// trafficArchive is central's traffic archive: the store's rows behind
// audit.ArchiveStore, for the archive page, and behind the node channel's
// traffic endpoint, with its bounds.
type trafficArchive struct {
	st        store.Store
	retention time.Duration
	maxRows   int64
	log       *slog.Logger
	now       func() time.Time
}

var (
	_ audit.ArchiveStore = (*trafficArchive)(nil)
	_ push.TrafficSource = (*nodeSource)(nil)
)

// newTrafficArchive returns the archive over st with cfg's bounds.
func newTrafficArchive(st store.Store, cfg Config) *trafficArchive {
	days, rows := cfg.TrafficDays, cfg.TrafficMaxRows
	if days <= 0 {
		days = DefaultTrafficDays
	}
	if rows <= 0 {
		rows = DefaultTrafficMaxRows
	}
	return &trafficArchive{st: st, retention: time.Duration(days) * 24 * time.Hour, maxRows: rows,
		log: cfg.Log, now: time.Now}
}

// mountAudit serves the archive page at AuditPath and keeps the archive
// within its bounds while central runs.
func (c *Central) mountAudit(mux *http.ServeMux, cfg Config, src *nodeSource) {
	c.archive = newTrafficArchive(c.Store, cfg)
	src.archive = c.archive
	mux.Handle(AuditPath, audit.NewCentralHandler(c.archive, cfg.Log.With("part", "audit")))
}

// add stores a node's batch, without the rows already past the retention
// (they would be deleted at the next prune).
func (a *trafficArchive) add(ctx context.Context, nodeID int64, b api.TrafficBatch) (api.TrafficReceipt, error) {
	oldest := a.now().Add(-a.retention).Unix()
	rows := b.Rows[:0:0]
	for _, r := range b.Rows {
		if r.Minute >= oldest {
			rows = append(rows, r)
		}
	}
	b.Rows = rows
	added, dup, err := a.st.Traffic().AddTraffic(ctx, nodeID, b)
	if err != nil {
		return api.TrafficReceipt{}, fmt.Errorf("archive traffic: %w", err)
	}
	return api.TrafficReceipt{Added: added, Duplicate: dup}, nil
}

// Push implements audit.Archive for a node named by its hostname; the
// batch ID is audit.BatchID.
func (a *trafficArchive) Push(ctx context.Context, node string, rows []audit.Row) error {
	var nodes []api.Node
	err := a.st.View(ctx, func(tx store.Tx) (err error) {
		nodes, err = tx.Nodes(store.Query{Conds: []store.Cond{{Field: "hostname", Op: store.Eq, Value: node}}})
		return err
	})
	if err != nil {
		return fmt.Errorf("archive traffic: %w", err)
	}
	if len(nodes) == 0 {
		return fmt.Errorf("archive traffic: node %s: %w", node, store.ErrNotFound)
	}
	_, err = a.add(ctx, nodes[0].NodeID, api.TrafficBatch{ID: audit.BatchID(rows), Rows: audit.RowsToAPI(rows)})
	return err
}

// Query implements audit.ArchiveStore.
func (a *trafficArchive) Query(ctx context.Context, q audit.ArchiveQuery) ([]audit.SliceTraffic, error) {
	sums, err := a.st.Traffic().TrafficTo(ctx, q.Dst, q.From.Unix(), q.To.Unix())
	if err != nil {
		return nil, err
	}
	out := make([]audit.ArchivedSum, len(sums))
	for i, s := range sums {
		out[i] = audit.ArchivedSum{Node: s.Node, Slice: s.Slice, Proto: s.Proto, DstPort: s.DstPort,
			TCPFlags: s.TCPFlags, Packets: s.Packets, Bytes: s.Bytes,
			First: time.Unix(s.First, 0).UTC(), Last: time.Unix(s.Last, 0).UTC()}
	}
	return audit.SumArchived(out), nil
}

// prune deletes what is past the bounds.
func (a *trafficArchive) prune(ctx context.Context) error {
	n, err := a.st.Traffic().PruneTraffic(ctx, a.now().Add(-a.retention).Unix(), a.maxRows)
	if n > 0 {
		a.log.Info("traffic archive pruned", "rows", n)
	}
	return err
}

// pruneLoop prunes at once and then every trafficPruneEvery until ctx
// ends.
func (a *trafficArchive) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(trafficPruneEvery)
	defer tick.Stop()
	for {
		if err := a.prune(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("traffic archive: prune", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PushTraffic implements push.TrafficSource.
func (s *nodeSource) PushTraffic(ctx context.Context, nodeID int64, b api.TrafficBatch) (api.TrafficReceipt, error) {
	if s.archive == nil {
		return api.TrafficReceipt{}, fmt.Errorf("archive traffic: no archive")
	}
	rec, err := s.archive.add(ctx, nodeID, b)
	return rec, denied(err)
}
