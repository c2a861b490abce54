package audit

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of a Config's zero fields.
const (
	DefaultBuffer = 8192
	// DefaultGrace is how long after a minute ends its packets may still
	// come in before the minute is closed and archived.
	DefaultGrace = 5 * time.Second
	// maxBatch is how many packets one lock of the store takes.
	maxBatch = 256
)

// Config configures an Auditor.
type Config struct {
	Source   Source
	Store    StoreConfig
	Archiver *Archiver // nil: minutes are not archived
	Buffer   int       // the stream's buffer, in packets
	Grace    time.Duration
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger
}

// Auditor records the node's outgoing traffic from the sniffer stream.
type Auditor struct {
	cfg   Config
	store *Store
}

// New returns an auditor with its store allocated.
func New(cfg Config) (*Auditor, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := NewStore(cfg.Store)
	if err != nil {
		return nil, err
	}
	return &Auditor{cfg: cfg, store: st}, nil
}

// Store returns the auditor's store.
func (a *Auditor) Store() *Store { return a.store }

// Archiver returns the auditor's archiver, or nil.
func (a *Auditor) Archiver() *Archiver { return a.cfg.Archiver }

// Run records packets until ctx is done or the stream ends, closing and
// archiving minutes as they end.
func (a *Auditor) Run(ctx context.Context) error {
	ch, dropped := a.cfg.Source.Subscribe(ctx, a.cfg.Buffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.closeMinutes(ctx, dropped)
	}()
	a.ingest(ch, dropped)
	<-done
	return ctx.Err()
}

// ingest adds packets to the store a batch at a time until ch closes.
func (a *Auditor) ingest(ch <-chan Packet, dropped func() uint64) {
	buf := make([]Packet, 0, maxBatch)
	for p := range ch {
		buf = append(buf[:0], p)
	drain:
		for len(buf) < maxBatch {
			select {
			case p, ok := <-ch:
				if !ok {
					break drain
				}
				buf = append(buf, p)
			default:
				break drain
			}
		}
		a.store.Add(buf...)
		a.store.SetStreamDropped(dropped())
	}
	a.store.SetStreamDropped(dropped())
}

// closeMinutes archives each minute once it ended, every few seconds,
// until ctx is done.
func (a *Auditor) closeMinutes(ctx context.Context, dropped func() uint64) {
	t := time.NewTicker(a.cfg.Grace)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.store.SetStreamDropped(dropped())
		a.Tick(ctx)
	}
}

// Tick closes the minutes that ended a grace period ago and archives them;
// Run calls it every grace period, tests call it with a fake clock.
// Without an archiver minutes are never closed, only moved out of the hour.
func (a *Auditor) Tick(ctx context.Context) {
	now := a.cfg.Now().Add(-a.cfg.Grace)
	if a.cfg.Archiver == nil {
		a.store.Advance(now)
		return
	}
	a.cfg.Archiver.Archive(ctx, a.store.CloseMinutes(now))
}
