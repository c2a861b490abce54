// Package rm is the node's resource manager (paper 4.2.3): the per-node
// part of central that follows the node's sliver list and turns it into
// acquire, bind and release calls on the node manager, through the same
// client and calls any other broker uses. It keeps the last list and the
// rcaps it holds on disk, so a node that cannot reach central keeps its
// slivers across restarts; their expiry is the node manager's, on time.
package rm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/orbisproject/orbis/api"
)

// Central is what the resource manager needs of central; *api.NodeClient
// is one.
type Central interface {
	// Slivers returns the node's list once its version differs from
	// since (a negative since: at once), or after a long-poll period.
	Slivers(ctx context.Context, since int64) (api.Slivers, error)
	// Report tells central the state of the node's slivers.
	Report(ctx context.Context, reports []api.SliverReport) error
}

var _ Central = (*api.NodeClient)(nil)

// Options configure Run.
type Options struct {
	// Central is the node's client of central.
	Central Central
	// NM is the node manager's client.
	NM *api.NMClient
	// StateDir keeps the last list and the rcaps held; it is created
	// (mode 0700) if missing.
	StateDir string
	// Log receives the resource manager's records; nil discards.
	Log *slog.Logger
	// Now tells the time for expiry; nil means time.Now. Tests share the
	// node manager's fake clock.
	Now func() time.Time
	// Every is how often slivers are reconciled and reported even when
	// nothing changed (0 means 30 s); failed acquires are retried then.
	Every time.Duration
	// MaxBackoff bounds the wait between attempts to reach central (0
	// means 30 s). The first retry comes after MaxBackoff/60.
	MaxBackoff time.Duration
	// OnList, if not nil, is told each new list once it is persisted,
	// so other parts of the agent follow it without reading the file
	// again (LastList is for their start). It runs in the resource
	// manager's loop: it must not block.
	OnList func(api.Slivers)
	// Version is the agent's, sent in the node's summary; SummaryEvery
	// how often the summary is sent (0 means a minute).
	Version      string
	SummaryEvery time.Duration
}

func (o *Options) check() error {
	switch {
	case o.Central == nil:
		return errors.New("resource manager: no central client")
	case o.NM == nil:
		return errors.New("resource manager: no node manager client")
	case o.StateDir == "":
		return errors.New("resource manager: no state directory")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Every <= 0 {
		o.Every = 30 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	return nil
}

// Run follows central and reconciles the node manager with the node's
// list until ctx ends. It starts from the list and rcaps persisted by the
// last run, so slivers keep running while central is unreachable. It
// returns nil when ctx ends, or an error if its state cannot be read.
func Run(ctx context.Context, opts Options) error {
	if err := opts.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return fmt.Errorf("resource manager state: %w", err)
	}
	list, st, err := loadState(opts.StateDir)
	if err != nil {
		return fmt.Errorf("resource manager: %w", err)
	}
	m := &manager{opts: opts, log: opts.Log, nm: opts.NM, list: list, st: st, problems: map[string]string{}}
	lists := make(chan api.Slivers, 1)
	reports := make(chan []api.SliverReport, 1)
	go follow(ctx, opts, list.Version, lists)
	go reportLoop(ctx, opts, reports)
	go summaryLoop(ctx, opts)
	m.loop(ctx, lists, reports)
	return nil
}

// loop reconciles at start, on each new list, and every opts.Every.
func (m *manager) loop(ctx context.Context, lists <-chan api.Slivers, reports chan []api.SliverReport) {
	tick := time.NewTicker(m.opts.Every)
	defer tick.Stop()
	for {
		m.reconcile(ctx)
		if r, err := m.reports(ctx); err == nil {
			offer(reports, r)
		}
		select {
		case <-ctx.Done():
			return
		case l := <-lists:
			m.accept(l)
		case <-tick.C:
		}
	}
}

// accept makes l the list to follow, persisting it first.
func (m *manager) accept(l api.Slivers) {
	if err := writeJSON(m.opts.StateDir, listFile, l); err != nil {
		// Still follow it; the next list is written again.
		m.log.Error("persist sliver list", "version", l.Version, "err", err)
	}
	m.log.Info("sliver list", "version", l.Version, "slivers", len(l.Slivers))
	m.list = l
	if m.opts.OnList != nil {
		m.opts.OnList(l)
	}
}

// offer replaces what waits in ch with v.
func offer[T any](ch chan T, v T) {
	for {
		select {
		case ch <- v:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// follow long-polls central and offers each new list on lists, backing
// off while central is unreachable.
func follow(ctx context.Context, opts Options, since int64, lists chan api.Slivers) {
	var b backoff
	for ctx.Err() == nil {
		l, err := opts.Central.Slivers(ctx, since)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d := b.next(opts.MaxBackoff)
			if b.fails == 1 || b.fails%10 == 0 {
				opts.Log.Warn("central unreachable; keeping the last sliver list", "err", err, "fails", b.fails, "retry", d)
			}
			sleep(ctx, d)
			continue
		}
		if b.fails > 0 {
			opts.Log.Info("central reachable again", "after_fails", b.fails)
		}
		b = backoff{}
		if l.Version != since {
			since = l.Version
			offer(lists, l)
		}
	}
}

// reportLoop sends the latest reports to central, retrying with backoff
// until they are through or newer ones replace them.
func reportLoop(ctx context.Context, opts Options, reports chan []api.SliverReport) {
	for {
		var r []api.SliverReport
		select {
		case <-ctx.Done():
			return
		case r = <-reports:
		}
		var b backoff
		for {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := opts.Central.Report(rctx, r)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			d := b.next(opts.MaxBackoff)
			opts.Log.Debug("report slivers", "err", err, "retry", d)
			select {
			case <-ctx.Done():
				return
			case r = <-reports:
			case <-time.After(d):
			}
		}
	}
}

// backoff doubles a wait from max/60 up to max, with jitter.
type backoff struct{ fails int }

func (b *backoff) next(maxWait time.Duration) time.Duration {
	b.fails++
	d := maxWait / 60
	for i := 1; i < b.fails && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
