package cgroup

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"sync"
)

// Fake is an in-memory Manager for the tests of packages that use one. It
// enforces nothing and touches no process: it checks names and Resources
// as the real Manager does, keeps each cgroup's Resources and entered
// pids, and records every call that changes something.
type Fake struct {
	// mu guards the following.
	mu      sync.Mutex
	groups  map[string]*fakeGroup
	calls   []FakeCall
	ctrls   []string
	failErr map[string]error // op -> error its next call returns
}

type fakeGroup struct {
	res   Resources
	procs []int
	stats *Stats
}

// A FakeCall is one recorded call to a Fake.
type FakeCall struct {
	Op        string // "set", "enter", "kill" or "remove"
	Name      string
	Pid       int       // for "enter"
	Resources Resources // for "set"
}

// NewFake returns an empty Fake that offers every controller.
func NewFake() *Fake {
	return &Fake{groups: map[string]*fakeGroup{}, ctrls: slices.Clone(v2Controllers), failErr: map[string]error{}}
}

// SetControllers makes the Fake offer only ctrls, as a node missing the
// others would: Set then refuses Resources that need them.
func (f *Fake) SetControllers(ctrls ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctrls = slices.Clone(ctrls)
}

// FailNext makes the next call of op ("set", "enter", "kill", "remove")
// return err without doing anything.
func (f *Fake) FailNext(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failErr[op] = err
}

// Calls returns the calls recorded so far, oldest first.
func (f *Fake) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Resources returns what the last Set of name applied, and whether the
// cgroup exists.
func (f *Fake) Resources(name string) (Resources, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return Resources{}, false
	}
	return g.res, true
}

// SetStats makes Stats of an existing cgroup return st.
func (f *Fake) SetStats(name string, st Stats) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return fmt.Errorf("fake cgroup %s: %w", name, fs.ErrNotExist)
	}
	g.stats = &st
	return nil
}

// recordLocked records a call and returns the error planted for its op.
func (f *Fake) recordLocked(c FakeCall) error {
	if err := f.failErr[c.Op]; err != nil {
		delete(f.failErr, c.Op)
		return err
	}
	f.calls = append(f.calls, c)
	return nil
}

// Mode implements Manager.
func (f *Fake) Mode() string { return "fake" }

// Controllers implements Manager.
func (f *Fake) Controllers() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ctrls)
}

// Set implements Manager.
func (f *Fake) Set(name string, r Resources) error {
	if err := ValidName(name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("set cgroup %s: %w", name, err)
	}
	if err := r.checkSupported(f.ctrls); err != nil {
		return fmt.Errorf("set cgroup %s: %w", name, err)
	}
	if err := f.recordLocked(FakeCall{Op: "set", Name: name, Resources: r}); err != nil {
		return err
	}
	g, ok := f.groups[name]
	if !ok {
		g = &fakeGroup{}
		f.groups[name] = g
	}
	g.res = r
	return nil
}

// Enter implements Manager.
func (f *Fake) Enter(name string, pid int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if pid <= 0 {
		return fmt.Errorf("enter cgroup %s: bad pid %d", name, pid)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return fmt.Errorf("enter cgroup %s: %w", name, fs.ErrNotExist)
	}
	if err := f.recordLocked(FakeCall{Op: "enter", Name: name, Pid: pid}); err != nil {
		return err
	}
	for _, other := range f.groups { // a process is in one cgroup at a time
		other.procs = slices.DeleteFunc(other.procs, func(p int) bool { return p == pid })
	}
	g.procs = append(g.procs, pid)
	sort.Ints(g.procs)
	return nil
}

// Procs implements Manager.
func (f *Fake) Procs(name string) ([]int, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return nil, fmt.Errorf("list processes of cgroup %s: %w", name, fs.ErrNotExist)
	}
	return append([]int{}, g.procs...), nil
}

// Stats implements Manager: what SetStats planted, else only Pids.
func (f *Fake) Stats(name string) (Stats, error) {
	if err := ValidName(name); err != nil {
		return Stats{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.groups[name]
	if !ok {
		return Stats{}, fmt.Errorf("stats of cgroup %s: %w", name, fs.ErrNotExist)
	}
	if g.stats != nil {
		return *g.stats, nil
	}
	return Stats{Pids: int64(len(g.procs))}, nil
}

// Kill implements Manager: it forgets the cgroup's processes.
func (f *Fake) Kill(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.recordLocked(FakeCall{Op: "kill", Name: name}); err != nil {
		return err
	}
	if g, ok := f.groups[name]; ok {
		g.procs = nil
	}
	return nil
}

// Remove implements Manager.
func (f *Fake) Remove(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.recordLocked(FakeCall{Op: "remove", Name: name}); err != nil {
		return err
	}
	delete(f.groups, name)
	return nil
}

// List implements Manager.
func (f *Fake) List() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.groups))
	for n := range f.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// UnifiedPath implements Manager with a path that exists nowhere.
func (f *Fake) UnifiedPath(name string) string { return "/nonexistent/orbis-fake-cgroup/" + name }
