package sliver

import (
	"errors"
	"os"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/testutil"
)

// fairSets counts the Sets of the fair group among calls.
func fairSets(f *cgroup.Fake) int {
	n := 0
	for _, c := range f.Calls() {
		if c.Op == "set" && c.Name == fairGroup {
			n++
		}
	}
	return n
}

// TestFairWeight: the fair group's weight is written when the guarantees
// change it, not at every sliver's create; a failed write is tried again;
// a new manager counts the guarantees of the slivers already in its state
// directory, which it reads when it first needs them.
func TestFairWeight(t *testing.T) {
	state := t.TempDir()
	newMgr := func() (*Manager, *cgroup.Fake) {
		cg := cgroup.NewFake()
		m, err := NewManager(Options{StateDir: state, Cgroups: cg, Fair: cgroup.NewFake(), NumCPU: 1, Log: testutil.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return m, cg
	}
	m, cg := newMgr()
	set := func(m *Manager, name string, guarantee int64) {
		t.Helper()
		s := Spec{Name: name, UIDBase: 100000, UIDCount: 65536, Rspec: api.Rspec{CPUShares: 1, CPUGuarantee: guarantee}}
		if err := os.MkdirAll(m.dir(name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := m.writeSpec(s); err != nil {
			t.Fatal(err)
		}
		if err := m.setCgroups(t.Context(), s); err != nil {
			t.Fatalf("set cgroups of %s: %v", name, err)
		}
	}
	weight := func(cg *cgroup.Fake) int64 {
		r, _ := cg.Resources(fairGroup)
		return r.CPUWeight
	}
	set(m, "pl_a", 0)
	set(m, "pl_b", 0)
	set(m, "pl_c", 0)
	if n, w := fairSets(cg), weight(cg); n != 1 || w != 100 {
		t.Errorf("three best-effort slivers: %d writes of the fair weight, weight %d; want 1, 100", n, w)
	}
	set(m, "pl_g", 300)
	if n, w := fairSets(cg), weight(cg); n != 2 || w != 70 {
		t.Errorf("a guarantee of 300: %d writes, weight %d; want 2, 70", n, w)
	}
	cg.FailNext("set", errors.New("injected"))
	s := Spec{Name: "pl_g", UIDBase: 100000, UIDCount: 65536, Rspec: api.Rspec{CPUShares: 1, CPUGuarantee: 500}}
	if err := m.setCgroups(t.Context(), s); err == nil {
		t.Fatal("a failed write of the fair weight was not reported")
	}
	set(m, "pl_g", 500)
	if w := weight(cg); w != 50 {
		t.Errorf("after a failed write, the next set left the weight at %d, want 50", w)
	}

	m2, cg2 := newMgr()
	set(m2, "pl_d", 0)
	if w := weight(cg2); w != 50 {
		t.Errorf("a new manager over slivers holding 500: fair weight %d, want 50", w)
	}
}
