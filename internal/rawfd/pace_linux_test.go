package rawfd

import (
	"context"
	"testing"
	"time"
)

// TestPacer: a burst of rate events passes at once, the next ones at the
// rate.
func TestPacer(t *testing.T) {
	p := newPacer(50)
	t0 := time.Now()
	for range 50 {
		p.wait(context.Background())
	}
	if d := time.Since(t0); d > 50*time.Millisecond {
		t.Fatalf("a burst of 50 at 50/s took %v", d)
	}
	t0 = time.Now()
	for range 5 {
		p.wait(context.Background())
	}
	if d := time.Since(t0); d < 60*time.Millisecond {
		t.Fatalf("5 past the burst at 50/s took %v, want about 100ms", d)
	}
	// At 1/s the wait past the burst is a second long: a slow machine
	// does not reach its end before the check.
	q := newPacer(1)
	q.wait(context.Background())
	q.wait(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if q.wait(ctx) {
		t.Fatal("wait past the burst with a done context went on")
	}
}
