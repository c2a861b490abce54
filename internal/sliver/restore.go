package sliver

import (
	"context"
	"errors"
	"fmt"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// Restore makes the kernel state of every sliver match its spec again: its
// cgroups, which a reboot (or Suspend) removed. Running slivers are not
// disturbed. The node calls it when it opens.
func (m *Manager) Restore(ctx context.Context) error {
	names, err := m.stateNames()
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		spec, err := m.readSpec(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		unlock := m.lock(name)
		err = m.setCgroups(ctx, spec)
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore sliver %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
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
