package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

// NodeManager is what the agent asks of the node manager; *api.NMClient,
// on the socket the broker's sliver finds at api.NMSliverSocket,
// satisfies it.
type NodeManager interface {
	Rcaps(ctx context.Context) (api.NMRcaps, error)
	Split(ctx context.Context, rc api.Rcap, rs api.Rspec) (api.Rcap, error)
	Bind(ctx context.Context, slice string, rc api.Rcap, attrs api.BindAttrs) error
	Release(ctx context.Context, rc api.Rcap) error
}

// Timing of the agent.
const (
	// poolRefresh is how often the agent asks the node manager for its
	// pool when nothing else wakes it: the delegation may change.
	poolRefresh = 10 * time.Second
	// retryDelay is how long the agent waits before trying again an
	// opening or release that failed.
	retryDelay = 2 * time.Second
	// maxAttempts is how many refusals by the node manager a lease
	// takes before it fails.
	maxAttempts = 3
)

// An Agent opens and closes the book's leases through the node manager.
type Agent struct {
	book *Book
	nm   NodeManager
	log  *slog.Logger
	kick chan struct{}

	mu sync.Mutex
	// mu guards the following.
	pool    *api.RcapInfo // nil: none known
	cap     Capacity
	problem string
}

// NewAgent returns an agent of book calling nm.
func NewAgent(book *Book, nm NodeManager, log *slog.Logger) *Agent {
	return &Agent{book: book, nm: nm, log: log, kick: make(chan struct{}, 1), problem: "not in touch with the node manager yet"}
}

// Capacity returns the delegation as last seen, or a problem saying why
// there is none.
func (a *Agent) Capacity() (Capacity, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cap, a.problem
}

