package store

import (
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// UpdateLease writes a lease's times; its node and slice stay.
func (t *tx) UpdateLease(l *api.Lease) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, leaseTable, leaseCols, "lease_id", l.LeaseID, scanLease)
	if err != nil {
		return err
	}
	if l.NodeID != prev.NodeID || l.SliceID != prev.SliceID {
		return fmt.Errorf("lease %d: a lease's node and slice cannot change: %w", l.LeaseID, ErrInvalidField)
	}
	if err := t.update("leases", "lease_id", l.LeaseID, []string{"t_from", "t_until"}, []any{l.TFrom, l.TUntil}, nil); err != nil {
		return err
	}
	return t.event("UpdateLease", "lease", l.LeaseID, changed(prev, l))
}
