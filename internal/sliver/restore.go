package sliver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// Restore makes the kernel state of every sliver match its spec again: its
// cgroups and network state, which a reboot (or Suspend) removed. A sliver that was started
// and whose cgroup was gone is started again, so its boot script runs as
// at any start; running slivers, and idle ones after a mere restart of the
// agent, are not disturbed. The node calls it when it opens.
func (m *Manager) Restore(ctx context.Context) error {
	names, err := m.stateNames()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		if err := m.restore(ctx, name, false); err != nil {
			errs = append(errs, fmt.Errorf("restore sliver %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Revive restores the one sliver name as Restore would if a reboot (or
// Suspend) removed its cgroup, and leaves it alone if its cgroup is
// there. A command that runs in one sliver (orbis sliver exec) revives
// that sliver only: the node agent restores every sliver when it opens,
// and a command must neither rewrite nor wait on the others.
func (m *Manager) Revive(ctx context.Context, name string) error {
	err := m.restore(ctx, name, true)
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("restore sliver %s: %w", name, err)
	}
	return err
}

// restore is Restore of one sliver; goneOnly leaves a sliver whose cgroup
// is there untouched.
func (m *Manager) restore(ctx context.Context, name string, goneOnly bool) error {
	spec, err := m.readSpec(name)
	if err != nil {
		return err
	}
	unlock := m.lock(name)
	_, err = m.cgroupsOf(spec).Procs(name)
	gone := errors.Is(err, fs.ErrNotExist)
	if goneOnly && !gone {
		unlock()
		return nil
	}
	err = m.setKernel(ctx, spec)
	unlock()
	if err == nil && !gone {
		m.resumeRawSockets(ctx, name)
	}
	if err != nil || !gone || !m.marker(name, startedFile) || m.marker(name, stoppedFile) {
		return err
	}
	return m.Start(ctx, name)
}

// resumeRawSockets hands the running init's seccomp listener to
// Options.RawSockets again, so that the sliver's raw socket() calls are
// answered after an agent restart.
func (m *Manager) resumeRawSockets(ctx context.Context, name string) {
	if m.opts.RawSockets == nil {
		return
	}
	_, cfg, err := m.config(name)
	if err != nil {
		m.opts.Log.Warn("raw sockets of a running sliver not resumed", "slice", name, "err", err)
		return
	}
	f, err := sandbox.RawListener(ctx, cfg)
	switch {
	case errors.Is(err, sandbox.ErrNotRunning):
	case err != nil:
		m.opts.Log.Warn("raw sockets of a running sliver not resumed", "slice", name, "err", err)
	default:
		cfg.RawSockets(f)
	}
}

// Suspend kills every process of every sliver and removes their cgroups,
// leaving their files and records, and without marking them stopped: the
// next login or start brings each back (after Restore). `orbis dev` uses
// it to leave no kernel object behind when it exits.
func (m *Manager) Suspend(ctx context.Context) error {
	names, err := m.stateNames()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		unlock := m.lock(name)
		_, cfg, err := m.config(name)
		if err == nil {
			err = errors.Join(sandbox.Stop(ctx, cfg), m.removeCgroups(ctx, name))
		}
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("suspend sliver %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
