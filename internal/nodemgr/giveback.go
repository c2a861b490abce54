package nodemgr

import (
	"context"
	"encoding/hex"
)

// When an rcap split from another is released (by its owner, at its end,
// with its owner's sliver or by the operator), its guarantees go back to
// the rcap it was split from if that one is still live: its cpu_guarantee,
// memory_guarantee, disk_guarantee and ports, the fields a split moved.
// So a broker that splits its pool per lease and releases each lease gets
// the lease's share back, and does not drain its pool. The child's limits
// (net_min_rate among them) were never taken from the parent, which kept
// its own: the child's count of them just ends. Only if the parent is
// gone, or busy with another operation at that moment, do the guarantees
// go back to the node.
//
// The parent's record is written first, naming the child in Absorbed,
// then the child's record is deleted. A crash between the two leaves both
// on disk; load sees the child named by a live parent and finishes the
// release, so a guarantee is never counted twice.

// giveBack is what a released child returns to its parent: the parent,
// its record after the return, and the parent's sliver when it needs the
// larger guarantees (marked updating and busy).
type giveBack struct {
	parent *rcapRecord
	next   rcapRecord
	sliver *sliverRecord
}

// parentLocked returns the live rcap r was split from, or nil.
func (m *Manager) parentLocked(r *rcapRecord) *rcapRecord {
	id, err := hex.DecodeString(r.Parent)
	if r.Parent == "" || err != nil || len(id) != 8 {
		return nil
	}
	return m.findRcap(func(p *rcapRecord) bool {
		return [8]byte(p.Hash[:8]) == [8]byte(id) && p.Hash != r.Hash
	})
}

// giveBackLocked prepares the return of child r's guarantees to its
// parent and writes the parent's record; nil if they go to the node. The
// caller deletes the child's record, then calls finishLocked (or
// undoLocked if that failed).
func (m *Manager) giveBackLocked(r *rcapRecord) *giveBack {
	p := m.parentLocked(r)
	if p == nil {
		return nil
	}
	name, bound := m.bindingOf(p.Hash)
	s := m.sliver(name)
	if m.busy[busyRcap(p.Hash)] || bound && (m.busy[name] || s == nil || s.State != sliverReady) {
		m.log.Info("released rcap's guarantees go to the node: its parent is busy", "rcap", r.Hash.id(), "parent", p.Hash.id())
		return nil
	}
	g := &giveBack{parent: p, next: *p}
	g.next.Rspec = returnedRspec(p, r.Rspec)
	g.next.Absorbed = r.Hash.String()
	if bound {
		if err := m.setStateLocked(s, sliverUpdating); err != nil {
			m.log.Error("return guarantees to the parent", "parent", p.Hash.id(), "err", err)
			return nil
		}
		m.busy[name] = true
		g.sliver = s
	}
	if err := m.writeRcap(&g.next); err != nil {
		m.log.Error("return guarantees to the parent; they go to the node", "parent", p.Hash.id(), "err", err)
		g.undoLocked(m)
		return nil
	}
	return g
}

// returnedRspec is parent's rspec with child's guarantees and ports back.
// A pool takes back only the ports its delegation still grants.
func returnedRspec(parent *rcapRecord, child checkedRspec) checkedRspec {
	rs := parent.Rspec.clone()
	for _, r := range moved {
		r.Set(&rs.Rspec, r.Get(&rs.Rspec)+r.Get(&child.Rspec))
	}
	for _, port := range child.Ports {
		if hasPort(rs.Ports, port) || parent.Granted != nil && !hasPort(parent.Granted.Ports, port) {
			continue
		}
		rs.Ports = append(rs.Ports, port)
	}
	return rs
}

// finishLocked moves the parent to its new rspec in memory and in the
// ledger, once the child's record and ledger entry are gone.
func (g *giveBack) finishLocked(m *Manager) {
	m.ledger.move(g.parent.Hash, g.parent.Account, g.parent.Rspec, g.next.Rspec)
	m.written(g.parent, g.next)
	m.log.Info("released rcap's guarantees back to its parent", "parent", g.parent.Hash.id(),
		"cpu_guarantee", g.next.Rspec.CPUGuarantee, "memory_guarantee", g.next.Rspec.MemoryGuarantee,
		"disk_guarantee", g.next.Rspec.DiskGuarantee)
}

// undoLocked puts the parent's record and sliver back as they were, when
// the child could not be released.
func (g *giveBack) undoLocked(m *Manager) {
	if err := m.writeRcap(g.parent); err != nil {
		// Open finishes the release: the parent names the child.
		m.log.Error("restore parent record", "parent", g.parent.Hash.id(), "err", err)
	}
	if g.sliver != nil {
		if err := m.setStateLocked(g.sliver, sliverReady); err != nil {
			m.log.Error("restore parent sliver state", "slice", g.sliver.Name, "err", err)
		}
		m.unbusyLocked(g.sliver.Name)
		g.sliver = nil
	}
}

// updateParentSliver gives the parent's sliver its larger guarantees. On
// failure the sliver keeps the smaller ones (less than its rcap holds,
// never more) until its next update.
func (m *Manager) updateParentSliver(ctx context.Context, s *sliverRecord) {
	m.mu.Lock()
	spec := m.specLocked(s)
	m.mu.Unlock()
	err := m.rt.Update(context.WithoutCancel(ctx), spec)
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.unbusyLocked(s.Name)
	if err != nil {
		m.log.Error("give the parent's sliver its returned guarantees", "slice", s.Name, "err", err)
	}
	if err := m.setStateLocked(s, sliverReady); err != nil {
		m.log.Error("give the parent's sliver its returned guarantees", "slice", s.Name, "err", err)
	}
}
