package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// execAt times `orbis sliver exec NAME -- /bin/true` on a node holding n
// slivers, idle (their boot scripts have exited), so that each exec
// starts the sliver's init: a command outside the agent must cost the
// same on a full node as on an empty one.
func (a *agent) execAt(ctx context.Context, n, runs int) error {
	for i := range n {
		if err := a.apiCreate(ctx, fmt.Sprintf("idle_s%d", i), "/bin/true"); err != nil {
			return fmt.Errorf("after %d slivers: %w", i, err)
		}
		if (i+1)%50 == 0 {
			fmt.Fprintf(os.Stderr, "\r%d/%d idle slivers", i+1, n)
		}
	}
	fmt.Fprintln(os.Stderr)
	var times []time.Duration
	for i := range runs {
		t0 := time.Now()
		if err := a.cliExec(ctx, fmt.Sprintf("idle_s%d", i%n)); err != nil {
			return err
		}
		times = append(times, time.Since(t0))
	}
	fmt.Printf("\n`orbis sliver exec` on a node of %d slivers, %d runs:\n\n", n, runs)
	table([]string{"slivers", "p50", "p90"}, [][]string{{fmt.Sprint(n), ms(pct(times, 50)), ms(pct(times, 90))}})
	return nil
}
