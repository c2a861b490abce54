package nodemgr

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// bindingsFromRecords is which slice each live rcap is bound to, worked
// out from the sliver records alone: the sliver that names the rcap and
// is not being destroyed.
func bindingsFromRecords(m *Manager) map[string]string {
	out := map[string]string{}
	for _, b := range m.sliverList() {
		if b.r != nil && b.s.State != sliverDestroying {
			out[b.r.Hash.id()] = b.s.Name
		}
	}
	return out
}

// bindingsIndexed is which slice each live rcap is bound to, as the
// operations see it.
func bindingsIndexed(m *Manager) map[string]string {
	out := map[string]string{}
	for _, r := range m.rcapList() {
		if name, ok := m.bindingOf(r.Hash); ok {
			out[r.Hash.id()] = name
		}
	}
	return out
}

// checkBindings fails t unless the bindings the operations see are the
// records' and, when want is not nil, want.
func checkBindings(t *testing.T, step string, m *Manager, want map[string]string) map[string]string {
	t.Helper()
	m.mu.Lock()
	got, records := bindingsIndexed(m), bindingsFromRecords(m)
	m.mu.Unlock()
	if !maps.Equal(got, records) {
		t.Errorf("%s: the bindings are %v, the records say %v", step, got, records)
	}
	if want != nil && !maps.Equal(got, want) {
		t.Errorf("%s: the bindings are %v, want %v", step, got, want)
	}
	return got
}

// TestBindingsFollowRecords: through acquire, bind, a rebind whose
// rollback cannot write its record, release, expiry and a restart, the
// rcap each slice is bound to is what the sliver records say.
func TestBindingsFollowRecords(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r1 := e.acquire(api.Rspec{CPUGuarantee: 10, End: soon, Privileges: sliverRights})
	r2 := e.acquire(api.Rspec{CPUGuarantee: 10, End: soon, Privileges: sliverRights})
	short := e.acquire(api.Rspec{CPUGuarantee: 10, End: t0.Unix() + 60, Privileges: sliverRights})
	checkBindings(t, "acquire", e.m, map[string]string{})
	e.bind("pl_a", r1)
	e.bind("pl_b", r2)
	e.bind("pl_short", short)
	checkBindings(t, "bind", e.m, nil)

	// Rebind pl_a to a new rcap; the runtime refuses the update and the
	// rollback cannot write the old record back: the record still names
	// the new rcap, and so must the binding.
	r3 := e.acquire(api.Rspec{CPUGuarantee: 10, End: soon, Privileges: sliverRights})
	dir := filepath.Join(e.stateDir, kindSliver)
	broken := false
	e.rt.SetHook(func(step, name string) {
		if step != "update:before" || broken {
			return
		}
		broken = true
		breakDir(t, dir)
	})
	e.rt.FailNext("update", errors.New("no"))
	if err := e.m.Bind(ctx, "pl_a", r3, api.BindAttrs{}); err == nil {
		t.Fatal("a bind whose update failed succeeded")
	}
	e.rt.SetHook(nil)
	mendDir(t, dir)
	checkBindings(t, "failed rebind", e.m, nil)

	if err := e.m.Release(ctx, r2); err != nil {
		t.Fatal(err)
	}
	checkBindings(t, "release", e.m, nil)

	e.clock.Advance(time.Minute)
	eventually(t, "the short rcap to expire", func() bool {
		_, err := e.m.Query(ctx, short)
		return errors.Is(err, ErrDenied)
	})
	before := checkBindings(t, "expiry", e.m, nil)
	if len(before) != 1 {
		t.Errorf("after expiry: bindings %v, want pl_a's alone", before)
	}

	e.reopen()
	checkBindings(t, "restart", e.m, before)
}

// breakDir moves dir aside and puts a file in its place, so writing a
// record in it fails, even for root; mendDir puts it back.
func breakDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Rename(dir, dir+".aside"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mendDir(t *testing.T, dir string) {
	t.Helper()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".aside", dir); err != nil {
		t.Fatal(err)
	}
}
