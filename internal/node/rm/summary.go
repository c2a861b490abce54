package rm

import (
	"context"
	"strconv"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/procfs"
)

// SummarySender is a Central that also takes the node's summary of its
// sensors; *api.NodeClient is one.
type SummarySender interface {
	Summary(ctx context.Context, s api.NodeSummary) error
}

var _ SummarySender = (*api.NodeClient)(nil)

// defaultSummaryEvery is how often the node sends its summary unless
// Options.SummaryEvery says otherwise.
const defaultSummaryEvery = time.Minute

// summarizer measures the node for its summary: load, memory, the disk of
// dir, traffic of the root network namespace's interfaces since the last
// summary, and the slivers the node manager runs.
type summarizer struct {
	procRoot string
	dir      string
	version  string
	// lastRx, lastTx and lastAt are the counters of the last summary.
	lastRx, lastTx uint64
	lastAt         time.Time
}

// summaryLoop sends central the node's summary at once and every
// opts.SummaryEvery until ctx ends, if opts.Central takes summaries. A
// failed send is logged at debug level and not retried: the next one
// replaces it.
func summaryLoop(ctx context.Context, opts Options) {
	send, ok := opts.Central.(SummarySender)
	if !ok {
		return
	}
	every := opts.SummaryEvery
	if every <= 0 {
		every = defaultSummaryEvery
	}
	z := &summarizer{procRoot: "/proc", dir: opts.StateDir, version: opts.Version}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s := z.summary(opts.Now())
		if l, err := opts.NM.List(ctx); err == nil {
			s.Slivers = running(l.Slivers)
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := send.Summary(sctx, s); err != nil && ctx.Err() == nil {
			opts.Log.Debug("send summary", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// running counts the slivers in state running.
func running(ss []api.SliverInfo) int64 {
	var n int64
	for _, s := range ss {
		if s.State == "running" {
			n++
		}
	}
	return n
}

// summary measures the node now; what cannot be read stays 0.
func (z *summarizer) summary(now time.Time) api.NodeSummary {
	s := api.NodeSummary{AgentVersion: z.version}
	if b, err := procfs.Read(z.procRoot, "loadavg"); err == nil {
		if l, err := procfs.ParseLoadavg(b); err == nil {
			s.Load, _ = strconv.ParseFloat(l[0], 64) // ParseLoadavg checked it
		}
	}
	if b, err := procfs.Read(z.procRoot, "meminfo"); err == nil {
		if mem, err := procfs.ParseMeminfo(b); err == nil {
			s.MemTotal, s.FreeMem = procfs.MemBytes(mem, "MemTotal"), procfs.MemBytes(mem, "MemAvailable")
		}
	}
	if free, size, err := disk.Statfs(z.dir); err == nil {
		s.DiskTotal, s.FreeDisk = size, free
	}
	if b, err := procfs.Read(z.procRoot, "net/dev"); err == nil {
		if rx, tx, err := procfs.ParseNetDev(b); err == nil {
			if secs := now.Sub(z.lastAt).Seconds(); !z.lastAt.IsZero() && secs > 0 && rx >= z.lastRx && tx >= z.lastTx {
				s.BwIn, s.BwOut = int64(float64(rx-z.lastRx)/secs), int64(float64(tx-z.lastTx)/secs)
			}
			z.lastRx, z.lastTx, z.lastAt = rx, tx, now
		}
	}
	return s
}
