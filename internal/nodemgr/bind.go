package nodemgr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/orbisproject/orbis/api"
)

// Bind binds rc's resources to the sliver of slice. If the slice has no
// sliver, Bind gives it a UID range and creates and starts it; if it has
// one, the sliver gets rc's resources and attrs (a different rcap it was
// bound to stays live, unbound). The rcap's rspec must carry
// privileges.create_sliver and have started.
//
// A new sliver's record is written, in state creating, before the runtime
// is called; after a crash Open rolls the bind back. A bind that did not
// answer did not happen.
func (m *Manager) Bind(ctx context.Context, slice string, rc api.Rcap, attrs api.BindAttrs) error {
	if err := checkSliceName(slice); err != nil {
		return err
	}
	if err := checkAttrs(attrs); err != nil {
		return err
	}
	if attrs.Image == "" {
		attrs.Image = m.node.DefaultImage
	}
	attrs.Keys = append([]string(nil), attrs.Keys...)
	m.mu.Lock()
	made, err := m.takeOverLocked(ctx, slice, rc)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if made != nil {
		if err := m.teardown(ctx, made); err != nil {
			return fmt.Errorf("bind %s: destroy the sliver %s made under this name: %w", slice, made.Maker, err)
		}
	}
	m.mu.Lock()
	s, old, spec, err := m.prepareBindLocked(ctx, slice, rc, attrs)
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if old == nil {
		err = m.create(ctx, s, spec)
	} else {
		err = m.update(ctx, s, *old, spec, nil)
	}
	if err != nil {
		return err
	}
	if err := m.syncPool(ctx, slice); err != nil {
		m.log.Error("broker's pool", "slice", slice, "err", err)
		return fmt.Errorf("bind %s: the sliver is ready, but its delegation: %w", slice, err)
	}
	if old != nil {
		m.releaseStranded(ctx) // the slice may have lost the privilege its rcaps derive from
	}
	return nil
}

// takeOverLocked is the first step of central's bind to a slice whose
// sliver a slice (a broker) made: slice names are central's, and a
// broker's users may have left anything in that sliver's files (a login,
// a changed program, a boot script) that must never run in central's
// slice, which may hold privileges the broker's never had. So central
// gets a fresh sliver: takeOverLocked marks the old one destroying and
// busy and returns it, for Bind to tear down before it binds. Any other
// bind returns nil, and prepareBindLocked checks it.
func (m *Manager) takeOverLocked(ctx context.Context, slice string, rc api.Rcap) (*sliverRecord, error) {
	s := m.sliver(slice)
	if m.closed || s == nil || s.Maker == "" {
		return nil, nil
	}
	p, r, err := m.callerLocked(ctx, rc)
	if err != nil || p != principalCentral {
		return nil, nil // prepareBindLocked refuses or allows it
	}
	if err := m.checkBindLocked(slice, r); err != nil {
		return nil, err
	}
	if err := m.setStateLocked(s, sliverDestroying); err != nil {
		return nil, err
	}
	m.log.Warn("central binds a slice whose sliver a slice made: destroying it first", "slice", slice,
		"maker", s.Maker, "rcap", r.Hash.id())
	m.busy[slice] = true
	return s, nil
}

// prepareBindLocked checks a bind and records its intent. For a new
// sliver it returns its record; for an existing one also the record as it
// was before. Either way the slice and rcaps involved are marked busy.
func (m *Manager) prepareBindLocked(ctx context.Context, slice string, rc api.Rcap, attrs api.BindAttrs) (*sliverRecord, *sliverRecord, api.SliverSpec, error) {
	if m.closed {
		return nil, nil, api.SliverSpec{}, errClosed
	}
	p, r, err := m.callerLocked(ctx, rc)
	if err != nil {
		return nil, nil, api.SliverSpec{}, err
	}
	if err := m.checkBindLocked(slice, r); err != nil {
		return nil, nil, api.SliverSpec{}, err
	}
	if err := m.mayTouchSliverLocked(p, slice); err != nil {
		return nil, nil, api.SliverSpec{}, err
	}
	if err := m.mayBindNameLocked(p, slice); err != nil {
		m.log.Warn("bind refused: not a name central gave the caller", "principal", p, "slice", slice)
		return nil, nil, api.SliverSpec{}, err
	}
	if err := m.admitBindLocked(slice, r); err != nil {
		m.log.Info("bind refused", "principal", p, "slice", slice, "rcap", r.Hash.id(), "err", err)
		return nil, nil, api.SliverSpec{}, err
	}
	m.log.Info("bind", "principal", p, "slice", slice, "rcap", r.Hash.id())
	s := m.sliver(slice)
	if s == nil {
		if full := m.fullReason(); full != "" {
			return nil, nil, api.SliverSpec{}, refusedf("bind: this node takes no new sliver now: %s", full)
		}
		s, err = m.newSliverLocked(p, slice, r.Hash, attrs)
		if err != nil {
			return nil, nil, api.SliverSpec{}, err
		}
		return s, nil, m.specLocked(s), nil
	}
	old := *s
	n := old
	n.Rcap, n.Attrs, n.State = r.Hash, attrs, sliverUpdating
	if err := m.saveSliver(s, n); err != nil {
		return nil, nil, api.SliverSpec{}, err
	}
	m.busy[slice], m.busy[busyRcap(r.Hash)], m.busy[busyRcap(old.Rcap)] = true, true, true
	return s, &old, m.specLocked(s), nil
}

