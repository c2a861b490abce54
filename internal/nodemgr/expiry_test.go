package nodemgr

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
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
