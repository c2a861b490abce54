package nodemgr

import (
	"context"
	"fmt"
)

// StartSliver starts the sliver of slice name (its boot script runs again).
func (m *Manager) StartSliver(ctx context.Context, name string) error {
	return m.sliverOp(ctx, name, "start", m.rt.Start)
}

// StopSliver stops the sliver of slice name. It keeps its files, UID range
// and rcap; StartSliver brings it back.
func (m *Manager) StopSliver(ctx context.Context, name string) error {
	return m.sliverOp(ctx, name, "stop", m.rt.Stop)
}

func (m *Manager) sliverOp(ctx context.Context, name, op string, fn func(context.Context, string) error) error {
	if err := checkSliceName(name); err != nil {
		return err
	}
	m.mu.Lock()
	s, err := m.sliverOfCallerLocked(ctx, name)
	if err == nil && s.State != sliverReady {
		err = refusedf("sliver %s is %s", name, s.State)
	}
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.busy[name] = true
	m.mu.Unlock()
	err = fn(context.WithoutCancel(ctx), name)
	m.mu.Lock()
	m.unbusyLocked(name)
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s sliver %s: %w", op, name, err)
	}
	m.log.Info("sliver "+op, "slice", name)
	return nil
}

// DestroySliver stops and destroys the sliver of slice name and frees its
// UID range. The rcap it was bound to stays live and unbound, so its owner
// can bind it again and get a fresh sliver, unless that owner is a slice
// left with no sliver (the slice itself, say): an rcap a slice owns and
// no live sliver uses is released with the slice's sliver
// (releaseStranded).
func (m *Manager) DestroySliver(ctx context.Context, name string) error {
	if err := checkSliceName(name); err != nil {
		return err
	}
	m.mu.Lock()
	s, err := m.sliverOfCallerLocked(ctx, name)
	if err == nil && s.State != sliverReady && s.State != sliverDestroying {
		err = refusedf("sliver %s is %s", name, s.State)
	}
	if err == nil {
		err = m.setStateLocked(s, sliverDestroying)
	}
	if err != nil {
		m.mu.Unlock()
		return err
	}
	m.busy[name] = true
	m.mu.Unlock()
	return m.teardown(ctx, s)
}

// sliverOfCallerLocked is sliverLocked for a caller that may touch the
// sliver: central, or the slice that owns the rcap it is bound to.
func (m *Manager) sliverOfCallerLocked(ctx context.Context, name string) (*sliverRecord, error) {
	p, err := m.principalOfLocked(ctx)
	if err != nil {
		return nil, err
	}
	s, err := m.sliverLocked(name)
	if err != nil {
		return nil, err
	}
	if err := m.mayTouchSliverLocked(p, name); err != nil {
		return nil, err
	}
	m.log.Info("sliver call", "principal", p, "slice", name)
	return s, nil
}

func (m *Manager) sliverLocked(name string) (*sliverRecord, error) {
	if m.closed {
		return nil, errClosed
	}
	s := m.sliver(name)
	if s == nil {
		return nil, notFoundf("no sliver %s on this node", name)
	}
	if m.busy[name] {
		return nil, refusedf("slice %s: another operation on it is under way", name)
	}
	return s, nil
}