// mayBindNameLocked says whether principal may bind an rcap to the slice
// name: a slice name is the slice's that central registered under it, so
// central binds any; a slice (a broker) binds its own name and the names
// central listed in its current rspec's bind_slices, and no other. So a
// broker cannot squat a name, its logins, its audit trail or its ports on
// a node the slice is not on.
func (m *Manager) mayBindNameLocked(principal, slice string) error {
	if principal == principalCentral || sliceOf(principal) == slice {
		return nil
	}
	if s := m.sliver(sliceOf(principal)); s != nil {
		if r := m.rcap(s.Rcap); r != nil && slices.Contains(r.Rspec.BindSlices, slice) {
			return nil
		}
	}
	return deniedf("bind: slice name %s is not %s's to bind: central delegated it no such slice", slice, principal)
}

func (m *Manager) checkBindLocked(slice string, r *rcapRecord) error {
	switch {
	case !r.Rspec.Privileges.CreateSliver:
		return deniedf("bind: rcap %s lacks privileges.create_sliver", r.Hash.id())
	case r.Rspec.Start > m.now():
		return refusedf("bind: rcap %s starts at %d, it is now %d", r.Hash.id(), r.Rspec.Start, m.now())
	case m.busy[slice]:
		return refusedf("slice %s: another operation on it is under way", slice)
	case m.busy[busyRcap(r.Hash)]:
		return refusedf("rcap %s: another operation on it is under way", r.Hash.id())
	}
	if other, ok := m.bindingOf(r.Hash); ok && other != slice {
		return refusedf("bind: rcap %s is bound to slice %s", r.Hash.id(), other)
	}
	if s := m.sliver(slice); s != nil && s.State != sliverReady {
		return refusedf("slice %s: its sliver is %s", slice, s.State)
	}
	return nil
}

// admitBindLocked checks the sliver counts a bind of r to slice would
// change: the local policy's max_slivers for a new sliver, the policy's
// slivers for r's account, and the pool's slivers for an rcap of a pool.
func (m *Manager) admitBindLocked(slice string, r *rcapRecord) error {
	cur := m.sliver(slice)
	var curRcap *rcapRecord
	if cur != nil {
		curRcap = m.rcap(cur.Rcap)
	}
	if pol := m.policy; pol != nil && pol.MaxSlivers > 0 && cur == nil && int64(m.sliverCount()) >= pol.MaxSlivers {
		return refusedf("slivers: this node runs at most %d (local policy)", pol.MaxSlivers)
	}
	acct := r.Account
	if limit := m.policy.share(acct).Slivers; limit >= 0 && (curRcap == nil || curRcap.Account != acct) {
		if n := m.accountSliversLocked(acct); n >= limit {
			return refusedf("slivers: %s may have %d on this node (local policy) and has %d", acct, limit, n)
		}
	}
	if r.Pool == "" || curRcap != nil && curRcap.Pool == r.Pool {
		return nil
	}
	ph, _ := parseHash(r.Pool)
	pool := m.rcap(ph)
	if pool == nil {
		return refusedf("bind: rcap %s comes from a pool that is gone", r.Hash.id())
	}
	if n := m.poolSliversLocked(r.Pool, slice); n >= pool.Rspec.Slivers {
		return refusedf("slivers: the delegation of slice %s allows %d and %d are bound", pool.PoolOf, pool.Rspec.Slivers, n)
	}
	return nil
}

// accountSliversLocked counts the slivers bound to rcaps of account.
func (m *Manager) accountSliversLocked(acct string) int64 {
	return m.countSlivers(func(s *sliverRecord, r *rcapRecord) bool {
		return r != nil && r.Account == acct && s.State != sliverDestroying
	})
}

// newSliverLocked allocates a UID range and writes the record of a new
// sliver in state creating.
func (m *Manager) newSliverLocked(p, slice string, h rcapHash, attrs api.BindAttrs) (*sliverRecord, error) {
	s := &sliverRecord{Name: slice, Rcap: h, Attrs: attrs, State: sliverCreating}
	if p != principalCentral {
		s.Maker = p
	}
	if err := m.newSliver(s); err != nil {
		return nil, err
	}
	m.busy[slice], m.busy[busyRcap(h)] = true, true
	return s, nil
}

