package plc

import (
	"context"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Reservable nodes (PlanetLab's reservation policy "lease_or_idle"): a
// slice added to a node whose node_type is "reservable" keeps its sliver
// there, but the sliver runs only while the slice holds a lease on that
// node covering now. Central, not the node, applies the policy: outside
// its leases a sliver gets the attribute enabled=0, which the node's
// resource manager already obeys (the sliver is stopped, its files stay,
// logins are refused), and LeaseTick bumps the node's version at each
// lease boundary so that long-polling nodes see the change at once.
//
// The site's admin slice, on its own site's nodes, is exempt: it is the
// node's system slice (PlanetLab spared its system slices the same way).
// Regular nodes ignore leases.

// nodeTypeReservable is the node_type of nodes that run leased slices only.
const nodeTypeReservable = "reservable"

// leaseRecheck bounds LeaseLoop's sleep between two passes: leases are
// cut on the hour, but the wall clock may jump.
const leaseRecheck = time.Minute

// leaseClock is what LeaseTick remembers between passes.
type leaseClock struct {
	mu   sync.Mutex // mu guards the following
	last int64      // the end of the last pass's window; 0 before the first
}

// A node is sent the leases that have begun or begin within leaseHorizon
// (seconds), at most maxNodeLeases of them in start order: the current
// one is always first, and the list stays small however far ahead slots
// are booked.
const (
	leaseHorizon  = 7 * 24 * 3600
	maxNodeLeases = 200
)

// applyLeases enforces node n's leases on out (n's list, built at t.now):
// on a reservable node, every sliver whose slice holds no lease covering
// now, except the admin slice, gets enabled=0, and out.Leases lists the
// node's current and future leases (see leaseHorizon). Other nodes are
// left as they are.
func (t *txn) applyLeases(n *api.Node, out *api.Slivers) error {
	if n.NodeType != nodeTypeReservable {
		return nil
	}
	leases, err := t.Leases(store.Query{Conds: []store.Cond{
		{Field: "node_id", Op: store.Eq, Value: n.NodeID},
		{Field: "t_until", Op: store.Gt, Value: t.now},
		{Field: "t_from", Op: store.Lt, Value: t.now + leaseHorizon},
	}, Sort: []string{"t_from", "lease_id"}, Limit: maxNodeLeases})
	if err != nil {
		return err
	}
	leased := map[int64]bool{}
	for _, l := range leases {
		if l.TFrom <= t.now {
			leased[l.SliceID] = true
		}
	}
	for i := range out.Slivers {
		sv := &out.Slivers[i]
		if !leased[sv.SliceID] && !sv.Rspec.Privileges.Admin {
			sv.Attributes = disabled(sv.Attributes)
		}
	}
	out.Leases = leases
	return nil
}

// disabled returns attrs with every enabled attribute replaced by one
// enabled=0, in tagname order.
func disabled(attrs []api.Attribute) []api.Attribute {
	out := make([]api.Attribute, 0, len(attrs)+1)
	done := false
	for _, a := range attrs {
		switch {
		case a.TagName == "enabled":
			continue
		case !done && a.TagName > "enabled":
			out, done = append(out, api.Attribute{TagName: "enabled", Value: "0"}), true
		}
		out = append(out, a)
	}
	if !done {
		out = append(out, api.Attribute{TagName: "enabled", Value: "0"})
	}
	return out
}

// LeaseTick bumps the version of every reservable node where a lease
// started or ended since the last pass, in (last, now], so that its
// sliver list (NodeSlivers) is read again. The first pass of a Service
// does not know when the last one ran (central may have been down over
// several boundaries), so it bumps every reservable node: a restarted
// central catches up. A failed pass is retried over the same window by
// the next one.
func (s *Service) LeaseTick(ctx context.Context, now time.Time) error {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	to := now.Unix()
	from := s.leases.last
	if from != 0 && to <= from {
		return nil
	}
	var ids []int64
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		ids, err = reservableNodesAt(tx, from, to)
		return err
	})
	if err != nil {
		return s.dbError(err)
	}
	if len(ids) > 0 {
		err = s.update(ctx, &Caller{}, func(t *txn) error {
			t.bump(ids...)
			return nil
		})
		if err != nil {
			return err
		}
		s.log.Info("lease boundary: nodes bumped", "nodes", ids, "catch_up", from == 0)
	}
	s.leases.last = to
	return nil
}

// reservableNodesAt returns the reservable nodes with a lease boundary in
// (from, to], or every reservable node if from is 0.
func reservableNodesAt(tx store.Tx, from, to int64) ([]int64, error) {
	q := store.Query{Conds: []store.Cond{{Field: "node_type", Op: store.Eq, Value: nodeTypeReservable}}}
	if from != 0 {
		set := map[int64]bool{}
		for _, field := range []string{"t_from", "t_until"} {
			ls, err := tx.Leases(store.Query{Conds: []store.Cond{
				{Field: field, Op: store.Gt, Value: from},
				{Field: field, Op: store.Le, Value: to},
			}})
			if err != nil {
				return nil, err
			}
			for _, l := range ls {
				set[l.NodeID] = true
			}
		}
		if len(set) == 0 {
			return nil, nil
		}
		q.Conds = append(q.Conds, store.Cond{Field: "node_id", Op: store.Eq, Value: setList(set)})
	}
	nodes, err := tx.Nodes(q)
	ids := make([]int64, len(nodes))
	for i, n := range nodes {
		ids[i] = n.NodeID
	}
	return ids, err
}

// LeaseLoop runs LeaseTick at once, then at every lease boundary (each
// LeaseGranularity of the clock) and at least every minute, until ctx is
// done.
func (s *Service) LeaseLoop(ctx context.Context) {
	for {
		wait := leaseRecheck
		if err := s.LeaseTick(ctx, s.now()); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("lease boundaries", "err", err)
			wait = 5 * time.Second
		}
		timer := time.NewTimer(min(wait, untilBoundary(s.now())))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// untilBoundary is how long from now to the next multiple of
// LeaseGranularity.
func untilBoundary(now time.Time) time.Duration {
	next := (now.Unix()/LeaseGranularity + 1) * LeaseGranularity
	return time.Unix(next, 0).Sub(now)
}
