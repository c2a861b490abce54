package sensor

import (
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// point is one sample of a slice's cumulative counters.
type point struct {
	t      int64 // Unix nanoseconds
	cpu    int64 // nanoseconds of CPU time
	tx, rx uint64
}

// ring keeps a slice's last points, oldest overwritten first, and its
// latest gauges.
type ring struct {
	pts   []point // len grows to size, then stays
	next  int     // where the next point goes once pts is full
	mem   int64
	procs int64
}

// put records p, overwriting the oldest point once size points are kept.
func (r *ring) put(p point, size int) {
	if len(r.pts) < size {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.next] = p
	r.next = (r.next + 1) % size
}

// at returns the i-th newest point (0 the latest); ok is false past the
// oldest.
func (r *ring) at(i int) (point, bool) {
	n := len(r.pts)
	if i >= n {
		return point{}, false
	}
	newest := (r.next - 1 + n) % n // next stays 0 until pts is full
	return r.pts[(newest-i+n)%n], true
}

// rates are one slice's averages over a window.
type rates struct {
	cpuPct         float64 // percent of one CPU
	txKbps, rxKbps float64 // kilobits (1000 bits) per second
}

// rate averages the counters over the last window: from the oldest point
// not older than window before the latest, to the latest. With a single
// point there is no rate yet: zero. A point up to 1% older than the
// window still counts, for the jitter of sampling. A counter that went
// backwards (its cgroup was recreated) counts as no use.
func (r *ring) rate(window time.Duration) rates {
	last, ok := r.at(0)
	if !ok {
		return rates{}
	}
	first := last
	for i := 1; ; i++ {
		p, ok := r.at(i)
		if !ok || last.t-p.t > int64(window)+int64(window)/100 {
			break
		}
		first = p
	}
	return rateBetween(first, last)
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// history is the server's record of every slice's samples over the last
// window, bounded in slices and in points per slice.
type history struct {
	size      int // points kept per slice
	maxSlices int

	// mu guards the following.
	mu      sync.Mutex
	slices  map[string]*ring
	last    time.Time     // time of the latest sample
	seq     uint64        // samples taken
	dropped int           // slices left out of the latest sample
	changed chan struct{} // closed and replaced at each sample
}

func newHistory(interval, window time.Duration, maxSlices int) *history {
	return &history{
		size:      int(window/interval) + 1,
		maxSlices: maxSlices,
		slices:    map[string]*ring{},
		changed:   make(chan struct{}),
	}
}

// validSliceName bounds what a source can make the server keep.
func validSliceName(n string) bool {
	if n == "" || len(n) > 64 || !utf8.ValidString(n) {
		return false
	}
	for _, c := range n {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// add records a sample taken at now. Slices missing from it are
// forgotten; beyond maxSlices, slices already known are kept first, then
// new ones by name, and the rest are counted as dropped.
func (h *history) add(now time.Time, samples []SliceSample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := h.selectLocked(samples)
	for name := range h.slices {
		if _, ok := keep[name]; !ok {
			delete(h.slices, name)
		}
	}
	for name, s := range keep {
		r := h.slices[name]
		if r == nil {
			r = &ring{pts: make([]point, 0, min(h.size, 4))}
			h.slices[name] = r
		}
		r.put(point{t: now.UnixNano(), cpu: int64(s.CPUUsage), tx: s.TxBytes, rx: s.RxBytes}, h.size)
		r.mem, r.procs = s.MemoryBytes, s.Procs
	}
	h.last = now
	h.seq++
	close(h.changed)
	h.changed = make(chan struct{})
}

// selectLocked picks at most maxSlices valid samples, by name.
func (h *history) selectLocked(samples []SliceSample) map[string]SliceSample {
	keep := make(map[string]SliceSample, min(len(samples), h.maxSlices))
	var fresh []SliceSample
	for _, s := range samples {
		if !validSliceName(s.Name) {
			continue
		}
		if _, ok := h.slices[s.Name]; ok && len(keep) < h.maxSlices {
			keep[s.Name] = s
		} else if !ok {
			fresh = append(fresh, s)
		}
	}
	slices.SortFunc(fresh, func(a, b SliceSample) int { return strings.Compare(a.Name, b.Name) })
	h.dropped = 0
	for _, s := range fresh {
		if _, dup := keep[s.Name]; dup {
			continue
		}
		if len(keep) >= h.maxSlices {
			h.dropped++
			continue
		}
		keep[s.Name] = s
	}
	return keep
}

// sliceStat is one slice's row of /slices and /metrics.
type sliceStat struct {
	name        string
	r1, r5, r15 rates
	last        point
	mem, procs  int64
}

// stats returns every slice's rates and latest counters, by name.
func (h *history) stats() []sliceStat {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]sliceStat, 0, len(h.slices))
	for name, r := range h.slices {
		last, _ := r.at(0)
		out = append(out, sliceStat{name: name, r1: r.rate(time.Minute), r5: r.rate(5 * time.Minute),
			r15: r.rate(15 * time.Minute), last: last, mem: r.mem, procs: r.procs})
	}
	slices.SortFunc(out, func(a, b sliceStat) int { return strings.Compare(a.name, b.name) })
	return out
}

// bandwidth returns a slice's rates over the last sampling interval and
// its latest counters; ok is false for a slice not known.
func (h *history) bandwidth(name string) (rates, point, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.slices[name]
	if !ok {
		return rates{}, point{}, false
	}
	last, _ := r.at(0)
	prev, ok := r.at(1)
	if !ok {
		return rates{}, last, true
	}
	return r.rate(time.Duration(last.t - prev.t)), last, true
}

// wait returns a channel closed at the next sample, and the number of
// samples taken so far.
func (h *history) wait() (<-chan struct{}, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed, h.seq
}

// counts returns how many slices are kept and how many the latest sample
// left out.
func (h *history) counts() (kept, dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.slices), h.dropped
}