// create creates and starts a new sliver; on failure it rolls back.
func (m *Manager) create(ctx context.Context, s *sliverRecord, spec api.SliverSpec) error {
	rctx := context.WithoutCancel(ctx)
	err := m.rt.Create(rctx, spec)
	if err != nil {
		err = fmt.Errorf("create sliver: %w", err)
	} else if err = m.rt.Start(rctx, s.Name); err != nil {
		err = fmt.Errorf("start sliver: %w", err)
	}
	m.mu.Lock()
	if err == nil {
		err = m.setStateLocked(s, sliverReady)
	}
	if err == nil {
		m.unbusyLocked(s.Name, busyRcap(s.Rcap))
		m.mu.Unlock()
		m.log.Info("sliver created", "slice", s.Name, "rcap", s.Rcap.id(), "uid_base", s.UIDBase)
		return nil
	}
	m.log.Error("bind failed, rolling back", "slice", s.Name, "err", err)
	m.unbusyLocked(busyRcap(s.Rcap))
	if serr := m.setStateLocked(s, sliverDestroying); serr != nil {
		m.log.Error("mark sliver destroying", "slice", s.Name, "err", serr)
	}
	m.mu.Unlock()
	if terr := m.teardown(ctx, s); terr != nil {
		err = fmt.Errorf("%w; rollback: %w", err, terr)
	}
	return fmt.Errorf("bind %s: %w", s.Name, err)
}

// update gives an existing sliver new resources or attributes; on failure
// it puts the old ones back. An update the runtime applied in part (its
// keys and every limit it could set are in force: see
// api.ErrPartlyApplied) stands, and is applied again until all of it
// is: putting the old record back would bring back revoked keys and
// raised limits because one part cannot apply now. undo, if not nil, puts
// back under the lock what else the caller changed for the update.
func (m *Manager) update(ctx context.Context, s *sliverRecord, old sliverRecord, spec api.SliverSpec, undo func()) error {
	rctx := context.WithoutCancel(ctx)
	err := m.rt.Update(rctx, spec)
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.unbusyLocked(s.Name, busyRcap(s.Rcap), busyRcap(old.Rcap))
	m.noteAppliedLocked(s.Name, err)
	if errors.Is(err, api.ErrPartlyApplied) {
		err = nil
	}
	if err == nil {
		err = m.setStateLocked(s, sliverReady)
	}
	if err == nil {
		m.log.Info("sliver updated", "slice", s.Name, "rcap", s.Rcap.id())
		return nil
	}
	if undo != nil {
		undo()
	}
	if serr := m.saveSliver(s, old); serr != nil {
		m.log.Error("restore sliver record", "slice", s.Name, "err", serr)
	} else if uerr := m.rt.Update(rctx, m.specLocked(s)); uerr != nil {
		m.log.Error("restore sliver limits", "slice", s.Name, "err", uerr)
	}
	return fmt.Errorf("bind %s: update sliver: %w", s.Name, err)
}

// noteAppliedLocked schedules the sliver name's update to be applied
// again if the runtime applied it only in part (err), with backoff, and
// forgets it once all of it applied.
func (m *Manager) noteAppliedLocked(name string, err error) {
	partly := errors.Is(err, api.ErrPartlyApplied)
	if s := m.sliver(name); s != nil && s.Unapplied != partly {
		n := *s
		n.Unapplied = partly
		if serr := m.saveSliver(s, n); serr != nil {
			m.log.Error("record sliver update state", "slice", name, "err", serr)
		}
	}
	if !partly {
		delete(m.unapplied, name)
		return
	}
	prev, failed := m.unapplied[name]
	b := prev.next(m.clock.Now())
	m.unapplied[name] = b
	if !failed {
		m.log.Warn("sliver update applied in part; will retry", "slice", name, "err", err, "retry_in", b.delay)
	}
	m.kick()
}

// retryUpdates applies again the updates the runtime applied in part
// that are due for a retry.
func (m *Manager) retryUpdates(ctx context.Context, now time.Time) {
	m.mu.Lock()
	var todo []api.SliverSpec
	for name, b := range m.unapplied {
		s := m.sliver(name)
		switch {
		case s == nil || s.State != sliverReady:
			delete(m.unapplied, name)
		case !m.busy[name] && !b.at.After(now):
			m.busy[name] = true
			todo = append(todo, m.specLocked(s))
		}
	}
	m.mu.Unlock()
	for _, spec := range todo {
		err := m.rt.Update(ctx, spec)
		m.mu.Lock()
		if err != nil && !errors.Is(err, api.ErrPartlyApplied) {
			err = fmt.Errorf("%w: %w", api.ErrPartlyApplied, err)
		}
		m.noteAppliedLocked(spec.Name, err)
		if err == nil {
			m.log.Info("sliver update now in force", "slice", spec.Name)
		}
		m.unbusyLocked(spec.Name)
		m.mu.Unlock()
	}
}

// specLocked is what the runtime needs to create or update s.
func (m *Manager) specLocked(s *sliverRecord) api.SliverSpec {
	var rs api.Rspec
	if r := m.rcap(s.Rcap); r != nil {
		rs = r.Rspec.Rspec
		rs.Ports = clonePorts(rs.Ports)
	}
	return api.SliverSpec{
		Name:       s.Name,
		UIDBase:    s.UIDBase,
		UIDCount:   UIDRangeSize,
		Image:      s.Attrs.Image,
		Keys:       append([]string(nil), s.Attrs.Keys...),
		InitScript: s.Attrs.InitScript,
		Rspec:      rs,
	}
}
