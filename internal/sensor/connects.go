package sensor

import (
	"context"
	"strconv"
	"sync"
)

const (
	// connectRing is how many connect calls the server keeps, so that a
	// stream client a little behind loses none.
	connectRing = 1024
	// recentConnects is how many /connects lists.
	recentConnects = 100
)

// eventRing keeps the last connect calls. Readers follow it by sequence
// number, so the source never waits for a reader.
type eventRing struct {
	// mu guards the following.
	mu      sync.Mutex
	buf     []ConnectEvent // event number i is at buf[i%len(buf)]
	next    uint64         // number of the next event
	changed chan struct{}  // closed and replaced at each event
}

func newEventRing(size int) *eventRing {
	return &eventRing{buf: make([]ConnectEvent, size), changed: make(chan struct{})}
}

// add appends ev, overwriting the oldest event.
func (e *eventRing) add(ev ConnectEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf[e.next%uint64(len(e.buf))] = ev
	e.next++
	close(e.changed)
	e.changed = make(chan struct{})
}

// since returns the events numbered from, on, that are still kept, the
// number after the last of them, how many were lost (overwritten before
// being read), and a channel closed at the next event.
func (e *eventRing) since(from uint64) (evs []ConnectEvent, next, lost uint64, changed <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if oldest := e.next - min(e.next, uint64(len(e.buf))); from < oldest {
		lost, from = oldest-from, oldest
	}
	for i := from; i < e.next; i++ {
		evs = append(evs, e.buf[i%uint64(len(e.buf))])
	}
	return evs, e.next, lost, e.changed
}

// recent returns the last n events, oldest first.
func (e *eventRing) recent(n int) []ConnectEvent {
	e.mu.Lock()
	next := e.next
	e.mu.Unlock()
	evs, _, _, _ := e.since(next - min(next, uint64(n)))
	return evs
}

// connectRow is an event's tuple.
func connectRow(ev ConnectEvent) []string {
	return []string{fmtTime(ev.Time), ev.Slice, ev.Proto,
		ev.Src.Addr().String(), strconv.Itoa(int(ev.Src.Port())),
		ev.Dst.Addr().String(), strconv.Itoa(int(ev.Dst.Port()))}
}

// connectsSnapshot is /connects.
func (s *Server) connectsSnapshot(_ context.Context, q *query) (*answer, error) {
	if s.cfg.Connects == nil {
		return nil, errNotAvailable("connects")
	}
	if err := noPath("connects", q); err != nil {
		return nil, err
	}
	evs := s.connects.recent(recentConnects)
	rows := make([][]string, 0, len(evs))
	for _, ev := range evs {
		rows = append(rows, connectRow(ev))
	}
	return csvAnswer(connectsSchema, rows), nil
}

// connectsStream is /connects-stream: every connect call from now on. A
// client too slow to keep up loses the calls the ring overwrote.
func (s *Server) connectsStream(_ context.Context, q *query) ([]string, func(context.Context, emitFunc) error, error) {
	if s.cfg.Connects == nil {
		return nil, nil, errNotAvailable("connects-stream")
	}
	if err := noPath("connects-stream", q); err != nil {
		return nil, nil, err
	}
	_, from, _, _ := s.connects.since(^uint64(0))
	run := func(ctx context.Context, emit emitFunc) error {
		for {
			evs, next, _, changed := s.connects.since(from)
			from = next
			if len(evs) > 0 {
				rows := make([][]string, len(evs))
				for i, ev := range evs {
					rows[i] = connectRow(ev)
				}
				if err := emit(rows...); err != nil {
					return err
				}
				continue
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-changed:
			}
		}
	}
	return connectsSchema, run, nil
}
