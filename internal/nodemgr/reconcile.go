package nodemgr

import (
	"context"
	"fmt"
)

// reconcile brings records and runtime into agreement after Open loaded
// the records: it undoes interrupted splits, rolls back interrupted binds,
// finishes interrupted updates and destroys, and destroys runtime slivers
// no record owns. Slivers whose records are ready are left alone, running
// or not.
func (m *Manager) reconcile(ctx context.Context) error {
	m.mu.Lock()
	m.indexLocked()
	if err := m.undoSplitsLocked(); err != nil {
		m.mu.Unlock()
		return err
	}
	var work []*sliverRecord
	for _, b := range m.sliverList() {
		if s := b.s; s.State != sliverReady || b.r == nil {
			m.busy[s.Name] = true
			work = append(work, s)
		} else if s.Unapplied {
			m.unapplied[s.Name] = backoff{at: m.clock.Now()}
		}
	}
	m.mu.Unlock()
	for _, s := range work {
		m.recover(ctx, s)
	}
	m.destroyOrphans(ctx)
	m.releaseStranded(ctx) // a crash may have come between a teardown and its sweep
	return nil
}

// undoSplitsLocked undoes every split whose intent survived a crash; a
// bound parent's sliver is marked for an update to its old limits.
func (m *Manager) undoSplitsLocked() error {
	intents, err := m.splits()
	if err != nil {
		return err
	}
	for _, in := range intents {
		m.log.Warn("undoing interrupted split", "parent", in.Parent.id(), "child", in.Child.id())
		if err := m.undoSplitLocked(in); err != nil {
			return fmt.Errorf("undo split: %w", err)
		}
		name, bound := m.bindingOf(in.Parent)
		if s := m.sliver(name); bound && s.State == sliverReady {
			if err := m.setStateLocked(s, sliverUpdating); err != nil {
				return err
			}
		}
	}
	return nil
}

// recover finishes or undoes what a crash interrupted on s, which the
// caller marked busy.
func (m *Manager) recover(ctx context.Context, s *sliverRecord) {
	log := m.log.With("slice", s.Name, "state", s.State)
	m.mu.Lock()
	live := m.rcap(s.Rcap) != nil
	if s.State == sliverUpdating && live {
		spec := m.specLocked(s)
		m.mu.Unlock()
		err := m.rt.Update(ctx, spec)
		m.mu.Lock()
		if err == nil {
			err = m.setStateLocked(s, sliverReady)
		}
		if err == nil {
			log.Info("finished interrupted update")
			m.unbusyLocked(s.Name)
			m.mu.Unlock()
			return
		}
		log.Error("finish interrupted update; destroying the sliver", "err", err)
	}
	switch {
	case s.State == sliverCreating:
		log.Warn("rolling back interrupted bind")
	case !live:
		log.Warn("sliver's rcap is gone; destroying it")
	}
	if err := m.setStateLocked(s, sliverDestroying); err != nil {
		log.Error("mark sliver destroying", "err", err)
	}
	m.mu.Unlock()
	m.teardown(ctx, s) // a failure is retried by the expiry loop
}

// destroyOrphans destroys slivers the runtime has that no record owns: a
// crash between the runtime's create and the record's write cannot leave
// one (the record comes first), so these are leftovers from lost state.
func (m *Manager) destroyOrphans(ctx context.Context) {
	names, err := m.rt.List(ctx)
	if err != nil {
		m.log.Error("list runtime slivers; orphans stay", "err", err)
		return
	}
	for _, name := range names {
		m.mu.Lock()
		owned := m.sliver(name) != nil
		m.mu.Unlock()
		if owned {
			continue
		}
		m.log.Warn("destroying sliver no record owns", "slice", name)
		if err := m.rt.Destroy(ctx, name); err != nil {
			m.log.Error("destroy orphan sliver", "slice", name, "err", err)
		}
	}
}
