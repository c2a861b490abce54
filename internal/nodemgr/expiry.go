package nodemgr

import (
	"container/heap"
	"context"
	"errors"
	"time"
)

// retryDelay is how long the expiry loop waits before it first retries an
// expiry or a destroy that failed; each further failure doubles the wait,
// up to retryMaxDelay.
const (
	retryDelay    = time.Second
	retryMaxDelay = time.Minute
)

// A backoff is when to retry a failed expiry or destroy, and the wait
// that led there.
type backoff struct {
	at    time.Time
	delay time.Duration
}

// next returns the backoff after one more failure at now: retryDelay the
// first time, then twice the last wait, at most retryMaxDelay.
func (b backoff) next(now time.Time) backoff {
	d := min(max(2*b.delay, retryDelay), retryMaxDelay)
	return backoff{at: now.Add(d), delay: d}
}

// expiryHeap orders live rcaps by their end. Entries are never removed
// early: a popped entry whose rcap is gone or has another end is skipped.
type expiryHeap []expiryEntry

type expiryEntry struct {
	end  int64
	hash rcapHash
}

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryEntry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// push schedules the expiry of rcap h at end (0: never).
func (h *expiryHeap) push(hash rcapHash, end int64) {
	if end != 0 {
		heap.Push(h, expiryEntry{end: end, hash: hash})
	}
}

// expiryLoop releases each rcap when its end passes, stopping and
// destroying its sliver, and retries destroys that failed.
func (m *Manager) expiryLoop(ctx context.Context) {
	defer close(m.done)
	for {
		next := m.expireDue(ctx)
		var timer <-chan time.Time
		if !next.IsZero() {
			timer = m.clock.At(next)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-timer:
		}
	}
}

// expireDue releases every rcap whose end has passed, retries the
// expiries and destroys that failed and are due, and returns when to look
// again (zero: only when kicked).
func (m *Manager) expireDue(ctx context.Context) time.Time {
	now := m.clock.Now()
	for _, h := range m.popDue(now) {
		m.expire(ctx, h, now)
	}
	m.retryDestroys(ctx, now)
	m.retryUpdates(ctx, now)
	return m.nextWake(now)
}

// expire releases rcap h, whose end has passed. If the release fails and
// the rcap is still live, it is retried with backoff until it succeeds;
// the first failure is logged with its error, the later ones at debug
// level. A release that dropped the rcap but failed to destroy its sliver
// leaves the destroy to retryDestroys.
func (m *Manager) expire(ctx context.Context, h rcapHash, now time.Time) {
	err := m.releaseHash(ctx, h, "expired")
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, failed := m.retrying[h]
	if live := m.rcap(h) != nil; err == nil || !live {
		delete(m.retrying, h)
		switch {
		case err != nil && !errors.Is(err, ErrDenied) && !failed:
			m.log.Error("expire rcap", "rcap", h.id(), "err", err)
		case err == nil && failed:
			m.log.Info("rcap expired after retries", "rcap", h.id())
		}
		return
	}
	b := prev.next(now)
	m.retrying[h] = b
	if failed {
		m.log.Debug("expire rcap failed again", "rcap", h.id(), "err", err, "retry_in", b.delay)
		return
	}
	m.log.Error("expire rcap; will retry", "rcap", h.id(), "err", err, "retry_in", b.delay)
}

// popDue pops the rcaps whose end is at or before now, and takes the
// failed expiries due for a retry. A busy one is left for later.
func (m *Manager) popDue(now time.Time) []rcapHash {
	m.mu.Lock()
	defer m.mu.Unlock()
	var due []rcapHash
	var later []expiryEntry
	for len(m.expiry) > 0 && m.expiry[0].end <= now.Unix() {
		e := heap.Pop(&m.expiry).(expiryEntry)
		r := m.rcap(e.hash)
		switch {
		case r == nil || r.Rspec.End != e.end:
		case m.busy[busyRcap(e.hash)]:
			later = append(later, e)
		default:
			due = append(due, e.hash)
		}
	}
	for _, e := range later {
		heap.Push(&m.expiry, e)
	}
	for h, b := range m.retrying {
		switch {
		case m.rcap(h) == nil:
			delete(m.retrying, h)
		case !m.busy[busyRcap(h)] && !b.at.After(now):
			due = append(due, h)
		}
	}
	return due
}

// nextWake returns when the expiry loop must look again: the next end, the
// next retry of a failed expiry or destroy, or, for one that is due but
// waits for a busy rcap or slice, a second from now (the operation's end
// kicks the loop sooner). Zero: only when kicked.
func (m *Manager) nextWake(now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	consider := func(t time.Time) {
		if !t.After(now) {
			t = now.Add(time.Second)
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if len(m.expiry) > 0 {
		consider(time.Unix(m.expiry[0].end, 0))
	}
	for _, b := range m.retrying {
		consider(b.at)
	}
	for _, b := range m.stuck {
		consider(b.at)
	}
	for _, b := range m.unapplied {
		consider(b.at)
	}
	return next
}

// retryDestroys retries the destroys that failed and are due for a retry;
// a failure schedules the next (forgetSliverLocked).
func (m *Manager) retryDestroys(ctx context.Context, now time.Time) {
	m.mu.Lock()
	var todo []*sliverRecord
	for name, b := range m.stuck {
		s := m.sliver(name)
		switch {
		case s == nil || s.State != sliverDestroying:
			delete(m.stuck, name)
		case !m.busy[s.Name] && !b.at.After(now):
			m.busy[s.Name] = true
			todo = append(todo, s)
		}
	}
	m.mu.Unlock()
	for _, s := range todo {
		m.teardown(ctx, s) // a failure is logged and scheduled again
	}
}
