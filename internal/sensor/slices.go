package sensor

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// fmtRate formats a rate with two decimals.
func fmtRate(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// fmtTime formats a time as Unix seconds with milliseconds.
func fmtTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// slicesSnapshot is /slices.
func (s *Server) slicesSnapshot(_ context.Context, q *query) (*answer, error) {
	if s.cfg.Slices == nil {
		return nil, errNotAvailable("slices")
	}
	if err := noPath("slices", q); err != nil {
		return nil, err
	}
	return csvAnswer(slicesSchema, s.sliceRows()), nil
}

// sliceRows returns the rows of /slices, by slice name.
func (s *Server) sliceRows() [][]string {
	stats := s.hist.stats()
	rows := make([][]string, 0, len(stats))
	for _, st := range stats {
		rows = append(rows, []string{st.name,
			fmtRate(st.r1.cpuPct), fmtRate(st.r5.cpuPct), fmtRate(st.r15.cpuPct),
			strconv.FormatInt(st.mem, 10), strconv.FormatInt(st.procs, 10),
			fmtRate(st.r1.txKbps), fmtRate(st.r5.txKbps), fmtRate(st.r15.txKbps),
			fmtRate(st.r1.rxKbps), fmtRate(st.r5.rxKbps), fmtRate(st.r15.rxKbps)})
	}
	return rows
}

// bandwidthSnapshot is /bandwidth/SLICE, or /bandwidth for every slice.
func (s *Server) bandwidthSnapshot(_ context.Context, q *query) (*answer, error) {
	if s.cfg.Slices == nil {
		return nil, errNotAvailable("bandwidth")
	}
	var names []string
	switch len(q.rest) {
	case 0:
		for _, st := range s.hist.stats() {
			names = append(names, st.name)
		}
	case 1:
		names = q.rest
	default:
		return nil, errorf(http.StatusNotFound, "sensor bandwidth: GET /bandwidth/SLICE")
	}
	rows := make([][]string, 0, len(names))
	for _, name := range names {
		r, last, ok := s.hist.bandwidth(name)
		if !ok {
			if len(q.rest) == 0 {
				continue // gone since stats
			}
			return nil, errorf(http.StatusNotFound, "sensor bandwidth: no slice %q on this node", name)
		}
		rows = append(rows, []string{name, fmtRate(r.txKbps), fmtRate(r.rxKbps),
			strconv.FormatUint(last.tx, 10), strconv.FormatUint(last.rx, 10)})
	}
	return csvAnswer(bandwidthSchema, rows), nil
}

// bandwidthStream is /bandwidth-stream/SLICE: a tuple at each sample in
// which the slice is present.
func (s *Server) bandwidthStream(_ context.Context, q *query) ([]string, func(context.Context, emitFunc) error, error) {
	if s.cfg.Slices == nil {
		return nil, nil, errNotAvailable("bandwidth-stream")
	}
	if len(q.rest) != 1 {
		return nil, nil, errorf(http.StatusNotFound, "sensor bandwidth-stream: GET /bandwidth-stream/SLICE")
	}
	name := q.rest[0]
	if _, _, ok := s.hist.bandwidth(name); !ok {
		return nil, nil, errorf(http.StatusNotFound, "sensor bandwidth-stream: no slice %q on this node", name)
	}
	run := func(ctx context.Context, emit emitFunc) error {
		_, seen := s.hist.wait()
		for {
			changed, seq := s.hist.wait()
			if seq == seen {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-changed:
				}
				continue
			}
			seen = seq
			r, last, ok := s.hist.bandwidth(name)
			if !ok {
				continue
			}
			t := time.Unix(0, last.t)
			if err := emit([]string{fmtTime(t), name, fmtRate(r.txKbps), fmtRate(r.rxKbps)}); err != nil {
				return err
			}
		}
	}
	return bwStreamSchema, run, nil
}
