package nodemgr

import (
	"context"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// Split carves req out of rc's resources into a new rcap and returns it.
// The parent's guarantees and ports shrink by exactly the child's, so a
// split never creates resources; the child's limits, privileges and time
// window stay within the parent's. If the parent is bound, its sliver gets
// its new limits before Split returns; if that fails the split is undone.
func (m *Manager) Split(ctx context.Context, rc api.Rcap, req api.Rspec) (api.Rcap, error) {
	crc, ch, err := newRcap()
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	in, slice, err := m.splitLocked(ctx, rc, req, crc, ch)
	if err != nil || slice == "" {
		m.mu.Unlock()
		if err != nil {
			return "", err
		}
		return crc, nil
	}
	s := m.sliver(slice)
	if err := m.setStateLocked(s, sliverUpdating); err != nil {
		err = m.undoSplitWithLocked(in, err)
		m.mu.Unlock()
		return "", err
	}
	keys := []string{slice, busyRcap(in.Parent), busyRcap(ch)}
	for _, k := range keys {
		m.busy[k] = true
	}
	spec := m.specLocked(s)
	m.mu.Unlock()

	err = m.rt.Update(context.WithoutCancel(ctx), spec)

	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.unbusyLocked(keys...)
	if err == nil {
		err = m.setStateLocked(s, sliverReady)
	}
	if err != nil {
		return "", m.undoSplitWithLocked(in, fmt.Errorf("update sliver %s: %w", slice, err))
	}
	if err := m.delSplit(ch); err != nil {
		m.log.Warn("split intent left behind", "err", err) // a restart would undo the split
	}
	return crc, nil
}

// splitLocked checks and records a split, with an intent that lets Open
// undo it after a crash. It returns the intent and the slice bound to the
// parent, whose sliver needs the parent's new limits; if none is, the split
// is complete.
func (m *Manager) splitLocked(ctx context.Context, rc api.Rcap, req api.Rspec, crc api.Rcap, ch rcapHash) (splitIntent, string, error) {
	if m.closed {
		return splitIntent{}, "", errClosed
	}
	p, parent, err := m.callerLocked(ctx, rc)
	if err != nil {
		return splitIntent{}, "", err
	}
	if p != principalCentral {
		if err := checkSliceRspec(req); err != nil {
			return splitIntent{}, "", err
		}
	}
	if err := m.roomForLocked(p); err != nil {
		return splitIntent{}, "", err
	}
	slice := m.boundName(parent.Hash)
	if m.busy[busyRcap(parent.Hash)] || (slice != "" && m.busy[slice]) {
		return splitIntent{}, "", refusedf("rcap %s: another operation on it is under way", parent.Hash.id())
	}
	child, rest, err := splitRspec(m.node, parent.Rspec, req, m.now())
	if err == nil {
		err = m.ledger.admitSplit(m.policy, parent.Account, child)
	}
	if err != nil {
		m.log.Info("split refused", "principal", p, "parent", parent.Hash.id(), "err", err)
		return splitIntent{}, "", err
	}
	in := splitIntent{Child: ch, Parent: parent.Hash, ParentOld: parent.Rspec}
	if err := m.putSplit(&in); err != nil {
		return in, "", err
	}
	cr := &rcapRecord{Hash: ch, Parent: parent.Hash.id(), Rspec: child, Owner: p,
		Account: parent.Account, Maker: p, Pool: parent.Pool}
	if p != principalCentral {
		cr.Secret = crc
	}
	if err := m.putRcap(cr); err != nil {
		return in, "", m.undoSplitWithLocked(in, err)
	}
	m.ledger.reserve(ch, cr.Account, child)
	m.expiry.push(ch, child.End)
	newParent := *parent
	newParent.Rspec = rest
	was := parent.Rspec
	if err := m.saveRcap(parent, newParent); err != nil {
		return in, "", m.undoSplitWithLocked(in, err)
	}
	m.ledger.move(parent.Hash, parent.Account, was, rest)
	m.log.Info("rcap split", "principal", p, "parent", parent.Hash.id(), "child", ch.id(), "cpu_guarantee", child.CPUGuarantee,
		"memory_guarantee", child.MemoryGuarantee, "disk_guarantee", child.DiskGuarantee)
	if slice != "" {
		return in, slice, nil
	}
	if err := m.delSplit(ch); err != nil {
		m.log.Warn("split intent left behind", "err", err)
	}
	return in, "", nil
}

// undoSplitWithLocked undoes the split of in after cause and returns
// cause; if the parent is bound, its sliver gets the old limits back.
func (m *Manager) undoSplitWithLocked(in splitIntent, cause error) error {
	if err := m.undoSplitLocked(in); err != nil {
		m.log.Error("undo split", "parent", in.Parent.id(), "err", err)
	}
	if name, ok := m.bindingOf(in.Parent); ok {
		if s := m.sliver(name); s != nil && s.State == sliverUpdating {
			spec := m.specLocked(s)
			if err := m.rt.Update(context.Background(), spec); err != nil {
				m.log.Error("restore sliver limits", "slice", name, "err", err)
			} else if err := m.setStateLocked(s, sliverReady); err != nil {
				m.log.Error("restore sliver limits", "slice", name, "err", err)
			}
		}
	}
	return cause
}

// undoSplitLocked deletes the child of in and gives the parent its old
// rspec back, on disk and in memory; then it deletes the intent.
func (m *Manager) undoSplitLocked(in splitIntent) error {
	c := m.rcap(in.Child)
	if err := m.delRcap(in.Child); err != nil {
		return err
	}
	if c != nil {
		m.ledger.release(in.Child, c.Account, c.Rspec)
	}
	if p := m.rcap(in.Parent); p != nil {
		restored := *p
		restored.Rspec = in.ParentOld
		was := p.Rspec
		if err := m.saveRcap(p, restored); err != nil {
			return err
		}
		m.ledger.move(p.Hash, p.Account, was, p.Rspec)
	}
	return m.delSplit(in.Child)
}
