package nodemgr

import (
	"context"
	"fmt"
	"slices"

	"github.com/orbisproject/orbis/api"
)

// Amend gives rc, which the caller owns, the resources rs in place: the
// rcap keeps its ID, and a sliver bound to it gets the new limits and
// ports at once. rs is checked as acquire checks it (zero fields get the
// defaults; a zero start keeps the rcap's start).
//
// Admission counts the difference only: the rcap's own guarantees and
// ports are its own, so keeping them, or lowering them, always succeeds,
// and only what rs adds (a higher guarantee, a new port) must fit beside
// the other rcaps and in the local policy. So a slice whose ports are
// reserved can have its limits changed, and a full node still applies
// lowered limits. Ports are central's to give: central's amend takes a
// port back from a slice's rcap that holds it, as its acquire does.
//
// A split (a broker's, from its pool or an rcap) keeps its guarantees
// and ports, which it holds from its parent, and its other limits and
// its time stay within its parent's; a pool follows its delegation and
// cannot be amended.
func (m *Manager) Amend(ctx context.Context, rc api.Rcap, rs api.Rspec) error {
	m.winPorts(ctx, rs.Ports) // central's ports, as at acquire
	m.mu.Lock()
	s, old, err := m.amendLocked(ctx, rc, rs)
	var spec api.SliverSpec
	if s != nil {
		spec = m.specLocked(s)
	}
	m.mu.Unlock()
	if err != nil || s == nil {
		return err
	}
	if err := m.update(ctx, s, old.sliverRecord, spec, m.undoAmend(s.Rcap, old.rspec)); err != nil {
		return fmt.Errorf("amend: %w", err)
	}
	if err := m.syncPool(ctx, s.Name); err != nil {
		return fmt.Errorf("rcap amended, but the pool of slice %s: %w", s.Name, err)
	}
	m.releaseStranded(ctx) // the slice may have lost the privilege its rcaps derive from
	return nil
}

// amendOld is what amendLocked changed: the sliver's record before its
// update, and the rcap's rspec.
type amendOld struct {
	sliverRecord
	rspec checkedRspec
}

// amendLocked checks an amend and writes the new rspec. If a sliver is
// bound to the rcap, it returns the sliver, marked updating and busy,
// with what it was before, for the caller to apply the new limits.
func (m *Manager) amendLocked(ctx context.Context, rc api.Rcap, rs api.Rspec) (*sliverRecord, *amendOld, error) {
	if m.closed {
		return nil, nil, errClosed
	}
	p, r, err := m.callerLocked(ctx, rc)
	if err != nil {
		return nil, nil, err
	}
	if rs.Start == 0 {
		rs.Start = r.Rspec.Start
	}
	checked, err := checkRspec(m.node, rs, m.now())
	if err == nil {
		err = m.admitAmendLocked(p, r, checked)
	}
	if err != nil {
		m.log.Info("amend refused", "principal", p, "rcap", r.Hash.id(), "err", err)
		return nil, nil, err
	}
	name, bound := m.bindingOf(r.Hash)
	s := m.sliver(name)
	old := &amendOld{rspec: r.Rspec}
	if bound {
		old.sliverRecord = *s
		if err := m.setStateLocked(s, sliverUpdating); err != nil {
			return nil, nil, err
		}
	}
	if err := m.setRspecLocked(r, checked); err != nil {
		if bound {
			m.restoreSliverLocked(s, old.sliverRecord)
		}
		return nil, nil, err
	}
	m.log.Info("rcap amended", "principal", p, "rcap", r.Hash.id(), "cpu_guarantee", checked.CPUGuarantee,
		"memory_guarantee", checked.MemoryGuarantee, "disk_guarantee", checked.DiskGuarantee,
		"net_max_rate", checked.NetMaxRate, "ports", len(checked.Ports), "end", checked.End)
	if !bound {
		return nil, nil, nil
	}
	m.busy[name], m.busy[busyRcap(r.Hash)] = true, true
	return s, old, nil
}

