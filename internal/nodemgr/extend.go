package nodemgr

import (
	"context"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// Extend moves the end of rc, which the caller owns, to end, in place: the
// rcap, its ID, its resources and the sliver bound to it stay as they are,
// and the node manager releases it at the new end instead. Only a later
// end is taken (an equal one changes nothing): a renewal never shortens.
//
// Admission needs nothing more: guarantees count from acquire to release
// whatever an rcap's window (see ledger), so the guarantees of every live
// rcap, those that start later (leases) included, already fit beside this
// one's, and a longer window adds nothing to any sum. That is why the
// resource manager renews with Extend: a renewal on a full node succeeds,
// where a move to a new rcap would need room for both at once.
//
// The bounds are those of acquire and split: an rcap split from another
// ends no later than its parent (a broker's splits within its pool's end);
// a slice's rcap no later than the rspec its own sliver is bound to; a
// pool follows its delegation: extending a broker's rcap whose delegation
// ends with it extends the delegation and the pool too.
func (m *Manager) Extend(ctx context.Context, rc api.Rcap, end int64) error {
	m.mu.Lock()
	slice, err := m.extendLocked(ctx, rc, end)
	m.mu.Unlock()
	if err != nil || slice == "" {
		return err
	}
	// A broker's pool follows its delegation, which ends with the rcap.
	if err := m.syncPool(ctx, slice); err != nil {
		return fmt.Errorf("rcap extended, but the pool of slice %s: %w", slice, err)
	}
	return nil
}

// extendLocked moves the end of rc to end and returns the slice bound to
// it, if any. A delegation that ended with the rcap ends with it still.
func (m *Manager) extendLocked(ctx context.Context, rc api.Rcap, end int64) (string, error) {
	if m.closed {
		return "", errClosed
	}
	p, r, err := m.callerLocked(ctx, rc)
	if err != nil {
		return "", err
	}
	if err := m.checkExtendLocked(p, r, end); err != nil {
		m.log.Info("extend refused", "principal", p, "rcap", r.Hash.id(), "end", end, "err", err)
		return "", err
	}
	slice := m.boundName(r.Hash)
	old := r.Rspec.End
	if end == old {
		return slice, nil
	}
	n := *r
	n.Rspec = r.Rspec.clone()
	n.Rspec.End = end
	if d := n.Rspec.Delegated; d != nil && d.End == old {
		d.End = end
	}
	if err := m.saveRcap(r, n); err != nil {
		return "", err
	}
	// The entry at the old end is skipped when it pops (its end differs).
	m.expiry.push(r.Hash, end)
	m.kick()
	m.log.Info("rcap extended", "principal", p, "rcap", r.Hash.id(), "from", old, "to", end)
	return slice, nil
}

// checkExtendLocked says whether principal p may move the end of its rcap
// r to end.
func (m *Manager) checkExtendLocked(p string, r *rcapRecord, end int64) error {
	cur := r.Rspec.End
	switch {
	case end <= 0 || end > api.MaxTime:
		return invalidf("end: %d is out of range (1 to %d, Unix seconds)", end, int64(api.MaxTime))
	case end <= m.now() && end != cur:
		return invalidf("end: %d is in the past (now %d)", end, m.now())
	case cur == 0:
		return refusedf("end: rcap %s never ends; extend only extends", r.Hash.id())
	case end < cur:
		return refusedf("end: %d is before the rcap's end %d; extend only extends", end, cur)
	case m.busy[busyRcap(r.Hash)]:
		return refusedf("rcap %s: another operation on it is under way", r.Hash.id())
	case r.PoolOf != "":
		return refusedf("rcap %s is the pool of slice %s's delegation: it ends with the delegation", r.Hash.id(), r.PoolOf)
	}
	if parent := m.parentLocked(r); parent != nil && parent.Rspec.End != 0 && end > parent.Rspec.End {
		return refusedf("end: %d is after the parent's end %d", end, parent.Rspec.End)
	}
	if p != principalCentral {
		return m.checkSliceEndLocked(p, end)
	}
	return nil
}
