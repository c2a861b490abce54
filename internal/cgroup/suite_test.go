package cgroup

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"
)

// testProc is a process the suite may move between cgroups.
type testProc struct {
	pid int
	// dead, if set, reports whether the process has died; the fake kills
	// nothing, so it has none.
	dead func() bool
}

// testManagerSuite is what every Manager must do, the Fake included.
// newProc starts (or invents) a process that lives until the test ends.
func testManagerSuite(t *testing.T, m Manager, newProc func(t *testing.T) testProc) {
	t.Run("bad names", func(t *testing.T) { suiteBadNames(t, m) })
	t.Run("round trip", func(t *testing.T) { suiteRoundTrip(t, m, newProc(t)) })
	t.Run("bad resources create nothing", func(t *testing.T) { suiteBadResources(t, m) })
	t.Run("missing controllers refused", func(t *testing.T) { suiteUnsupported(t, m) })
	t.Run("missing cgroup", func(t *testing.T) { suiteMissing(t, m) })
}

func suiteBadNames(t *testing.T, m Manager) {
	ctx := context.Background()
	for _, name := range []string{"", "..", "a/b", "../x", ".hidden", "-dash", "a b"} {
		errs := map[string]error{"Set": m.Set(name, Resources{}), "Enter": m.Enter(name, 1),
			"Kill": m.Kill(ctx, name), "Remove": m.Remove(ctx, name)}
		_, errs["Procs"] = m.Procs(name)
		_, errs["Stats"] = m.Stats(name)
		for op, err := range errs {
			if err == nil {
				t.Errorf("%s(%q) succeeded", op, name)
			}
		}
	}
}

// suiteResources uses every controller m offers.
func suiteResources(m Manager) Resources {
	var r Resources
	for _, c := range m.Controllers() {
		switch c {
		case "cpu":
			r.CPUWeight, r.CPUQuota = 2, 200000
		case "memory":
			r.MemoryMax, r.MemoryLow = 256<<20, 1<<20
		case "pids":
			r.PidsMax = 100
		}
	}
	return r
}

func suiteRoundTrip(t *testing.T, m Manager, p testProc) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const name = "orbistest-trip"
	r := suiteResources(m)
	for range 2 { // Set is safe to call again
		if err := m.Set(name, r); err != nil {
			t.Fatalf("Set: %v", err)
		}
	}
	if names, err := m.List(); err != nil || !slices.Contains(names, name) {
		t.Errorf("List = %v, %v; want it to hold %s", names, err, name)
	}
	if up := m.UnifiedPath(name); !strings.HasSuffix(up, "/"+name) {
		t.Errorf("UnifiedPath = %q, want a path ending in /%s", up, name)
	}
	if err := m.Enter(name, p.pid); err != nil {
		t.Fatalf("Enter: %v", err)
	}
	if procs, err := m.Procs(name); err != nil || !slices.Equal(procs, []int{p.pid}) {
		t.Errorf("Procs = %v, %v; want [%d]", procs, err, p.pid)
	}
	if st, err := m.Stats(name); err != nil || st.Pids < 1 {
		t.Errorf("Stats = %+v, %v; want Pids >= 1", st, err)
	}
	if err := m.Kill(ctx, name); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if procs, err := m.Procs(name); err != nil || len(procs) != 0 {
		t.Errorf("Procs after Kill = %v, %v; want none", procs, err)
	}
	if p.dead != nil && !p.dead() {
		t.Errorf("process %d alive after Kill", p.pid)
	}
	for range 2 { // Remove of a removed cgroup is no error
		if err := m.Remove(ctx, name); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if names, err := m.List(); err != nil || slices.Contains(names, name) {
		t.Errorf("List after Remove = %v, %v; want no %s", names, err, name)
	}
}

func suiteBadResources(t *testing.T, m Manager) {
	const name = "orbistest-bad"
	if err := m.Set(name, Resources{CPUQuota: 10}); err == nil {
		t.Error("Set with a 10 µs quota succeeded")
	}
	if names, _ := m.List(); slices.Contains(names, name) {
		t.Errorf("a refused Set left cgroup %s behind", name)
	}
}

func suiteUnsupported(t *testing.T, m Manager) {
	const name = "orbistest-unsup"
	needs := map[string]Resources{"cpu": {CPUWeight: 3}, "cpuset": {CPUSet: "0"},
		"memory": {MemoryMax: 1 << 30}, "pids": {PidsMax: 10}}
	for c, r := range needs {
		if slices.Contains(m.Controllers(), c) {
			continue
		}
		if err := m.Set(name, r); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Set needing missing controller %s = %v, want ErrUnsupported", c, err)
		}
	}
	if names, _ := m.List(); slices.Contains(names, name) {
		t.Errorf("a refused Set left cgroup %s behind", name)
	}
}

func suiteMissing(t *testing.T, m Manager) {
	const name = "orbistest-never"
	if err := m.Enter(name, 1); err == nil {
		t.Error("Enter into a missing cgroup succeeded")
	}
	if _, err := m.Procs(name); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Procs of a missing cgroup = %v, want ErrNotExist", err)
	}
	if _, err := m.Stats(name); err == nil {
		t.Error("Stats of a missing cgroup succeeded")
	}
	if err := m.Kill(context.Background(), name); err != nil {
		t.Errorf("Kill of a missing cgroup = %v, want nil", err)
	}
	if err := m.Remove(context.Background(), name); err != nil {
		t.Errorf("Remove of a missing cgroup = %v, want nil", err)
	}
}

func TestFakeSuite(t *testing.T) {
	newProc := func(*testing.T) testProc { return testProc{pid: 4242} }
	t.Run("all controllers", func(t *testing.T) { testManagerSuite(t, NewFake(), newProc) })
	t.Run("no controllers", func(t *testing.T) {
		f := NewFake()
		f.SetControllers()
		testManagerSuite(t, f, newProc)
	})
}

func TestFakeRecords(t *testing.T) {
	f := NewFake()
	r := Resources{CPUWeight: 4, MemoryMax: 1 << 30}
	if err := f.Set("s1", r); err != nil {
		t.Fatal(err)
	}
	if err := f.Enter("s1", 7); err != nil {
		t.Fatal(err)
	}
	if err := f.Kill(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	want := []FakeCall{{Op: "set", Name: "s1", Resources: r}, {Op: "enter", Name: "s1", Pid: 7}, {Op: "kill", Name: "s1"}}
	if got := f.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls = %+v, want %+v", got, want)
	}
	if got, ok := f.Resources("s1"); !ok || got != r {
		t.Errorf("Resources = %+v, %v", got, ok)
	}
	boom := errors.New("boom")
	f.FailNext("set", boom)
	if err := f.Set("s1", Resources{}); !errors.Is(err, boom) {
		t.Errorf("Set after FailNext = %v, want boom", err)
	}
	if got, _ := f.Resources("s1"); got != r {
		t.Errorf("a failed Set changed Resources to %+v", got)
	}
}
