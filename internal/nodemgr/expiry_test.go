package nodemgr

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestExpiry checks that an rcap whose end passes is released and its
// sliver stopped and destroyed on time, not before, also across a restart.
func TestExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	short := e.acquire(api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 60, Privileges: sliverRights})
	e.bind("orbistest_short", short)
	long := e.acquire(api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 120})
	forever := e.acquire(api.Rspec{CPUGuarantee: 100})

	e.clock.Advance(59 * time.Second)
	time.Sleep(50 * time.Millisecond) // let the loop look; nothing may happen
	if _, ok := e.rt.Sliver("orbistest_short"); !ok {
		t.Fatal("sliver destroyed before its end")
	}
	e.clock.Advance(1 * time.Second)
	eventually(t, "the expired sliver to be destroyed", func() bool {
		_, ok := e.rt.Sliver("orbistest_short")
		return !ok
	})
	calls := e.rt.Calls()
	if !slices.Contains(calls, "stop orbistest_short") || !slices.Contains(calls, "destroy orbistest_short") {
		t.Fatalf("calls %v: want stop and destroy", calls)
	}
	eventually(t, "the expired rcap to go", func() bool {
		_, err := e.m.Query(ctx, short)
		return errors.Is(err, ErrDenied)
	})
	if _, err := e.m.Query(ctx, long); err != nil {
		t.Fatalf("rcap with a later end: %v", err)
	}

	// Down when the end passes: released at Open.
	e.m.Close()
	e.clock.Advance(2 * time.Minute)
	e.open()
	eventually(t, "the rcap that expired while down to go", func() bool {
		_, err := e.m.Query(ctx, long)
		return errors.Is(err, ErrDenied)
	})
	if _, err := e.m.Query(ctx, forever); err != nil {
		t.Fatalf("rcap without an end: %v", err)
	}
	// The released guarantees are free again.
	e.acquire(api.Rspec{CPUGuarantee: 900})
}

// logRecorder is a slog.Handler that keeps the messages logged at each
// level and passes every record on to the test's log.
type logRecorder struct {
	next slog.Handler
	// mu guards the following.
	mu   *sync.Mutex
	msgs map[slog.Level][]string
}

func newLogRecorder(t *testing.T) *logRecorder {
	return &logRecorder{next: testutil.Logger(t).Handler(), mu: &sync.Mutex{}, msgs: map[slog.Level][]string{}}
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (l *logRecorder) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs[r.Level] = append(l.msgs[r.Level], r.Message)
	l.mu.Unlock()
	return l.next.Handle(ctx, r)
}

func (l *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *l
	c.next = l.next.WithAttrs(as)
	return &c
}

func (l *logRecorder) WithGroup(name string) slog.Handler {
	c := *l
	c.next = l.next.WithGroup(name)
	return &c
}

// count returns how many messages at level start with prefix.
func (l *logRecorder) count(level slog.Level, prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs[level] {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// newEnvLogged is newEnv with the Manager's log kept for the test to read.
func newEnvLogged(t *testing.T) (*testEnv, *logRecorder) {
	rec := newLogRecorder(t)
	e := newEnv(t)
	e.log = slog.New(rec)
	e.reopen()
	return e, rec
}

// TestExpiryRetried checks that an expiry that fails (here: the sliver
// is busy with a stop when the end passes) is retried after 1 s, then
// 2 s, and so on, logged once, until the rcap is released.
func TestExpiryRetried(t *testing.T) {
	e, rec := newEnvLogged(t)
	ctx := context.Background()
	rc := e.acquire(api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 60, Privileges: sliverRights})
	e.bind("orbistest_busy", rc)

	block, entered := make(chan struct{}), make(chan struct{})
	e.rt.SetHook(func(step, name string) {
		if step == "stop:before" {
			close(entered)
			<-block
		}
	})
	stopped := make(chan error, 1)
	go func() { stopped <- e.m.StopSliver(ctx, "orbistest_busy") }()
	<-entered
	e.rt.SetHook(nil)

	e.clock.Advance(60 * time.Second)
	eventually(t, "the expiry to fail", func() bool { return rec.count(slog.LevelError, "expire rcap") == 1 })
	e.clock.Advance(retryDelay) // first retry, 1 s later: fails again
	eventually(t, "the first retry to fail", func() bool { return rec.count(slog.LevelDebug, "expire rcap failed again") == 1 })
	close(block)
	if err := <-stopped; err != nil {
		t.Fatalf("stop: %v", err)
	}
	e.clock.Advance(time.Second) // the second retry waits 2 s
	time.Sleep(50 * time.Millisecond)
	if _, err := e.m.Query(ctx, rc); err != nil {
		t.Fatalf("retried before its backoff: %v", err)
	}
	e.clock.Advance(time.Second)
	eventually(t, "the rcap to expire on the retry", func() bool {
		_, err := e.m.Query(ctx, rc)
		return errors.Is(err, ErrDenied)
	})
	eventually(t, "its sliver to be destroyed", func() bool {
		_, ok := e.rt.Sliver("orbistest_busy")
		return !ok
	})
	if n := rec.count(slog.LevelError, "expire rcap"); n != 1 {
		t.Fatalf("failed expiry logged %d times at error level, want once", n)
	}
	// The released guarantee is free again.
	e.acquire(api.Rspec{CPUGuarantee: 1000})
}

// TestExpiryTeardownRetried checks that when the destroy of an expired
// rcap's sliver fails, the rcap is gone at once and the destroy is retried
// a second later, logged once.
func TestExpiryTeardownRetried(t *testing.T) {
	e, rec := newEnvLogged(t)
	ctx := context.Background()
	rc := e.acquire(api.Rspec{CPUGuarantee: 100, End: t0.Unix() + 60, Privileges: sliverRights})
	e.bind("orbistest_stuck", rc)
	e.rt.FailNext("destroy", errors.New("busy mount"))

	e.clock.Advance(60 * time.Second)
	eventually(t, "the destroy to fail", func() bool { return rec.count(slog.LevelError, "destroy sliver") == 1 })
	if _, err := e.m.Query(ctx, rc); !errors.Is(err, ErrDenied) {
		t.Fatalf("query of the expired rcap: %v, want denied", err)
	}
	if _, ok := e.rt.Sliver("orbistest_stuck"); !ok {
		t.Fatal("sliver gone although its destroy failed")
	}
	e.clock.Advance(retryDelay)
	eventually(t, "the destroy to be retried after 1 s", func() bool {
		_, ok := e.rt.Sliver("orbistest_stuck")
		return !ok
	})
	if n := rec.count(slog.LevelError, "destroy sliver"); n != 1 {
		t.Fatalf("failed destroy logged %d times at error level, want once", n)
	}
}
