package push

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// env is a node channel on a loopback HTTP server over a FakeSource.
type env struct {
	t   *testing.T
	src *FakeSource
	hub *Hub
	srv *httptest.Server
	hc  *http.Client
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	src := NewFakeSource()
	if opts.Log == nil {
		opts.Log = testutil.Logger(t)
	}
	hub := NewHub(src, opts.Log)
	src.OnChange = hub.Notify
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	srv := httptest.NewServer(NewHandler(src, hub, opts))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2000}}
	t.Cleanup(func() {
		hc.CloseIdleConnections()
		srv.Close()
		cancel()
		<-done
	})
	return &env{t: t, src: src, hub: hub, srv: srv, hc: hc}
}

func (e *env) client(id int64, secret string) *api.NodeClient {
	return api.NewNodeClient(e.srv.URL, id, secret, e.hc)
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestNotifyWakesWaiterAtOnce checks that Notify wakes the named node's
// waiter without waiting for a poll, and nobody else's.
func TestNotifyWakesWaiterAtOnce(t *testing.T) {
	src := NewFakeSource()
	hub := NewHub(src, testutil.Logger(t)) // no Run: no poll can wake anyone
	ctx := testutil.Context(t)
	woke := make(chan int64, 2)
	for _, id := range []int64{1, 2} {
		go func() {
			if _, err := hub.Wait(ctx, id, 1); err == nil {
				woke <- id
			}
		}()
	}
	waitFor(t, "two waiters", func() bool { return hub.Waiters() == 2 })
	start := time.Now()
	hub.Notify([]int64{1})
	select {
	case id := <-woke:
		if id != 1 {
			t.Fatalf("Notify(1) woke node %d", id)
		}
	case <-time.After(time.Second):
		t.Fatal("Notify did not wake the waiter")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Notify took %v to wake the waiter (want at once, < 100 ms)", d)
	}
	select {
	case id := <-woke:
		t.Fatalf("node %d woken without a change", id)
	case <-time.After(50 * time.Millisecond):
	}
	if n := hub.Waiters(); n != 1 {
		t.Fatalf("%d waiters left, want 1", n)
	}
}

// TestWaitReturnsAtOnceIfNewer checks Wait against the version the poll
// learnt: above since it returns at once; equal, it waits.
func TestWaitReturnsAtOnceIfNewer(t *testing.T) {
	src := NewFakeSource()
	src.AddNode(7, "s")
	src.SetSlivers(7, nil, true) // version 2
	hub := NewHub(src, testutil.Logger(t))
	ctx := testutil.Context(t)
	go hub.Wait(ctx, 7, 0) // a waiter, so the poll asks about node 7
	waitFor(t, "a waiter", func() bool { return hub.Waiters() == 1 })
	hub.poll(ctx)
	start := time.Now()
	v, err := hub.Wait(ctx, 7, 1)
	if err != nil || v != 2 {
		t.Fatalf("Wait(since 1) = %d, %v; want 2, nil", v, err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Wait for an older version took %v (want at once)", d)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := hub.Wait(short, 7, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait(since current) = %v; want it to wait until the deadline", err)
	}
}

// TestLongPollOverHTTP checks the whole path: a node waiting on its list
// gets the new one as soon as a change in this process is committed, and
// one asking with an old version gets the list at once.
func TestLongPollOverHTTP(t *testing.T) {
	e := newEnv(t, Options{})
	e.src.AddNode(1, "secret-1")
	c := e.client(1, "secret-1")
	ctx := testutil.Context(t)
	got := make(chan api.Slivers, 1)
	go func() {
		l, err := c.Slivers(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	waitFor(t, "the long-poll", func() bool { return e.hub.Waiters() == 1 })
	start := time.Now()
	e.src.SetSlivers(1, []api.Sliver{{Name: "pl_a"}}, false)
	l := <-got
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("change took %v to reach the node (want < 200 ms)", d)
	}
	if l.Version != 2 || len(l.Slivers) != 1 || l.Slivers[0].Name != "pl_a" {
		t.Fatalf("got list %+v", l)
	}
	start = time.Now()
	if l, err := c.Slivers(ctx, 1); err != nil || l.Version != 2 {
		t.Fatalf("Slivers(since old) = %+v, %v", l, err)
	}
	if l, err := c.Slivers(ctx, -1); err != nil || l.Version != 2 {
		t.Fatalf("Slivers(no since) = %+v, %v", l, err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("answers that need no wait took %v", d)
	}
}

// TestLongPollAnswersAfterPeriod checks that a long-poll with no change
// answers with the current list after the period.
func TestLongPollAnswersAfterPeriod(t *testing.T) {
	e := newEnv(t, Options{LongPoll: 300 * time.Millisecond})
	e.src.AddNode(1, "s")
	start := time.Now()
	l, err := e.client(1, "s").Slivers(testutil.Context(t), 1)
	if err != nil || l.Version != 1 {
		t.Fatalf("Slivers = %+v, %v", l, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("long-poll answered after %v, want about 300 ms", d)
	}
	if n := e.hub.Waiters(); n != 0 {
		t.Fatalf("%d waiters left after the answer", n)
	}
}

// TestCrossProcessChange checks that a change OnChange never announced
// (made by another central process) reaches the node within a second,
// through the batched Versions poll.
func TestCrossProcessChange(t *testing.T) {
	e := newEnv(t, Options{})
	for id := int64(1); id <= 3; id++ {
		e.src.AddNode(id, "s")
	}
	ctx := testutil.Context(t)
	got := make(chan time.Time, 3)
	for id := int64(1); id <= 3; id++ {
		go func() {
			if _, err := e.client(id, "s").Slivers(ctx, 1); err != nil {
				t.Error(err)
			}
			got <- time.Now()
		}()
	}
	waitFor(t, "three long-polls", func() bool { return e.hub.Waiters() == 3 })
	calls := e.src.VersionsCalls()
	start := time.Now()
	for id := int64(1); id <= 3; id++ {
		e.src.SetSlivers(id, []api.Sliver{{Name: "pl_b"}}, true)
	}
	for range 3 {
		if d := (<-got).Sub(start); d > time.Second {
			t.Fatalf("change from another process took %v (want < 1 s)", d)
		}
	}
	// One batched call per poll, not one per node.
	if n := e.src.VersionsCalls() - calls; n < 1 || n > 5 {
		t.Fatalf("%d Versions calls for one change of 3 nodes", n)
	}
}

// TestThousandWaitersReleased holds 1,000 long-polls, then makes the
// clients go away, twice, and checks that central keeps no waiter or
// goroutine for them, and that the second round leaves no more memory
// in use than the first (a leak per request would show as megabytes).
func TestThousandWaitersReleased(t *testing.T) {
	e := newEnv(t, Options{})
	const n = 1000
	for id := int64(1); id <= n; id++ {
		e.src.AddNode(id, "s")
	}
	baseG := runtime.NumGoroutine()
	var heap [2]uint64
	for round := range 2 {
		e.holdAndDrop(n, baseG)
		runtime.GC()
		runtime.GC() // the second empties sync.Pool's victim cache
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap[round] = ms.HeapAlloc
	}
	grow := int64(heap[1]) - int64(heap[0])
	t.Logf("live heap after round 1: %d bytes, after round 2: %d (%+d)", heap[0], heap[1], grow)
	if grow > 1<<20 {
		t.Fatalf("live heap grew by %d bytes in a second round of 1,000 long-polls", grow)
	}
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if len(e.hub.waiters) != 0 || e.hub.count != 0 {
		t.Fatalf("hub keeps %d nodes' waiter sets, %d waiters", len(e.hub.waiters), e.hub.count)
	}
}

// holdAndDrop starts n long-polls, one per node, waits until all wait,
// then cancels them and waits until central has let them all go.
func (e *env) holdAndDrop(n, baseG int) {
	t := e.t
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for id := int64(1); id <= int64(n); id++ {
		c := e.client(id, "s")
		wg.Go(func() { c.Slivers(ctx, 1) })
	}
	waitFor(t, "1,000 waiters", func() bool { return e.hub.Waiters() == n })
	if g := runtime.NumGoroutine(); g < baseG+n {
		t.Fatalf("%d goroutines with 1,000 long-polls, started from %d", g, baseG)
	}
	cancel()
	wg.Wait()
	waitFor(t, "waiters gone", func() bool { return e.hub.Waiters() == 0 })
	e.hc.CloseIdleConnections()
	waitFor(t, "goroutines back", func() bool { return runtime.NumGoroutine() <= baseG+10 })
}

// watchSource is a FakeSource that is a Watcher: each send on changes is a
// change another central process committed; a send on fail ends the
// watch with an error.
type watchSource struct {
	*FakeSource
	changes chan struct{}
	fail    chan error
	watches chan struct{} // one send per WatchNodes call
}

func (w *watchSource) WatchNodes(ctx context.Context, changed func()) error {
	w.watches <- struct{}{}
	changed()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-w.fail:
			return err
		case <-w.changes:
			changed()
		}
	}
}

// TestWatchWakesWaiterBeforePoll checks that a change another process
// committed, announced through the source's watch, wakes the node's
// waiter at once, not at the next timed poll; and that after the watch
// fails the Hub watches again.
func TestWatchWakesWaiterBeforePoll(t *testing.T) {
	src := &watchSource{FakeSource: NewFakeSource(), changes: make(chan struct{}), fail: make(chan error), watches: make(chan struct{}, 4)}
	src.AddNode(1, "s1")
	hub := NewHub(src, testutil.Logger(t))
	hub.interval = time.Hour // only the watch can start a poll
	ctx := testutil.Context(t)
	go hub.Run(ctx)
	<-src.watches

	for round := range 2 {
		v, err := src.Versions(ctx, []int64{1})
		if err != nil {
			t.Fatal(err)
		}
		woke := make(chan error, 1)
		go func() { _, err := hub.Wait(ctx, 1, v[1]); woke <- err }()
		waitFor(t, "a waiter", func() bool { return hub.Waiters() == 1 })
		src.SetSlivers(1, []api.Sliver{{Name: "s_a", SliceID: 1}}, true) // no Notify: another process's change
		start := time.Now()
		src.changes <- struct{}{}
		select {
		case err := <-woke:
			if err != nil {
				t.Fatalf("round %d: Wait: %v", round, err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("round %d: woken after %v, want at once", round, d)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("round %d: the watched change did not wake the waiter", round)
		}
		if round == 0 {
			src.fail <- errors.New("connection lost")
			select {
			case <-src.watches:
			case <-time.After(watchRetry + 5*time.Second):
				t.Fatal("the Hub did not watch again after the watch failed")
			}
		}
	}
}
