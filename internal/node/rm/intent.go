package rm

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/errkind"
)

// acquiring is the intent of an acquire, persisted before the node manager
// is asked: if the resource manager dies after the node manager made the
// rcap but before it recorded it, the rcap is central's and no one holds
// it. Before names every rcap that existed, so that the next start knows
// which of central's unbound rcaps that acquire made (settleAcquire).
type acquiring struct {
	Before []string `json:"before"` // rcap IDs
}

// acquireRecorded acquires rs, its intent recorded first. The caller
// records the rcap and clears st.Acquiring in one save.
func (m *manager) acquireRecorded(ctx context.Context, rs api.Rspec) (api.Rcap, error) {
	l, err := m.nm.List(ctx)
	if err != nil {
		return "", fmt.Errorf("list rcaps before acquire: %w", err)
	}
	in := &acquiring{Before: make([]string, 0, len(l.Rcaps))}
	for _, r := range l.Rcaps {
		in.Before = append(in.Before, r.ID)
	}
	m.st.Acquiring = in
	if err := m.save(); err != nil {
		m.st.Acquiring = nil
		return "", err
	}
	rc, err := m.nm.Acquire(ctx, rs)
	if err != nil {
		m.st.Acquiring = nil
		m.save()
		return "", err
	}
	return rc, nil
}

// settleAcquire finishes an acquire a crash cut short: an rcap of
// central's that is bound to nothing and did not exist before it is the
// one it made, which no one holds: it is released (by ID, the only handle
// left on it). It reports whether the state is settled.
func (m *manager) settleAcquire(ctx context.Context) bool {
	in := m.st.Acquiring
	if in == nil {
		return true
	}
	l, err := m.nm.List(ctx)
	if err != nil {
		m.log.Warn("settle an interrupted acquire; will retry", "err", err)
		return false
	}
	before := map[string]bool{}
	for _, id := range in.Before {
		before[id] = true
	}
	settled := true
	for _, r := range l.Rcaps {
		if before[r.ID] || r.Owner != "central" || r.Bound != "" {
			continue
		}
		if err := m.nm.Reclaim(ctx, r.ID); err != nil && !errors.Is(err, errkind.NotFound) {
			m.log.Warn("release the rcap of an interrupted acquire; will retry", "rcap", r.ID, "err", err)
			settled = false
			continue
		}
		m.log.Info("released the rcap of an interrupted acquire", "rcap", r.ID)
	}
	if settled {
		m.st.Acquiring = nil
		m.save()
	}
	return settled
}
