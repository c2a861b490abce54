package plc

import (
	"context"
	"strconv"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// ReceivedSharesTag is the slice tag that records how many of a slice's
// shares came from brokers (DelegateShares) rather than from its site.
// Only DelegateShares writes it; AddSliceTag and friends refuse it.
const ReceivedSharesTag = "delegated_shares"

func (s *Service) registerShares() {
	s.add(method{name: "DelegateShares", roles: rolesSlice, min: 3, max: 3, sig: []string{"int", "int", "int", "int"},
		help: "Moves shares from a delegated slice (a broker; by slice_id or name) to another slice. Its users, PIs of its site and admins may; the broker never gives more than it holds.",
		call: s.delegateShares})
}

// received returns the shares each slice got from brokers.
func (t *txn) received(ids []any) (map[int64]int64, []api.SliceTag, error) {
	out := map[int64]int64{}
	if len(ids) == 0 {
		return out, nil, nil
	}
	tags, err := t.SliceTags(store.Query{Conds: []store.Cond{
		{Field: "slice_id", Op: store.Eq, Value: ids},
		{Field: "tagname", Op: store.Eq, Value: ReceivedSharesTag},
	}})
	for _, tag := range tags {
		n, _ := strconv.ParseInt(tag.Value, 10, 64)
		out[tag.SliceID] += n
	}
	return out, tags, err
}

// funded is the part of a slice's shares its site pays for: none for a
// delegated slice (an admin's allocation), else what it did not receive
// from brokers.
func funded(sl *api.Slice, received int64) int64 {
	if sl.Instantiation == "delegated" {
		return 0
	}
	return max(0, sl.Shares-received)
}

// siteSharesUsed sums what the site pays for its live slices, but for the
// slice except.
func (t *txn) siteSharesUsed(siteID, except int64) (int64, error) {
	live, err := t.liveSlices(siteID)
	if err != nil {
		return 0, err
	}
	rec, _, err := t.received(sliceIDsOf(live))
	if err != nil {
		return 0, err
	}
	var used int64
	for i := range live {
		if live[i].SliceID != except {
			used += funded(&live[i], rec[live[i].SliceID])
		}
	}
	return used, nil
}

// checkShares refuses a slice (new if old is nil) whose site-paid shares
// would take the site over its shares.
func (t *txn) checkShares(site *api.Site, old, sl *api.Slice) error {
	var rec int64
	if old != nil {
		r, _, err := t.received([]any{sl.SliceID})
		if err != nil {
			return err
		}
		rec = r[sl.SliceID]
		if funded(sl, rec) <= funded(old, rec) {
			return nil // giving shares back is always allowed
		}
	}
	used, err := t.siteSharesUsed(site.SiteID, sl.SliceID)
	if err != nil {
		return err
	}
	if want := funded(sl, rec); used+want > site.Shares {
		return Faultf(FaultInvalidArg, "slice_fields.shares: site %s has %d of its %d shares left, not %d", site.LoginBase, max(0, site.Shares-used), site.Shares, want)
	}
	return nil
}

func (s *Service) delegateShares(ctx context.Context, c *Caller, args []any) (any, error) {
	fromRef, err := argRef(args, 0, "from_slice")
	if err != nil {
		return nil, err
	}
	toRef, err := argRef(args, 1, "to_slice")
	if err != nil {
		return nil, err
	}
	n, err := argInt(args, 2, "shares")
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, Faultf(FaultInvalidArg, "shares: %d is not a positive number", n)
	}
	err = s.update(ctx, c, func(t *txn) error { return t.delegate(fromRef, toRef, n) })
	return int64(1), err
}

func (t *txn) delegate(fromRef, toRef any, n int64) error {
	from, err := t.slice(fromRef)
	if err != nil {
		return err
	}
	to, err := t.slice(toRef)
	if err != nil {
		return err
	}
	if err := t.mayUseSlice(from, "delegate its shares"); err != nil {
		return err
	}
	switch {
	case from.Instantiation != "delegated":
		return Faultf(FaultInvalidArg, "from_slice: %s is not a delegated slice (a broker)", from.Name)
	case from.SliceID == to.SliceID:
		return Faultf(FaultInvalidArg, "to_slice: a slice cannot delegate to itself")
	case n > from.Shares:
		return Faultf(FaultInvalidArg, "shares: broker %s holds %d shares, not %d", from.Name, from.Shares, n)
	}
	from.Shares -= n
	to.Shares += n
	if to.Instantiation != "delegated" {
		if err := t.addReceived(to.SliceID, n); err != nil {
			return err
		}
	}
	t.bump(from.NodeIDs...)
	t.bump(to.NodeIDs...)
	if err := t.UpdateSlice(from); err != nil {
		return err
	}
	return t.UpdateSlice(to)
}

// addReceived adds n to the slice's ReceivedSharesTag.
func (t *txn) addReceived(sliceID, n int64) error {
	rec, tags, err := t.received([]any{sliceID})
	if err != nil {
		return err
	}
	v := strconv.FormatInt(rec[sliceID]+n, 10)
	if len(tags) == 0 {
		return t.AddSliceTag(&api.SliceTag{SliceID: sliceID, TagName: ReceivedSharesTag, Value: v})
	}
	tags[0].Value = v
	for _, extra := range tags[1:] {
		if err := t.DeleteSliceTag(extra.SliceTagID); err != nil {
			return err
		}
	}
	return t.UpdateSliceTag(&tags[0])
}
