// Package push is central's side of the node channel (paper 4.2.3): each
// node's resource manager long-polls its own sliver list, and a change at
// central reaches the node in well under a second.
//
// A Hub knows which nodes have requests waiting and wakes them: at once
// when this process commits a change (Notify, called from the core's
// OnChange hook), and when another central process on the same database
// does: a Watcher source (PostgreSQL's LISTEN/NOTIFY) makes the Hub poll
// the waiting nodes' list versions at once, and the poll also runs every
// PollInterval, so a change is seen even while the watch is down.
// The Handler serves the node channel over HTTP (see api.NodePath for the
// wire contract and the authentication scheme).
package push

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// PollInterval is how often a Hub asks the database for the list versions
// of the nodes that have requests waiting.
const PollInterval = 250 * time.Millisecond

// VersionSource tells the current list version of nodes.
type VersionSource interface {
	// Versions returns the list version of each of nodeIDs that has one
	// (a node absent from the result is left as it was).
	Versions(ctx context.Context, nodeIDs []int64) (map[int64]int64, error)
}

// Watcher is a VersionSource that also tells when versions may have
// changed, in this process or another (store.Store.WatchNodes).
type Watcher interface {
	// WatchNodes calls changed once it is watching and then after each
	// change, until ctx ends or the watch fails, and returns why.
	WatchNodes(ctx context.Context, changed func()) error
}

// MaxWaitsPerNode is how many requests of one node may wait at once. A
// node follows two things with one request each, its list and its
// upgrades (internal/central/upgrade waits here too); the other two are
// for the moments it reconnects while central still holds an old one. A
// further request replaces the node's oldest, so a node (or whoever holds
// its key) cannot pile up waits, and a node whose old connection died
// unnoticed is not locked out.
const MaxWaitsPerNode = 4

// ErrReplaced is what Wait returns when a newer request of the same node
// took the waiting request's place (see MaxWaitsPerNode).
var ErrReplaced = errors.New("replaced by a newer request of the same node")

// watchRetry is how long the Hub waits before watching again after the
// watch failed (the poll goes on meanwhile).
const watchRetry = 2 * time.Second

// Hub tracks a list version per node and the requests waiting for the
// next one. Its methods are safe for concurrent use. Memory is bounded by
// the requests waiting (each removed when it ends, at most
// MaxWaitsPerNode a node) and one version per node seen.
type Hub struct {
	src      VersionSource
	log      *slog.Logger
	interval time.Duration

	// mu guards the following.
	mu      sync.Mutex
	known   map[int64]int64                // node -> version as last polled
	waiters map[int64]map[*waiter]struct{} // node -> its waiting requests
	count   int                            // waiters, all nodes together
	seq     uint64                         // the last waiter's seq
}

// waiter is one waiting request: ch is closed when it is woken, after
// replaced is set if a newer request took its place.
type waiter struct {
	since    int64
	seq      uint64 // the order requests came in
	ch       chan struct{}
	replaced bool
}

// NewHub returns a Hub that polls src. Run must run for the poll to
// happen; Notify and Wait work without it. log nil discards.
func NewHub(src VersionSource, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		src:      src,
		log:      log,
		interval: PollInterval,
		known:    map[int64]int64{},
		waiters:  map[int64]map[*waiter]struct{}{},
	}
}

// Notify wakes every request waiting on one of nodeIDs at once: their
// lists changed in this process. It never blocks on the database.
func (h *Hub) Notify(nodeIDs []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range nodeIDs {
		for w := range h.waiters[id] {
			h.wakeLocked(id, w)
		}
	}
}

// Wait returns when nodeID's version is known to be above since (at once
// if it already is), when Notify names the node, or when ctx ends (with
// ctx's error). It returns the version last polled, which after a Notify
// may not be above since yet: the caller reads the list again either way.
// A wait that a newer one of the same node replaced returns ErrReplaced.
func (h *Hub) Wait(ctx context.Context, nodeID, since int64) (int64, error) {
	h.mu.Lock()
	if v, ok := h.known[nodeID]; ok && v > since {
		h.mu.Unlock()
		return v, nil
	}
	w := h.addLocked(nodeID, since)
	h.mu.Unlock()

	select {
	case <-w.ch:
	case <-ctx.Done():
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch _, still := h.waiters[nodeID][w]; {
	case still:
		h.removeLocked(nodeID, w)
		return h.known[nodeID], ctx.Err()
	case w.replaced:
		return h.known[nodeID], ErrReplaced
	}
	return h.known[nodeID], nil
}

// addLocked adds a waiter for nodeID, first replacing the node's oldest
// if it has MaxWaitsPerNode.
func (h *Hub) addLocked(nodeID, since int64) *waiter {
	if ws := h.waiters[nodeID]; len(ws) >= MaxWaitsPerNode {
		var oldest *waiter
		for o := range ws {
			if oldest == nil || o.seq < oldest.seq {
				oldest = o
			}
		}
		oldest.replaced = true
		h.wakeLocked(nodeID, oldest)
	}
	ws := h.waiters[nodeID]
	if ws == nil {
		ws = map[*waiter]struct{}{}
		h.waiters[nodeID] = ws
	}
	h.seq++
	w := &waiter{since: since, seq: h.seq, ch: make(chan struct{})}
	ws[w] = struct{}{}
	h.count++
	return w
}

// Waiters returns how many requests are waiting, all nodes together.
func (h *Hub) Waiters() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

func (h *Hub) wakeLocked(nodeID int64, w *waiter) {
	close(w.ch)
	h.removeLocked(nodeID, w)
}

func (h *Hub) removeLocked(nodeID int64, w *waiter) {
	ws := h.waiters[nodeID]
	delete(ws, w)
	h.count--
	if len(ws) == 0 {
		delete(h.waiters, nodeID)
	}
}

// Run polls the versions of the nodes that have requests waiting, every
// PollInterval and whenever a Watcher source says they changed, until ctx
// ends; a change made by another central process on the same database
// then wakes them. It returns ctx's error.
func (h *Hub) Run(ctx context.Context) error {
	kick := make(chan struct{}, 1)
	if w, ok := h.src.(Watcher); ok {
		go h.watch(ctx, w, kick)
	}
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-kick:
		}
		h.poll(ctx)
	}
}

// watch runs w's watch until ctx ends, again after each failure, and
// turns each change into one pending kick: changes that come while a
// poll runs fold into the next poll, so a flood of them costs at most
// one poll at a time.
func (h *Hub) watch(ctx context.Context, w Watcher, kick chan<- struct{}) {
	changed := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	for {
		err := w.WatchNodes(ctx, changed)
		if ctx.Err() != nil {
			return
		}
		h.log.Warn("node channel: cannot watch other central processes' changes; polling every interval until the watch is back",
			"interval", h.interval, "retry", watchRetry, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(watchRetry):
		}
	}
}

// poll asks the source, in one call, for the versions of the nodes with
// waiters, and wakes those whose version passed what they wait for.
func (h *Hub) poll(ctx context.Context) {
	ids := h.waitingNodes()
	if len(ids) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	vers, err := h.src.Versions(pctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			h.log.Warn("poll node list versions", "nodes", len(ids), "err", err)
		}
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, v := range vers {
		// The database is the truth: a version that went down (a
		// restored database) is taken as it is, so no request spins.
		h.known[id] = v
		for w := range h.waiters[id] {
			if v > w.since {
				h.wakeLocked(id, w)
			}
		}
	}
}

func (h *Hub) waitingNodes() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(h.waiters))
	for id := range h.waiters {
		ids = append(ids, id)
	}
	return ids
}
