package plc

import (
	"context"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// LeaseGranularity is the unit of leases: t_from is rounded down to it,
// t_until up.
const LeaseGranularity = int64(time.Hour / time.Second)

func (s *Service) registerLeases() {
	s.add(method{name: "AddLeases", roles: rolesSlice, min: 4, max: 4, sig: []string{"struct", "array", "int", "int", "int"},
		help: "Reserves reservable nodes (node_ids or hostnames) for a slice over [t_from, t_until), rounded to the hour. Returns {new_ids, errors}: one error per node that is not reservable or already leased then.",
		call: s.addLeases})
	s.add(method{name: "GetLeases", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the leases that match the filter (a lease_id, a list of them, or a struct).",
		call: s.getLeases})
	s.add(method{name: "DeleteLeases", roles: rolesSlice, min: 1, max: 1, sig: []string{"int", "array"},
		help: "Deletes leases (a lease_id or a list), with the rights on their slices of AddLeases.",
		call: s.deleteLeases})
}

func (s *Service) getLeases(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, leaseKind, func(t *txn, q store.Query) ([]api.Lease, error) { return t.Leases(q) },
		func(x *api.Lease) any { return x.LeaseID }, nil)
}

func (s *Service) addLeases(ctx context.Context, c *Caller, args []any) (any, error) {
	refs, err := argRefs(args, 0, "node_id_or_hostname_list")
	if err != nil {
		return nil, err
	}
	sref, err := argRef(args, 1, "slice_id_or_name")
	if err != nil {
		return nil, err
	}
	from, err := argInt(args, 2, "t_from")
	if err != nil {
		return nil, err
	}
	until, err := argInt(args, 3, "t_until")
	if err != nil {
		return nil, err
	}
	from -= from % LeaseGranularity
	if r := until % LeaseGranularity; r != 0 {
		until += LeaseGranularity - r
	}
	if until <= from {
		return nil, Faultf(FaultInvalidArg, "t_until: must be after t_from")
	}
	var newIDs, errs []any
	err = s.update(ctx, c, func(t *txn) error {
		newIDs, errs = nil, nil
		sl, err := t.slice(sref)
		if err != nil {
			return err
		}
		if err := t.mayUseSlice(sl, "lease nodes for it"); err != nil {
			return err
		}
		for _, ref := range refs {
			id, msg, err := t.addLease(ref, sl.SliceID, from, until)
			if err != nil {
				return err
			}
			if msg != "" {
				errs = append(errs, msg)
			} else {
				newIDs = append(newIDs, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"new_ids": nonNil(newIDs), "errors": nonNil(errs)}, nil
}

func nonNil(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// addLease adds one lease, or says why not in msg.
func (t *txn) addLease(ref any, sliceID, from, until int64) (id int64, msg string, err error) {
	n, err := t.node(ref)
	if f, ok := err.(*Fault); ok {
		return 0, f.Msg, nil
	}
	if err != nil {
		return 0, "", err
	}
	if n.NodeType != "reservable" {
		return 0, "node " + n.Hostname + " is not reservable", nil
	}
	overlap, err := t.Leases(store.Query{Conds: []store.Cond{
		{Field: "node_id", Op: store.Eq, Value: n.NodeID},
		{Field: "t_from", Op: store.Lt, Value: until},
		{Field: "t_until", Op: store.Gt, Value: from},
	}, Limit: 1})
	if err != nil {
		return 0, "", err
	}
	if len(overlap) > 0 {
		return 0, "node " + n.Hostname + " is already leased then", nil
	}
	l := api.Lease{NodeID: n.NodeID, SliceID: sliceID, TFrom: from, TUntil: until}
	if err := t.AddLease(&l); err != nil {
		return 0, "", err
	}
	t.bumpLease(l)
	return l.LeaseID, "", nil
}

func (s *Service) deleteLeases(ctx context.Context, c *Caller, args []any) (any, error) {
	refs, err := argRefs(args, 0, "lease_ids")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		for _, ref := range refs {
			id, ok := ref.(int64)
			if !ok {
				return badArg("lease_ids", "ints", ref)
			}
			ls, err := t.Leases(store.ByID("lease_id", id))
			if err != nil {
				return err
			}
			if len(ls) == 0 {
				return noSuch(leaseKind, id)
			}
			if err := t.mayLease(ls[0].SliceID); err != nil {
				return err
			}
			if err := t.DeleteLease(id); err != nil {
				return err
			}
			t.bumpLease(ls[0])
		}
		return nil
	})
	return int64(1), err
}

// bumpLease bumps the node of a lease added or deleted, unless the lease
// is over: the node's list shows current and future leases, and a
// current one decides which slivers run (reservation.go).
func (t *txn) bumpLease(l api.Lease) {
	if l.TUntil > t.now {
		t.bump(l.NodeID)
	}
}

// mayLease checks the rights on a lease's slice (an expired slice's
// leases are the admins').
func (t *txn) mayLease(sliceID int64) error {
	sl, err := t.slice(sliceID)
	if err != nil {
		return t.mustAdmin("delete the leases of an expired slice")
	}
	return t.mayUseSlice(sl, "delete its leases")
}
