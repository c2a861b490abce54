package nodemgr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/sliver"
)

// TestRuntimeFailures checks that a failing runtime step rolls a bind
// back, that a failed destroy keeps the UID range and is retried, and that
// Open destroys slivers no record owns.
func TestRuntimeFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc := e.acquire(api.Rspec{Privileges: sliverRights})
	e.rt.FailNext("start", errors.New("boom"))
	err := e.m.Bind(ctx, "orbistest_a", rc, api.BindAttrs{})
	if err == nil {
		t.Fatal("bind succeeded though start failed")
	}
	if _, ok := e.rt.Sliver("orbistest_a"); ok {
		t.Fatal("sliver left after a failed bind")
	}
	if q, _ := e.m.Query(ctx, rc); q.Slice != "" {
		t.Fatalf("rcap bound after a failed bind: %q", q.Slice)
	}
	e.bind("orbistest_a", rc)
	if s, _ := e.rt.Sliver("orbistest_a"); s.Spec.UIDBase != 100000 {
		t.Fatalf("uid base %d after rollback, want 100000 again", s.Spec.UIDBase)
	}

	// A failed destroy keeps the sliver's range until a retry succeeds.
	e.rt.FailNext("destroy", errors.New("busy mount"))
	if err := e.m.Release(ctx, rc); err == nil {
		t.Fatal("release hid a failed destroy")
	}
	rc2 := e.acquire(api.Rspec{Privileges: sliverRights})
	e.bind("orbistest_b", rc2)
	if s, _ := e.rt.Sliver("orbistest_b"); s.Spec.UIDBase != 100000+65536 {
		t.Fatalf("uid base %d handed out while the old sliver still exists", s.Spec.UIDBase)
	}
	e.clock.Advance(retryDelay)
	eventually(t, "the destroy to be retried", func() bool {
		_, ok := e.rt.Sliver("orbistest_a")
		return !ok
	})

	// An orphan in the runtime is destroyed at Open.
	e.rt.Create(ctx, sliver.Spec{Name: "orbistest_orphan"})
	e.reopen()
	if _, ok := e.rt.Sliver("orbistest_orphan"); ok {
		t.Fatal("orphan sliver survived Open")
	}
	if s, ok := e.rt.Sliver("orbistest_b"); !ok || s.State != sliver.StateRunning {
		t.Fatalf("owned sliver after Open: %+v, %v", s, ok)
	}
}

// TestConcurrentCalls runs binds, splits and releases at once (run with
// -race) and checks the totals.
func TestConcurrentCalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			defer func() { done <- err }()
			rc, err := e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 100, Privileges: sliverRights})
			if err != nil {
				return
			}
			slice := fmt.Sprintf("orbistest_c%d", i)
			if err = e.m.Bind(ctx, slice, rc, api.BindAttrs{}); err != nil {
				return
			}
			if _, err = e.m.Split(ctx, rc, api.Rspec{CPUGuarantee: 50}); err != nil {
				return
			}
			if i%2 == 0 {
				err = e.m.Release(ctx, rc)
			}
		}()
	}
	timeout := time.After(10 * time.Second)
	for range 8 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("calls hung")
		}
	}
	l, _ := e.m.List(ctx)
	var cpu int64
	for _, r := range l.Rcaps {
		cpu += r.Rspec.CPUGuarantee
	}
	if cpu != 4*100+4*50 || len(l.Slivers) != 4 {
		t.Fatalf("cpu %d, slivers %d; want 600 and 4", cpu, len(l.Slivers))
	}
}
