package shaping

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// Clock tells the time; tests pass a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// CounterSource gives each sliver's byte counts; *netfilter.Tagger is one.
type CounterSource interface {
	Counters(ctx context.Context) (map[string]netfilter.Counters, error)
}

// DailyLimiter enforces PlanetLab's daily byte caps (net_thresh_kbyte,
// net_max_kbyte): once a sliver has sent DailyThreshKB today (UTC), its
// ceiling drops so that the rest of the day's allowance, DailyMaxKB minus
// what it sent, is spread over the rest of the day (never under its
// MinRate); at midnight UTC every ceiling comes back. A KB is 1024 bytes.
// Counts start when the limiter first sees a sliver: they do not survive an
// agent restart.
type DailyLimiter struct {
	shaper *Shaper
	src    CounterSource
	clock  Clock
	log    *slog.Logger

	// mu guards the following.
	mu     sync.Mutex
	day    time.Time         // midnight UTC starting the day counted
	base   map[string]uint64 // tx bytes at the start of the day (or first sight)
	capped map[string]int64  // ceilings set, kbit/s
}

// NewDailyLimiter returns a limiter of s's slivers counted by src.
func NewDailyLimiter(s *Shaper, src CounterSource, clock Clock, log *slog.Logger) *DailyLimiter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DailyLimiter{shaper: s, src: src, clock: clock, log: log,
		base: map[string]uint64{}, capped: map[string]int64{}}
}

// Run checks every interval until ctx ends.
func (d *DailyLimiter) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := d.Check(ctx); err != nil {
			d.log.Warn("daily byte caps", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check reads the counters once and lowers or restores ceilings.
func (d *DailyLimiter) Check(ctx context.Context) error {
	counts, err := d.src.Counters(ctx)
	if err != nil {
		return fmt.Errorf("read byte counters: %w", err)
	}
	now := d.clock.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	d.mu.Lock()
	defer d.mu.Unlock()
	if !day.Equal(d.day) {
		d.newDayLocked(ctx, day, counts)
	}
	left := day.Add(24 * time.Hour).Sub(now)
	for name, sl := range d.shaper.shaped() {
		if err := d.checkLocked(ctx, sl, counts[name].TxBytes, left); err != nil {
			return err
		}
	}
	return nil
}

// newDayLocked restores every lowered ceiling and starts counting anew.
func (d *DailyLimiter) newDayLocked(ctx context.Context, day time.Time, counts map[string]netfilter.Counters) {
	for name := range d.capped {
		if err := d.shaper.Throttle(ctx, name, 0); err != nil {
			d.log.Warn("restore ceiling", "slice", name, "err", err)
		}
	}
	clear(d.capped)
	clear(d.base)
	for name, c := range counts {
		d.base[name] = c.TxBytes
	}
	d.day = day
}

// checkLocked throttles one sliver if it is past its threshold.
func (d *DailyLimiter) checkLocked(ctx context.Context, sl Sliver, tx uint64, left time.Duration) error {
	thresh := sl.DailyThreshKB
	if thresh == 0 {
		thresh = sl.DailyMaxKB
	}
	base, seen := d.base[sl.Name]
	if !seen || tx < base { // new sliver, or its counters were reset
		d.base[sl.Name], base = tx, tx
	}
	used := int64(tx - base)
	if thresh <= 0 || used < thresh*1024 {
		return nil
	}
	rest := max(sl.DailyMaxKB*1024-used, 0)
	ceil := max(rest*8/max(int64(left.Seconds()), 1)/1000, sl.MinRate)
	if d.capped[sl.Name] == ceil {
		return nil
	}
	if err := d.shaper.Throttle(ctx, sl.Name, ceil); err != nil {
		return err
	}
	d.capped[sl.Name] = ceil
	d.log.Info("daily byte threshold passed: ceiling lowered", "slice", sl.Name,
		"sent_kb", used/1024, "max_kb", sl.DailyMaxKB, "ceil_kbit", ceil)
	return nil
}
