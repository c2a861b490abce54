package rm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/orbisproject/orbis/api"
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
	if b, err := os.ReadFile(filepath.Join(z.procRoot, "loadavg")); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			s.Load, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	if b, err := os.ReadFile(filepath.Join(z.procRoot, "meminfo")); err == nil {
		kb := meminfo(b)
		s.MemTotal, s.FreeMem = kb["MemTotal"]*1024, kb["MemAvailable"]*1024
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(z.dir, &st); err == nil {
		s.DiskTotal = int64(st.Blocks) * st.Bsize
		s.FreeDisk = int64(st.Bavail) * st.Bsize
	}
	if b, err := os.ReadFile(filepath.Join(z.procRoot, "net/dev")); err == nil {
		rx, tx, err := netdev(b)
		if err == nil {
			if secs := now.Sub(z.lastAt).Seconds(); !z.lastAt.IsZero() && secs > 0 && rx >= z.lastRx && tx >= z.lastTx {
				s.BwIn, s.BwOut = int64(float64(rx-z.lastRx)/secs), int64(float64(tx-z.lastTx)/secs)
			}
			z.lastRx, z.lastTx, z.lastAt = rx, tx, now
		}
	}
	return s
}

// meminfo returns /proc/meminfo's fields counted in kB.
func meminfo(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		f := strings.Fields(rest)
		if !ok || len(f) != 2 || f[1] != "kB" {
			continue
		}
		if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// netdev sums the received and sent bytes of /proc/net/dev's interfaces
// but loopback.
func netdev(b []byte) (rx, tx uint64, err error) {
	lines := strings.Split(string(b), "\n")
	if len(lines) < 2 {
		return 0, 0, fmt.Errorf("net/dev: too short")
	}
	for _, line := range lines[2:] {
		name, rest, ok := strings.Cut(line, ":")
		f := strings.Fields(rest)
		if !ok || len(f) < 9 || strings.TrimSpace(name) == "lo" {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("net/dev %s: bad counters", strings.TrimSpace(name))
		}
		rx, tx = rx+r, tx+t
	}
	return rx, tx, nil
}