// admitAmendLocked says whether principal p may give its rcap r the
// resources rs: what a slice may hold at all, then what rs adds to r
// beside the other rcaps and in the local policy, then the bounds of
// r's parent or of the slice's own rspec.
func (m *Manager) admitAmendLocked(p string, r *rcapRecord, rs checkedRspec) error {
	switch {
	case m.busy[busyRcap(r.Hash)]:
		return refusedf("rcap %s: another operation on it is under way", r.Hash.id())
	case r.PoolOf != "":
		return refusedf("rcap %s is the pool of slice %s's delegation: it follows the delegation", r.Hash.id(), r.PoolOf)
	}
	if name := m.boundName(r.Hash); name != "" && m.busy[name] {
		return refusedf("slice %s: another operation on it is under way", name)
	}
	if p != principalCentral {
		if err := checkSliceRspec(rs.Rspec); err != nil {
			return err
		}
	}
	if parent := m.parentLocked(r); parent != nil || r.Parent != "" {
		return checkAmendSplit(parent, r.Rspec, rs)
	}
	if err := m.ledger.admit(m.node, m.policy, r.Account, growth(r.Rspec, rs)); err != nil {
		return err
	}
	if p != principalCentral {
		return m.checkSliceEndLocked(p, rs.End)
	}
	return nil
}

// growth is what want adds to have: the guarantees it raises, by how
// much, and the ports have does not reserve. Nothing else is admitted.
func growth(have, want checkedRspec) api.Rspec {
	var more api.Rspec
	for _, r := range guarantees {
		r.Set(&more, max(0, r.Get(&want.Rspec)-r.Get(&have.Rspec)))
	}
	for _, p := range want.Ports {
		if !hasPort(have.Ports, p) {
			more.Ports = append(more.Ports, p)
		}
	}
	return more
}

// checkAmendSplit says whether a split may change from have to want: its
// guarantees and ports came out of its parent (nil: gone), so they stay;
// the rest stays within the parent, as at the split.
func checkAmendSplit(parent *rcapRecord, have, want checkedRspec) error {
	switch {
	case parent == nil:
		return refusedf("the rcap it was split from is gone: a split is amended within its parent")
	case slices.ContainsFunc(moved, func(r *api.Resource) bool { return r.Get(&want.Rspec) != r.Get(&have.Rspec) }):
		return refusedf("guarantees: a split keeps those it took from its parent (split again or release to change them)")
	case !samePorts(have.Ports, want.Ports):
		return refusedf("ports: a split keeps those it took from its parent (split again or release to change them)")
	}
	within := cloneRspec(parent.Rspec.Rspec)
	for _, r := range moved {
		r.Set(&within, r.Get(&have.Rspec))
	}
	within.Ports = have.Ports
	return checkWithin(within, want.Rspec)
}

func samePorts(a, b []api.Port) bool {
	if len(a) != len(b) {
		return false
	}
	for _, p := range a {
		if !hasPort(b, p) {
			return false
		}
	}
	return true
}

// setRspecLocked writes rs as r's rspec and accounts for it: the ledger
// and the expiry heap (an entry at the old end is skipped when it pops).
func (m *Manager) setRspecLocked(r *rcapRecord, rs checkedRspec) error {
	n := *r
	n.Rspec = rs
	old := r.Rspec
	if err := m.saveRcap(r, n); err != nil {
		return err
	}
	m.ledger.move(r.Hash, r.Account, old, r.Rspec)
	m.expiry.push(r.Hash, r.Rspec.End)
	m.kick()
	return nil
}

// undoAmend returns what update calls, under the lock, when the runtime
// could apply none of an amend: the rcap gets back its old rspec.
func (m *Manager) undoAmend(h rcapHash, old checkedRspec) func() {
	return func() {
		if r := m.rcap(h); r != nil {
			if err := m.setRspecLocked(r, old); err != nil {
				m.log.Error("restore rcap after a failed amend", "rcap", h.id(), "err", err)
			}
		}
	}
}

// restoreSliverLocked writes back the record of s as it was.
func (m *Manager) restoreSliverLocked(s *sliverRecord, old sliverRecord) {
	if err := m.saveSliver(s, old); err != nil {
		m.log.Error("restore sliver record", "slice", s.Name, "err", err)
	}
}