// Kick makes Run step at once (after a cancel).
func (a *Agent) Kick() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run steps whenever a window opens or ends, the pool may have changed,
// or it is kicked, until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	for {
		next := a.Step(ctx, time.Now())
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-a.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// Step refreshes the pool, then does what the book asks at now: releases
// first, then openings. It returns when to step next.
func (a *Agent) Step(ctx context.Context, now time.Time) time.Time {
	next := now.Add(poolRefresh)
	a.refreshPool(ctx)
	for _, t := range a.book.due(now.Unix()) {
		var err error
		switch t.act {
		case actOpen:
			err = a.open(ctx, t.rec, now)
		case actClose:
			err = a.close(ctx, t.rec, now)
		case actMiss:
			err = a.book.update(t.rec.ID, now.Unix(), func(r *record) {
				r.State = StateFailed
				if r.Reason == "" {
					r.Reason = "the window passed while the broker was down"
				}
				r.Reason = "the window passed unopened: " + r.Reason
			})
		}
		if err != nil {
			a.log.Warn("lease step; will retry", "lease", t.rec.ID, "slice", t.rec.Slice, "err", err)
			next = minTime(next, now.Add(retryDelay))
		}
	}
	if n := a.book.next(now.Unix()); n != 0 {
		next = minTime(next, time.Unix(n, 0))
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// refreshPool finds the pool rcap among the rcaps the broker's slice
// owns and computes the delegation from it: its slivers and shares (limits
// the node manager keeps on the pool) and its guarantee plus what its
// live children took of it.
func (a *Agent) refreshPool(ctx context.Context) {
	rs, err := a.nm.Rcaps(ctx)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.problem = fmt.Sprintf("node manager unreachable: %v", err)
		a.log.Warn("node manager rcaps", "err", err)
		return // keep the last pool: admission stays as it was
	}
	sort.Slice(rs.Rcaps, func(i, j int) bool { return rs.Rcaps[i].ID < rs.Rcaps[j].ID })
	a.pool, a.cap, a.problem = nil, Capacity{}, "this slice holds no pool rcap on this node (no delegation from central)"
	for i, r := range rs.Rcaps {
		if r.Pool && r.Rcap != "" {
			a.pool = &rs.Rcaps[i]
			break
		}
	}
	if a.pool == nil {
		return
	}
	p := a.pool.Rspec
	a.cap = Capacity{Slivers: p.Slivers, CPUShares: p.CPUShares, CPUGuarantee: p.CPUGuarantee, Start: p.Start, End: p.End}
	for _, r := range rs.Rcaps {
		if r.Parent == a.pool.ID {
			a.cap.CPUGuarantee += r.Rspec.CPUGuarantee
		}
	}
	a.problem = ""
	if a.cap.Slivers <= 0 || a.cap.CPUShares <= 0 {
		a.problem = fmt.Sprintf("the pool rcap holds nothing to lease (slivers %d, cpu_shares %d)", a.cap.Slivers, a.cap.CPUShares)
	}
}

// poolNow returns the pool rcap and the delegation, or an error.
func (a *Agent) poolNow() (api.RcapInfo, Capacity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pool == nil {
		return api.RcapInfo{}, Capacity{}, errors.New(a.problem)
	}
	return *a.pool, a.cap, nil
}

// childRspec is the rspec a lease splits off the pool: its window, its
// shares, and the pool's guarantee in proportion. It asks for what the
// lease says even where the pool has shrunk since: the node manager, not
// the broker, decides what the pool allows.
func childRspec(l Lease, pool api.Rspec, c Capacity) api.Rspec {
	shares := l.CPUShares
	if l.Whole {
		shares = pool.CPUShares // all of the delegation as it is now
	}
	rs := api.Rspec{CPUShares: shares, End: l.End, Privileges: api.Privileges{CreateSliver: true}}
	if l.Start >= pool.Start {
		rs.Start = l.Start // else 0: the pool's start
	}
	if c.CPUShares > 0 && c.CPUGuarantee > 0 {
		rs.CPUGuarantee = min(pool.CPUGuarantee, c.CPUGuarantee*shares/c.CPUShares)
		rs.CPUCap = pool.CPUCap && rs.CPUGuarantee > 0
	}
	return rs
}

// open splits the lease's rcap off the pool (unless a step before did),
// records it, and binds it to the slice.
func (a *Agent) open(ctx context.Context, r record, now time.Time) error {
	rc := r.Rcap
	if rc == "" {
		pool, c, err := a.poolNow()
		if err != nil {
			return a.refused(r, now, fmt.Errorf("no pool: %w", err), false)
		}
		rc, err = a.nm.Split(ctx, pool.Rcap, childRspec(r.Lease, pool.Rspec, c))
		if err != nil {
			return a.refused(r, now, fmt.Errorf("split the pool: %w", err), true)
		}
		if err := a.book.setRcap(r.ID, rc, now.Unix()); err != nil {
			if rerr := a.nm.Release(ctx, rc); rerr != nil {
				a.log.Error("release an rcap the book could not record", "lease", r.ID, "err", rerr)
			}
			return err
		}
	}
	if err := a.nm.Bind(ctx, r.Slice, rc, api.BindAttrs{Keys: r.Keys}); err != nil {
		if isRefusal(err) {
			if rerr := a.releaseRcap(ctx, r.ID, rc, now); rerr != nil {
				return rerr
			}
		}
		return a.refused(r, now, fmt.Errorf("bind: %w", err), true)
	}
	a.log.Info("lease opened", "lease", r.ID, "slice", r.Slice, "end", stamp(r.End))
	return a.book.update(r.ID, now.Unix(), func(r *record) {
		if r.State == StateReserved {
			r.State, r.Reason = StateActive, ""
		}
	})
}

// refused records why a lease could not open. A refusal by the node
// manager counts as an attempt, and after maxAttempts the lease fails;
// anything else is retried until the window ends.
func (a *Agent) refused(r record, now time.Time, cause error, count bool) error {
	final := false
	err := a.book.update(r.ID, now.Unix(), func(rec *record) {
		rec.Reason = cause.Error()
		if count && isRefusal(cause) {
			rec.Attempts++
			if rec.Attempts >= maxAttempts && rec.State == StateReserved && rec.Rcap == "" {
				rec.State, final = StateFailed, true
			}
		}
	})
	if final {
		a.log.Warn("lease failed: the node manager refused it", "lease", r.ID, "slice", r.Slice, "err", cause)
		return err
	}
	if err != nil {
		return err
	}
	return cause
}

// close releases a lease's rcap, which destroys its sliver; an rcap the
// node manager no longer knows (it expired at the window's end) is gone
// already.
func (a *Agent) close(ctx context.Context, r record, now time.Time) error {
	if err := a.releaseRcap(ctx, r.ID, r.Rcap, now); err != nil {
		return err
	}
	a.log.Info("lease closed", "lease", r.ID, "slice", r.Slice, "state", r.State)
	return nil
}

func (a *Agent) releaseRcap(ctx context.Context, id string, rc api.Rcap, now time.Time) error {
	err := a.nm.Release(ctx, rc)
	var ce *api.NMCallError
	if err != nil && !(errors.As(err, &ce) && ce.Status == http.StatusForbidden) {
		return fmt.Errorf("release: %w", err)
	}
	return a.book.update(id, now.Unix(), func(r *record) {
		r.Rcap = ""
		if r.State == StateActive && r.End <= now.Unix() {
			r.State = StateDone
		}
		if r.State == StateReserved && r.End <= now.Unix() {
			r.State = StateFailed
		}
	})
}

// isRefusal reports whether the node manager answered err with a refusal
// of the request itself (4xx), rather than failing to answer.
func isRefusal(err error) bool {
	var ce *api.NMCallError
	return errors.As(err, &ce) && ce.Status/100 == 4
}
