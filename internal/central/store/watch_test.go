package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
)

// testWatchNodes opens the database twice, as two central processes do,
// and checks that a BumpNodes committed through one reaches a WatchNodes
// of the other within a second, every time, and that a watch ends with
// its context.
func testWatchNodes(t *testing.T, b backend) {
	dsn, dir := b.fresh(t)
	one, two := open(t, dsn, dir), open(t, dsn, dir)
	f := seed(t, one, "wa")

	ctx, cancel := context.WithCancel(context.Background())
	calls := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- two.WatchNodes(ctx, func() {
			select {
			case calls <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-calls: // watching
	case err := <-done:
		t.Fatalf("WatchNodes ended at once: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("WatchNodes did not start watching within 10 s")
	}
	for round := range 3 {
		drain(calls)
		start := time.Now()
		update(t, one, func(tx store.Tx) error { return tx.BumpNodes([]int64{f.nodes[0].NodeID}) })
		select {
		case <-calls:
			t.Logf("round %d: watch saw the other store's bump after %v", round, time.Since(start))
		case err := <-done:
			t.Fatalf("WatchNodes ended: %v", err)
		case <-time.After(time.Second):
			t.Fatalf("round %d: a bump committed through one store did not reach the other's watch within 1 s", round)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Fatalf("WatchNodes after cancel = %v, want context.Canceled", err)
		}
		done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("WatchNodes did not end with its context")
	}
}

func drain(c chan struct{}) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
