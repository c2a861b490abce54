package lease

// admitLocked checks r against the capacity and every live lease, slot by
// slot, and says exactly which slot is short of what.
func (b *Book) admitLocked(r *record, c Capacity) error {
	if c.Slivers <= 0 || c.CPUShares <= 0 {
		return errorf(ErrUnavailable, "no delegation on this node (slivers %d, cpu_shares %d)", c.Slivers, c.CPUShares)
	}
	switch {
	case c.End != 0 && r.End > c.End:
		return errorf(ErrRefused, "end: %s is after the delegation's end %s", stamp(r.End), stamp(c.End))
	case r.CPUShares > c.CPUShares:
		return errorf(ErrRefused, "cpu_shares: %d asked, the delegation holds %d", r.CPUShares, c.CPUShares)
	}
	live := 0
	for _, o := range b.leases {
		if !o.live() {
			continue
		}
		live++
		if o.Slice == r.Slice && overlap(o, r) {
			return errorf(ErrRefused, "slice %s: lease %s already covers %s to %s (one sliver per slice)",
				r.Slice, o.ID, stamp(o.Start), stamp(o.End))
		}
	}
	if live >= MaxLive {
		return errorf(ErrRefused, "the book is full (%d live leases)", live)
	}
	for t := r.Start; t < r.End; t += b.slot {
		u := b.useLocked(t)
		switch {
		case u.Whole || (r.Whole && u.Slivers > 0):
			return errorf(ErrRefused, "slot %s: leased whole, or not free for a whole lease (%d slivers)", stamp(t), u.Slivers)
		case u.Slivers+1 > c.Slivers:
			return errorf(ErrRefused, "slot %s: %d of %d slivers leased", stamp(t), u.Slivers, c.Slivers)
		case u.CPUShares+r.CPUShares > c.CPUShares:
			return errorf(ErrRefused, "slot %s: %d of %d cpu shares leased, %d asked", stamp(t), u.CPUShares, c.CPUShares, r.CPUShares)
		}
	}
	return nil
}

func overlap(a, b *record) bool { return a.Start < b.End && b.Start < a.End }

// useLocked sums the live leases covering the slot starting at t.
func (b *Book) useLocked(t int64) SlotUse {
	u := SlotUse{Start: t, End: t + b.slot}
	for _, o := range b.leases {
		if o.live() && o.Start <= t && t < o.End {
			u.Slivers++
			u.CPUShares += o.CPUShares
			u.Whole = u.Whole || o.Whole
		}
	}
	return u
}

// Schedule returns what each of n slots holds, from the slot containing
// from.
func (b *Book) Schedule(from int64, n int) ([]SlotUse, error) {
	if n <= 0 || n > MaxScheduleSlots {
		return nil, errorf(ErrInvalid, "slots: %d (want 1 to %d)", n, MaxScheduleSlots)
	}
	if from < 0 {
		return nil, errorf(ErrInvalid, "from: negative")
	}
	from -= from % b.slot
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]SlotUse, n)
	for i := range out {
		out[i] = b.useLocked(from + int64(i)*b.slot)
	}
	return out, nil
}
