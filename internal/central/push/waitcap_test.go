package push

import (
	"errors"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestNodeCannotPileUpWaits: whoever holds a node's key opens many
// long-polls at once. The hub holds at most MaxWaitsPerNode of them; each
// further one replaces the oldest, which answers at once as unchanged.
// Another node's long-poll is unhurt and still wakes on its change.
func TestNodeCannotPileUpWaits(t *testing.T) {
	e := newEnv(t, Options{LongPoll: 20 * time.Second})
	e.src.AddNode(1, "attacker")
	e.src.AddNode(2, "victim")
	ctx := testutil.Context(t)

	victim := make(chan api.Slivers, 1)
	go func() {
		l, err := e.client(2, "victim").Slivers(ctx, 1)
		if err != nil {
			t.Error(err)
		}
		victim <- l
	}()
	waitFor(t, "the victim's long-poll", func() bool { return e.hub.Waiters() == 1 })

	const opened = 10
	type answer struct {
		took    time.Duration
		version int64
		err     error
	}
	answered := make(chan answer, opened)
	attacker := e.client(1, "attacker")
	for i := range opened {
		go func() {
			start := time.Now()
			l, err := attacker.Slivers(ctx, 1)
			answered <- answer{time.Since(start), l.Version, err}
		}()
		// One after another, so each finds the ones before waiting.
		waitFor(t, "the attacker's long-poll", func() bool {
			return e.hub.Waiters() == 1+min(i+1, MaxWaitsPerNode)
		})
	}
	for range opened - MaxWaitsPerNode {
		if a := <-answered; a.err != nil || a.version != 1 || a.took > 5*time.Second {
			t.Errorf("a replaced long-poll answered after %v: version %d, %v", a.took, a.version, a.err)
		}
	}
	if n := e.hub.Waiters(); n > 1+MaxWaitsPerNode {
		t.Errorf("%d requests wait; want at most %d of the attacker's and the victim's", n, MaxWaitsPerNode)
	}

	e.src.SetSlivers(2, []api.Sliver{{Name: "pl_a"}}, false)
	select {
	case l := <-victim:
		if l.Version != 2 || len(l.Slivers) != 1 {
			t.Errorf("the victim got %+v", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the victim's long-poll did not wake on its change")
	}
	// The attacker's last ones still wait, and wake on its own change.
	e.src.SetSlivers(1, nil, false)
	for range MaxWaitsPerNode {
		if a := <-answered; a.err != nil || a.version != 2 {
			t.Errorf("a kept long-poll answered version %d, %v", a.version, a.err)
		}
	}
}

// TestWaitReplacedOldest: the node's oldest wait is the one replaced, and
// it says so.
func TestWaitReplacedOldest(t *testing.T) {
	hub := NewHub(NewFakeSource(), testutil.Logger(t))
	ctx := testutil.Context(t)
	errs := make([]chan error, MaxWaitsPerNode+1)
	for i := range errs {
		errs[i] = make(chan error, 1)
		go func() {
			_, err := hub.Wait(ctx, 1, 1)
			errs[i] <- err
		}()
		waitFor(t, "the wait", func() bool {
			return hub.Waiters() == min(i+1, MaxWaitsPerNode) && (i < MaxWaitsPerNode || len(errs[0]) == 1)
		})
	}
	if err := <-errs[0]; !errors.Is(err, ErrReplaced) {
		t.Errorf("the oldest wait returned %v, want ErrReplaced", err)
	}
	for _, ch := range errs[1:] {
		select {
		case err := <-ch:
			t.Errorf("a newer wait returned %v", err)
		default:
		}
	}
	hub.Notify([]int64{1})
	for _, ch := range errs[1:] {
		if err := <-ch; err != nil {
			t.Errorf("a newer wait, notified: %v", err)
		}
	}
	if n := hub.Waiters(); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}
