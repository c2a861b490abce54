package plc

import (
	"context"
	"fmt"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// LeaseGranularity is the unit of leases: t_from is rounded down to it,
// t_until up.
const LeaseGranularity = int64(time.Hour / time.Second)

func (s *Service) registerLeases() {
	s.add(method{name: "AddLeases", roles: rolesSlice, min: 4, max: 4, sig: []string{"struct", "array", "int", "int", "int"},
		help: "Reserves reservable nodes (node_ids or hostnames) for a slice over [t_from, t_until) (Unix seconds or 'YYYY-MM-DD HH:MM:SS' UTC, from 1970 to 9999), rounded to the hour, at most " + (time.Duration(s.maxLeaseLength) * time.Second).String() + " long (central's -lease-max-length). Returns {new_ids, errors}: one error per node that is not reservable or already leased then.",
		call: s.addLeases})
	s.add(method{name: "GetLeases", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the leases that match the filter (a lease_id, a list of them, or a struct), with their node's hostname and node_type, their slice's name and site_id, duration and expired. A struct filter also takes clip (a time: leases not over then; or [from, until]: leases overlapping it), alive (a time: leases running then; or [from, until]), day (N days from 00:00 UTC today, 0: no end), expired, and the node's and slice's fields above; times are Unix seconds or 'YYYY-MM-DD HH:MM:SS' UTC.",
		call: s.getLeases})
	s.add(method{name: "UpdateLeases", roles: rolesSlice, min: 2, max: 2, sig: []string{"struct", "array", "struct"},
		help: "Moves leases (a lease_id or a list): {t_from, t_until, duration} (two of them, or duration alone to keep t_from), rounded as AddLeases rounds, with the rights on their slices of AddLeases. Returns {updated_ids, errors}: one error per lease whose new time overlaps another lease of its node.",
		call: s.updateLeases})
	s.add(method{name: "DeleteLeases", roles: rolesSlice, min: 1, max: 1, sig: []string{"int", "array"},
		help: "Deletes leases (a lease_id or a list), with the rights on their slices of AddLeases.",
		call: s.deleteLeases})
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
	from, err := leaseTime("t_from", args[2])
	if err != nil {
		return nil, err
	}
	until, err := leaseTime("t_until", args[3])
	if err != nil {
		return nil, err
	}
	if from, until, err = roundLease(from, until, s.maxLeaseLength); err != nil {
		return nil, err
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
	overlap, err := t.leaseOverlaps(n.NodeID, from, until, 0)
	if err != nil {
		return 0, "", err
	}
	if overlap {
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
			if err := t.mayLease(ls[0].SliceID, "delete"); err != nil {
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
func (t *txn) mayLease(sliceID int64, what string) error {
	sl, err := t.slice(sliceID)
	if err != nil {
		return t.mustAdmin(what + " the leases of an expired slice")
	}
	return t.mayUseSlice(sl, what+" its leases")
}

// leaseTimes are the new times of UpdateLeases: each one set or not.
type leaseTimes struct {
	from, until, duration *int64
}

// parseLeaseTimes reads UpdateLeases' fields; a duration is at most
// maxLen seconds.
func parseLeaseTimes(f *fieldSet, maxLen int64) (leaseTimes, error) {
	var lt leaseTimes
	if err := f.only("t_from", "t_until", "duration"); err != nil {
		return lt, err
	}
	for name, dst := range map[string]**int64{"t_from": &lt.from, "t_until": &lt.until, "duration": &lt.duration} {
		v, ok := f.m[name]
		if !ok {
			continue
		}
		n, err := leaseTime(f.what+"."+name, v)
		if name == "duration" {
			n, ok = AsInt(v)
			if !ok || n <= 0 || n > maxLen {
				return lt, badArg(f.what+".duration", fmt.Sprintf("a number of seconds from 1 to %d", maxLen), v)
			}
			err = nil
		}
		if err != nil {
			return lt, err
		}
		*dst = &n
	}
	if lt.from != nil && lt.until != nil && lt.duration != nil {
		return lt, Faultf(FaultInvalidArg, "%s: t_from, t_until and duration: give two at most", f.what)
	}
	return lt, nil
}

// apply moves lease l, rounding and bounding as AddLeases does.
func (lt leaseTimes) apply(l api.Lease, maxLen int64) (api.Lease, error) {
	d := l.TUntil - l.TFrom
	if lt.duration != nil {
		d = *lt.duration
	}
	switch {
	case lt.from != nil && lt.until != nil:
		l.TFrom, l.TUntil = *lt.from, *lt.until
	case lt.from != nil:
		l.TFrom, l.TUntil = *lt.from, *lt.from+d
	case lt.until != nil:
		l.TFrom, l.TUntil = *lt.until-d, *lt.until
	default:
		l.TUntil = l.TFrom + d
	}
	var err error
	l.TFrom, l.TUntil, err = roundLease(l.TFrom, l.TUntil, maxLen)
	return l, err
}

// DefaultMaxLeaseLength bounds one lease unless Options.MaxLeaseLength
// says otherwise: a reservable node leased to one slice is refused to
// every other, so by default a lease holds it at most as far ahead as a
// node is told of its leases (leaseHorizon, one week). A longer
// reservation is several leases, each its own request.
const DefaultMaxLeaseLength = leaseHorizon * time.Second

// roundLease widens [from, until) to whole LeaseGranularity periods; a
// fault if either time is outside 0 to api.MaxTime (before or after
// rounding), or the lease is empty or longer than maxLen seconds.
func roundLease(from, until, maxLen int64) (int64, int64, error) {
	for _, x := range []struct {
		name string
		v    int64
	}{{"t_from", from}, {"t_until", until}} {
		if x.v < 0 || x.v > api.MaxTime {
			return from, until, Faultf(FaultInvalidArg, "%s: %d is outside 0 to %d (9999-12-31 23:59:59 UTC)", x.name, x.v, int64(api.MaxTime))
		}
	}
	from -= from % LeaseGranularity
	if r := until % LeaseGranularity; r != 0 {
		until += LeaseGranularity - r
	}
	switch {
	case until > api.MaxTime:
		return from, until, Faultf(FaultInvalidArg, "t_until: rounded up to the hour it is past %d (9999-12-31 23:59:59 UTC)", int64(api.MaxTime))
	case until <= from:
		return from, until, Faultf(FaultInvalidArg, "t_until: must be after t_from")
	case until-from > maxLen:
		return from, until, Faultf(FaultInvalidArg, "t_until: a lease lasts at most %d s (%s), rounded to the hour; this one %d s",
			maxLen, time.Duration(maxLen)*time.Second, until-from)
	}
	return from, until, nil
}

// leaseOverlaps reports whether a lease of node nodeID but except (0:
// none) overlaps [from, until).
func (t *txn) leaseOverlaps(nodeID, from, until, except int64) (bool, error) {
	ls, err := t.Leases(store.Query{Conds: []store.Cond{
		{Field: "node_id", Op: store.Eq, Value: nodeID},
		{Field: "lease_id", Op: store.Ne, Value: except},
		{Field: "t_from", Op: store.Lt, Value: until},
		{Field: "t_until", Op: store.Gt, Value: from},
	}, Limit: 1})
	return len(ls) > 0, err
}

func (s *Service) updateLeases(ctx context.Context, c *Caller, args []any) (any, error) {
	refs, err := argRefs(args, 0, "lease_ids")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "lease_fields")
	if err != nil {
		return nil, err
	}
	lt, err := parseLeaseTimes(f, s.maxLeaseLength)
	if err != nil {
		return nil, err
	}
	var updated, errs []any
	err = s.update(ctx, c, func(t *txn) error {
		updated, errs = nil, nil
		for _, ref := range refs {
			id, ok := ref.(int64)
			if !ok {
				return badArg("lease_ids", "ints", ref)
			}
			msg, err := t.updateLease(id, lt)
			if err != nil {
				return err
			}
			if msg != "" {
				errs = append(errs, msg)
			} else {
				updated = append(updated, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"updated_ids": nonNil(updated), "errors": nonNil(errs)}, nil
}

// updateLease moves one lease, or says why not in msg.
func (t *txn) updateLease(id int64, lt leaseTimes) (msg string, err error) {
	ls, err := t.Leases(store.ByID("lease_id", id))
	if err != nil {
		return "", err
	}
	if len(ls) == 0 {
		return "", noSuch(leaseKind, id)
	}
	if err := t.mayLease(ls[0].SliceID, "change"); err != nil {
		return "", err
	}
	next, err := lt.apply(ls[0], t.s.maxLeaseLength)
	if f, ok := err.(*Fault); ok {
		return fmt.Sprintf("lease %d: %s", id, f.Msg), nil
	}
	overlap, err := t.leaseOverlaps(next.NodeID, next.TFrom, next.TUntil, id)
	if err != nil {
		return "", err
	}
	if overlap {
		return fmt.Sprintf("lease %d: its node is already leased then", id), nil
	}
	if err := t.UpdateLease(&next); err != nil {
		return "", err
	}
	t.bumpLease(ls[0])
	t.bumpLease(next)
	return "", nil
}
