package sensor

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/procfs"
)

// pageTopSlices is how many slices the page plots apart, by bytes sent;
// the others are summed into one band.
const pageTopSlices = 8

// loadInterval is how often the page's load average is sampled.
const loadInterval = 10 * time.Second

// loadPoint is one sample of the 1-minute load average.
type loadPoint struct {
	t    int64 // Unix nanoseconds
	load float64
}

// loadRing keeps the last samples of the load average, oldest
// overwritten first: its size is fixed at creation.
type loadRing struct {
	// mu guards the following.
	mu   sync.Mutex
	pts  []loadPoint // len grows to cap, then stays
	next int         // where the next point goes once pts is full
}

func newLoadRing(interval, window time.Duration) *loadRing {
	return &loadRing{pts: make([]loadPoint, 0, int(window/interval)+1)}
}

// add records the load at now.
func (r *loadRing) add(now time.Time, load float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := loadPoint{t: now.UnixNano(), load: load}
	if len(r.pts) < cap(r.pts) {
		r.pts = append(r.pts, p)
		return
	}
	r.pts[r.next] = p
	r.next = (r.next + 1) % len(r.pts)
}

// since returns the points not older than start, oldest first.
func (r *loadRing) since(start int64) []loadPoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]loadPoint, 0, len(r.pts))
	out = append(out, r.pts[r.next:]...)
	out = append(out, r.pts[:r.next]...)
	return slices.DeleteFunc(out, func(p loadPoint) bool { return p.t < start })
}

// latest returns the time of the latest point, zero if none.
func (r *loadRing) latest() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pts) == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.pts[(r.next-1+len(r.pts))%len(r.pts)].t)
}

// loadLoop samples the load average now and at every loadInterval until
// ctx is done; a failed read is logged at debug level and skipped.
func (s *Server) loadLoop(ctx context.Context) {
	t := time.NewTicker(loadInterval)
	defer t.Stop()
	for {
		if l, err := s.readLoad(); err != nil {
			s.log.Debug("sample load", "err", err)
		} else {
			s.loads.add(time.Now(), l[0])
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readLoad returns the 1, 5 and 15 minute load averages.
func (s *Server) readLoad() ([3]float64, error) {
	var out [3]float64
	data, err := procfs.Read(s.cfg.ProcRoot, "loadavg")
	if err != nil {
		return out, err
	}
	l, err := procfs.ParseLoadavg(data)
	for i := range out {
		out[i], _ = strconv.ParseFloat(l[i], 64) // parseLoadavg checked them
	}
	return out, err
}

// sliceSeries are the plotted slices' rates over time: CPU % of one
// CPU, kbit/s sent and received, one value per time.
type sliceSeries struct {
	times       []int64
	cpu, tx, rx []series
}

// timeline returns the rates of the top slices by bytes sent (ties by
// name), the others summed, at each sample since start. The rate at a
// sample is over the interval since the slice's previous sample. Its
// memory is bounded by the top slices, not by how many slices there are.
func (h *history) timeline(start int64, top int) sliceSeries {
	h.mu.Lock()
	defer h.mu.Unlock()
	names := h.topByTxLocked(start)
	idx := map[int64]int{}
	var out sliceSeries
	for _, r := range h.slices {
		for i := 0; ; i++ { // a slice's oldest point has no rate yet
			p, ok1 := r.at(i)
			_, ok2 := r.at(i + 1)
			if !ok1 || !ok2 || p.t < start {
				break
			}
			idx[p.t] = 0
		}
	}
	for t := range idx {
		out.times = append(out.times, t)
	}
	slices.Sort(out.times)
	for i, t := range out.times {
		idx[t] = i
	}
	band := map[string]int{}
	for i, name := range names {
		if i == top {
			break
		}
		band[name] = i
	}
	nb := len(band)
	if len(names) > top {
		nb++
	}
	for _, ss := range []*[]series{&out.cpu, &out.tx, &out.rx} {
		*ss = make([]series, nb)
		for i := range nb {
			(*ss)[i] = series{name: otherSlices, vals: make([]float64, len(out.times))}
		}
		for name, i := range band {
			(*ss)[i].name = name
		}
	}
	for name, r := range h.slices {
		b, ok := band[name]
		if !ok {
			b = nb - 1
		}
		for i := 0; ; i++ {
			p, ok1 := r.at(i)
			q, ok2 := r.at(i + 1)
			if !ok1 || !ok2 || p.t < start {
				break
			}
			rt := rateBetween(q, p)
			m := idx[p.t]
			out.cpu[b].vals[m] += rt.cpuPct
			out.tx[b].vals[m] += rt.txKbps
			out.rx[b].vals[m] += rt.rxKbps
		}
	}
	return out
}

// topByTxLocked returns the slices by bytes sent since start, most
// first, ties by name.
func (h *history) topByTxLocked(start int64) []string {
	type sent struct {
		name  string
		bytes uint64
	}
	all := make([]sent, 0, len(h.slices))
	for name, r := range h.slices {
		last, _ := r.at(0)
		first := last
		for i := 1; ; i++ {
			p, ok := r.at(i)
			if !ok || p.t < start {
				break
			}
			first = p
		}
		all = append(all, sent{name, sub(last.tx, first.tx)})
	}
	slices.SortFunc(all, func(a, b sent) int {
		if a.bytes != b.bytes {
			if a.bytes > b.bytes {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	names := make([]string, len(all))
	for i, a := range all {
		names[i] = a.name
	}
	return names
}

// rateBetween returns the rates from point a to the later point b.
func rateBetween(a, b point) rates {
	secs := float64(b.t-a.t) / 1e9
	if secs <= 0 {
		return rates{}
	}
	return rates{
		cpuPct: float64(max(0, b.cpu-a.cpu)) / 1e9 / secs * 100,
		txKbps: float64(sub(b.tx, a.tx)) * 8 / 1000 / secs,
		rxKbps: float64(sub(b.rx, a.rx)) * 8 / 1000 / secs,
	}
}

// lastSample returns the time of the latest sample, zero if none.
func (h *history) lastSample() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}
