package lease

import "github.com/orbisproject/orbis/api"

// What the agent must do with a lease now.
const (
	actOpen  = iota + 1 // split and bind
	actClose            // release the rcap
	actMiss             // the window passed unopened
)

type task struct {
	act int
	rec record // a copy
}

// due lists what the agent must do at now, openings last so that the
// releases free room first.
func (b *Book) due(now int64) []task {
	b.mu.Lock()
	defer b.mu.Unlock()
	var closes, opens []task
	for _, r := range b.leases {
		switch {
		case r.Rcap != "" && (r.End <= now || r.State != StateActive && r.State != StateReserved):
			closes = append(closes, task{actClose, r.copy()})
		case r.State == StateReserved && r.End <= now:
			closes = append(closes, task{actMiss, r.copy()})
		case r.State == StateReserved && r.Start <= now:
			opens = append(opens, task{actOpen, r.copy()})
		}
	}
	return append(closes, opens...)
}

func (r *record) copy() record {
	c := *r
	c.Keys = append([]string(nil), r.Keys...)
	return c
}

// next returns the earliest start or end after now of a lease that is not
// finished (0: none).
func (b *Book) next(now int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var t int64
	earliest := func(v int64) {
		if v > now && (t == 0 || v < t) {
			t = v
		}
	}
	for _, r := range b.leases {
		if r.live() {
			earliest(r.Start)
			earliest(r.End)
		}
	}
	return t
}

// update applies f to lease id's record with changeLocked.
func (b *Book) update(id string, now int64, f func(r *record)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.leases[id]
	if r == nil {
		return errorf(ErrNotFound, "lease %q: no such lease", id)
	}
	return b.changeLocked(r, now, f)
}

// changeLocked applies f to r, refunds r if it failed unopened or was
// cancelled before its window, and saves the book; if the save fails r
// and its account are restored.
func (b *Book) changeLocked(r *record, now int64, f func(r *record)) error {
	old := r.copy()
	f(r)
	undo := b.settleLocked(&old, r, now)
	if err := b.saveLocked(now); err != nil {
		*r = old
		undo()
		return err
	}
	return nil
}

// setRcap records rc as lease id's child rcap, unless the lease was
// cancelled meanwhile (then the agent releases rc at once: it is still
// recorded, so a crash cannot leak it).
func (b *Book) setRcap(id string, rc api.Rcap, now int64) error {
	return b.update(id, now, func(r *record) { r.Rcap = rc })
}
