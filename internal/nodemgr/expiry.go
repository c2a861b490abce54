package nodemgr

import (
	"container/heap"
	"context"
	"time"
)

// retryDelay is how long the expiry loop waits before retrying an expiry
// that found its rcap busy, or a destroy that failed.
const retryDelay = 10 * time.Second

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

// expireDue releases every rcap whose end has passed and returns when to
// look again (zero: only when kicked).
func (m *Manager) expireDue(ctx context.Context) time.Time {
	now := m.clock.Now()
	due, retry := m.popDue(now.Unix())
	for _, h := range due {
		if err := m.releaseHash(ctx, h, "expired"); err != nil {
			m.log.Error("expire rcap", "rcap", h.id(), "err", err)
			retry = true
		}
	}
	if m.retryDestroys(ctx, now) {
		retry = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	if len(m.expiry) > 0 {
		next = time.Unix(m.expiry[0].end, 0)
		if !next.After(now) {
			next = now.Add(time.Second) // busy: the operation's end kicks us sooner
		}
	}
	if retry && (next.IsZero() || next.After(now.Add(retryDelay))) {
		next = now.Add(retryDelay)
	}
	return next
}

// popDue pops the rcaps whose end is at or before now. A busy one is left
// for a retry.
func (m *Manager) popDue(now int64) (due []rcapHash, retry bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var later []expiryEntry
	for len(m.expiry) > 0 && m.expiry[0].end <= now {
		e := heap.Pop(&m.expiry).(expiryEntry)
		r := m.rcaps[e.hash]
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
	return due, len(later) > 0
}

// retryDestroys retries the destroys that failed and are due for a retry,
// and reports whether some are left.
func (m *Manager) retryDestroys(ctx context.Context, now time.Time) bool {
	m.mu.Lock()
	var todo []*sliverRecord
	for name, at := range m.stuck {
		s := m.slivers[name]
		if s != nil && s.State == sliverDestroying && !m.busy[s.Name] && !at.After(now) {
			m.busy[s.Name] = true
			todo = append(todo, s)
		}
	}
	failed := len(m.stuck) > len(todo)
	m.mu.Unlock()
	for _, s := range todo {
		if m.teardown(ctx, s) != nil {
			failed = true
		}
	}
	return failed
}
