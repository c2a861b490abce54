package plc

import (
	"context"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// expiryRecheck bounds ExpireLoop's sleep, so that a slice whose expiry
// another central process changed is noticed.
const expiryRecheck = time.Minute

// ExpireLoop bumps the nodes of each slice at the instant it expires, so
// that they drop its sliver (nodes also expire slivers on their own, at
// the rspec's End). It returns when ctx is done.
func (s *Service) ExpireLoop(ctx context.Context) {
	last := s.now().Unix()
	for {
		now := s.now().Unix()
		next, err := s.expireOnce(ctx, last, now)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Error("expire slices", "err", err)
			next = s.now().Add(5 * time.Second)
		} else {
			last = now
		}
		timer := time.NewTimer(max(min(next.Sub(s.now()), expiryRecheck), 0))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-s.expiryWake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// expireOnce bumps the nodes of slices that expired in (since, now] and
// returns when the next live slice expires.
func (s *Service) expireOnce(ctx context.Context, since, now int64) (time.Time, error) {
	next := time.Unix(now, 0).Add(expiryRecheck)
	var gone []api.Slice
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		gone, err = tx.Slices(store.Query{Conds: []store.Cond{
			{Field: "expires", Op: store.Gt, Value: since},
			{Field: "expires", Op: store.Le, Value: now},
		}})
		if err != nil {
			return err
		}
		soon, err := tx.Slices(store.Query{Conds: []store.Cond{{Field: "expires", Op: store.Gt, Value: now}}, Sort: []string{"expires"}, Limit: 1})
		if err == nil && len(soon) > 0 {
			next = time.Unix(soon[0].Expires, 0)
		}
		return err
	})
	if err != nil || len(gone) == 0 {
		return next, err
	}
	return next, s.update(ctx, &Caller{}, func(t *txn) error {
		for _, sl := range gone {
			t.bump(sl.NodeIDs...)
			s.log.Info("slice expired", "slice", sl.Name, "nodes", len(sl.NodeIDs))
		}
		return nil
	})
}

// wakeExpiry tells ExpireLoop that an expiry changed.
func (s *Service) wakeExpiry() {
	select {
	case s.expiryWake <- struct{}{}:
	default:
	}
}
