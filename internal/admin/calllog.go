package admin

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// consequential reports whether a call changed the node, and so goes to
// ActionsFile, always: a kill or a cap that succeeded.
func consequential(op string, err error) bool {
	return err == nil && (op == "kill" || op == "bwcap set")
}

// callKey is whom and what CallLogEvery bounds: a caller (its slice, or
// its host UID if in none) and a kind of call.
type callKey struct {
	caller string
	kind   string
}

func keyOf(c Caller, kind string) callKey {
	if c.Slice != "" {
		return callKey{caller: "slice:" + c.Slice, kind: kind}
	}
	return callKey{caller: "uid:" + strconv.FormatUint(uint64(c.HostUID), 10), kind: kind}
}

// callWindow is one key's interval: when its last line was written, and
// the calls since, not written, the last of them kept as a sample.
type callWindow struct {
	last   time.Time
	count  int
	sample Action
}

// callLimiter decides which calls of CallsFile are written.
type callLimiter struct {
	every time.Duration

	// mu guards the following.
	mu      sync.Mutex
	windows map[callKey]*callWindow
}

func newCallLimiter(every time.Duration) *callLimiter {
	return &callLimiter{every: every, windows: map[callKey]*callWindow{}}
}

// admit reports whether a, a call of key, is written now; if not, it is
// counted, and due returns it later.
func (l *callLimiter) admit(key callKey, a Action) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.windows[key]
	if w == nil || a.Time.Sub(w.last) >= l.every && w.count == 0 {
		l.windows[key] = &callWindow{last: a.Time}
		return true
	}
	w.count++
	w.sample = a
	return false
}

// due returns a line for each key whose interval is over and that has
// calls not written (each standing for them: Action.Count), and forgets
// keys quiet for a whole interval. Its lines start a new interval.
func (l *callLimiter) due(now time.Time) []Action {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Action
	for k, w := range l.windows {
		if now.Sub(w.last) < l.every {
			continue
		}
		if w.count == 0 {
			delete(l.windows, k)
			continue
		}
		a := w.sample
		a.Count = w.count
		out = append(out, a)
		*w = callWindow{last: now}
	}
	return out
}

// record logs one call: in ActionsFile if it changed the node, else in
// CallsFile within its caller's CallLogEvery; in the node's log alike.
func (s *Service) record(c Caller, op, note string, err error) {
	s.recordKind(c, op, op, note, err)
}

// recordKind is record for a call whose kind, for CallLogEvery, is not
// its op (a watch's start and its end).
func (s *Service) recordKind(c Caller, op, kind, note string, err error) {
	if c.PID != 0 && c.SliverPID == 0 {
		c.SliverPID = sliverPID(s.cfg.ProcRoot, c.PID)
	}
	a := Action{Time: s.now(), Slice: c.Slice, UID: c.UID, HostUID: c.HostUID, PID: c.PID,
		SliverPID: c.SliverPID, Op: op, Note: printable(note, maxNote), Result: "ok"}
	if err != nil {
		a.Result = printable(err.Error(), maxNote)
	}
	if consequential(op, err) {
		s.write(s.actions, a)
		return
	}
	s.flushCalls(a.Time)
	if !s.limiter.admit(keyOf(c, kind), a) {
		return
	}
	s.write(s.calls, a)
}

// flushCalls writes the counts of calls not written whose interval is
// over.
func (s *Service) flushCalls(now time.Time) {
	for _, a := range s.limiter.due(now) {
		s.write(s.calls, a)
	}
}

// flushLoop runs flushCalls every CallLogEvery until ctx ends, then once
// more for every count left.
func (s *Service) flushLoop(ctx context.Context) {
	t := time.NewTicker(s.limiter.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushCalls(s.now().Add(s.limiter.every))
			return
		case <-t.C:
			s.flushCalls(s.now())
		}
	}
}

// write appends a to l and to the node's log.
func (s *Service) write(l *actionLog, a Action) {
	s.cfg.Log.Info("admin action", "slice", a.Slice, "uid", a.UID, "host_uid", a.HostUID, "pid", a.PID,
		"sliver_pid", a.SliverPID, "op", a.Op, "note", a.Note, "result", a.Result, "count", max(a.Count, 1))
	if err := l.append(a); err != nil {
		s.cfg.Log.Error("admin action log", "err", err)
	}
}

// actionBudget bounds the consequential actions (kills, cap changes) of
// each admin slice: a bucket of MaxActionsPerMinute tokens per slice,
// refilled at that rate. Root is not bounded.
type actionBudget struct {
	perMinute int

	// mu guards the following.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newActionBudget(perMinute int) *actionBudget {
	return &actionBudget{perMinute: perMinute, buckets: map[string]*bucket{}}
}

// spend takes a token of c's slice at now, or says why it cannot.
func (b *actionBudget) spend(c Caller, now time.Time) error {
	if c.HostUID == 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	full := float64(b.perMinute)
	k := b.buckets[c.Slice]
	if k == nil {
		k = &bucket{tokens: full, last: now}
		b.buckets[c.Slice] = k
	}
	k.tokens = min(full, k.tokens+now.Sub(k.last).Minutes()*full)
	k.last = now
	if k.tokens < 1 {
		return errorf(http.StatusTooManyRequests, "slice %s has made %d kills and cap changes in the last minute, the most allowed: try again later",
			c.Slice, b.perMinute)
	}
	k.tokens--
	return nil
}
