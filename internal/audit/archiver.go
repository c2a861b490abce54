package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of an Archiver.
const (
	DefaultBatchRows   = 5000
	DefaultPushTimeout = 30 * time.Second
)

// Archiver pushes closed minutes to central in batches, in order, through
// a spool: while central is unreachable (or older batches wait in the
// spool), batches go to the spool, and each later call first pushes what
// the spool holds.
type Archiver struct {
	node      string
	archive   Archive
	spool     *Spool
	batchRows int
	timeout   time.Duration
	log       *slog.Logger

	// mu guards the following.
	mu    sync.Mutex
	stats ArchiveStats
}

// ArchiveStats counts an archiver's work.
type ArchiveStats struct {
	PushedBatches, PushedRows uint64
	Spooled                   int // batches waiting in the spool
	SpoolDropped              SpoolDropped
	LastError                 string
	LastErrorAt               time.Time
}

// NewArchiver returns an archiver of node's rows to archive, spooling to
// spool (which may be nil: then a batch central refuses is dropped and
// counted). batchRows zero means DefaultBatchRows.
func NewArchiver(node string, archive Archive, spool *Spool, batchRows int, log *slog.Logger) *Archiver {
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	return &Archiver{node: node, archive: archive, spool: spool, batchRows: batchRows,
		timeout: DefaultPushTimeout, log: log}
}

// Stats returns the archiver's counters.
func (a *Archiver) Stats() ArchiveStats {
	a.mu.Lock()
	st := a.stats
	a.mu.Unlock()
	if a.spool != nil {
		st.Spooled = a.spool.Len()
		d := a.spool.Dropped()
		st.SpoolDropped.Batches += d.Batches
		st.SpoolDropped.Rows += d.Rows
		st.SpoolDropped.Packets += d.Packets
	}
	return st
}

// Archive pushes rows in batches after what the spool holds, spooling
// what central does not take.
func (a *Archiver) Archive(ctx context.Context, rows []Row) {
	ok := a.Flush(ctx)
	for len(rows) > 0 {
		n := min(len(rows), a.batchRows)
		batch := rows[:n]
		rows = rows[n:]
		if ok {
			if ok = a.push(ctx, batch); ok {
				continue
			}
		}
		a.keep(batch)
	}
}

// Flush pushes the spool's batches, oldest first, and reports whether the
// spool is now empty.
func (a *Archiver) Flush(ctx context.Context) bool {
	if a.spool == nil {
		return true
	}
	for {
		name, rows, ok, err := a.spool.Oldest()
		if err != nil {
			a.log.Warn("spooled audit batch unreadable, dropped", "err", err)
			continue
		}
		if !ok {
			return true
		}
		if !a.push(ctx, rows) {
			return false
		}
		if err := a.spool.Remove(name); err != nil {
			// Pushed twice if it is read again: say so, and stop there.
			a.log.Error("remove pushed audit batch", "batch", name, "err", err)
			return false
		}
	}
}

// push sends one batch and reports whether central took it.
func (a *Archiver) push(ctx context.Context, rows []Row) bool {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	err := a.archive.Push(ctx, a.node, rows)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.stats.LastError, a.stats.LastErrorAt = fmt.Sprintf("push audit batch: %v", err), time.Now()
		return false
	}
	a.stats.PushedBatches++
	a.stats.PushedRows += uint64(len(rows))
	return true
}

// keep spools a batch central did not take.
func (a *Archiver) keep(rows []Row) {
	if a.spool != nil {
		err := a.spool.Put(rows)
		if err == nil {
			return
		}
		a.log.Error("spool audit batch", "rows", len(rows), "err", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.SpoolDropped.Batches++
	a.stats.SpoolDropped.Rows += uint64(len(rows))
	for _, r := range rows {
		a.stats.SpoolDropped.Packets += r.Packets
	}
}
