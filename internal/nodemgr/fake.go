package nodemgr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// FakeRuntime is a Runtime that keeps slivers as records, in memory or in
// a directory (so that a test can kill the process using it and look at
// what it left). It records every call, can be told to fail the next call
// of a step, and calls a hook before and after each step so that a test
// can block or crash there.
type FakeRuntime struct {
	dir string

	// mu guards the following.
	mu      sync.Mutex
	slivers map[string]*FakeSliver
	calls   []string
	fail    map[string]error
	hook    func(step, name string)
}

// FakeSliver is one sliver of a FakeRuntime.
type FakeSliver struct {
	Spec  api.SliverSpec  `json:"spec"`
	State api.SliverState `json:"state"`
}

var _ Runtime = (*FakeRuntime)(nil)

// NewFakeRuntime returns a FakeRuntime that keeps its slivers in dir, one
// file each, and loads those already there; "" keeps them in memory.
func NewFakeRuntime(dir string) (*FakeRuntime, error) {
	f := &FakeRuntime{dir: dir, slivers: map[string]*FakeSliver{}, fail: map[string]error{}}
	if dir == "" {
		return f, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("fake runtime: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("fake runtime: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || atomicfile.IsTemp(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("fake runtime: %w", err)
		}
		var s FakeSliver
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("fake runtime: sliver %s: %w", name, err)
		}
		f.slivers[name] = &s
	}
	return f, nil
}

// FailNext makes the next call of step ("create", "update", "start",
// "stop", "destroy", "status", "list") fail with err.
func (f *FakeRuntime) FailNext(step string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[step] = err
}

// SetHook makes every step call fn(step+":before", name) before it acts and
// fn(step+":after", name) after it succeeded. fn runs without f's lock
// held; it may block.
func (f *FakeRuntime) SetHook(fn func(step, name string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = fn
}

// Calls returns the calls made so far, as "step name".
func (f *FakeRuntime) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// Sliver returns the sliver name, if it exists.
func (f *FakeRuntime) Sliver(name string) (FakeSliver, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.slivers[name]
	if !ok {
		return FakeSliver{}, false
	}
	return *s, true
}

// step runs one call: the hook, a failure if one is set, then act under
// the lock, then the hook again.
func (f *FakeRuntime) step(step, name string, act func() error) error {
	f.mu.Lock()
	f.calls = append(f.calls, step+" "+name)
	hook := f.hook
	err, failing := f.fail[step]
	delete(f.fail, step)
	f.mu.Unlock()
	if hook != nil {
		hook(step+":before", name)
	}
	if failing {
		return fmt.Errorf("fake %s %s: %w", step, name, err)
	}
	f.mu.Lock()
	err = act()
	f.mu.Unlock()
	if err == nil && hook != nil {
		hook(step+":after", name)
	}
	return err
}

// saveLocked writes sliver name to the directory, or removes it if gone.
func (f *FakeRuntime) saveLocked(name string) error {
	if f.dir == "" {
		return nil
	}
	path := filepath.Join(f.dir, name+".json")
	s, ok := f.slivers[name]
	if !ok {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

func (f *FakeRuntime) existingLocked(name string) (*FakeSliver, error) {
	s, ok := f.slivers[name]
	if !ok {
		return nil, fmt.Errorf("fake runtime: no sliver %s", name)
	}
	return s, nil
}

// Create makes the sliver, or updates the spec of one that exists.
func (f *FakeRuntime) Create(ctx context.Context, spec api.SliverSpec) error {
	return f.step("create", spec.Name, func() error {
		if s, ok := f.slivers[spec.Name]; ok {
			s.Spec = spec
		} else {
			f.slivers[spec.Name] = &FakeSliver{Spec: spec, State: api.SliverCreated}
		}
		return f.saveLocked(spec.Name)
	})
}

// Update replaces an existing sliver's spec.
func (f *FakeRuntime) Update(ctx context.Context, spec api.SliverSpec) error {
	return f.step("update", spec.Name, func() error {
		s, err := f.existingLocked(spec.Name)
		if err != nil {
			return err
		}
		s.Spec = spec
		return f.saveLocked(spec.Name)
	})
}

// Start marks the sliver running.
func (f *FakeRuntime) Start(ctx context.Context, name string) error {
	return f.setState("start", name, api.SliverRunning)
}

// Stop marks the sliver stopped.
func (f *FakeRuntime) Stop(ctx context.Context, name string) error {
	return f.setState("stop", name, api.SliverStopped)
}

func (f *FakeRuntime) setState(step, name string, st api.SliverState) error {
	return f.step(step, name, func() error {
		s, err := f.existingLocked(name)
		if err != nil {
			return err
		}
		s.State = st
		return f.saveLocked(name)
	})
}

// Destroy removes the sliver; a missing one is no error.
func (f *FakeRuntime) Destroy(ctx context.Context, name string) error {
	return f.step("destroy", name, func() error {
		delete(f.slivers, name)
		return f.saveLocked(name)
	})
}

// Status reports the sliver's state.
func (f *FakeRuntime) Status(ctx context.Context, name string) (api.SliverStatus, error) {
	var st api.SliverStatus
	err := f.step("status", name, func() error {
		s, err := f.existingLocked(name)
		if err != nil {
			return err
		}
		st = api.SliverStatus{Name: name, State: s.State}
		if s.State == api.SliverRunning {
			st.Procs = 1
		}
		return nil
	})
	return st, err
}

// List names every sliver.
func (f *FakeRuntime) List(ctx context.Context) ([]string, error) {
	var names []string
	err := f.step("list", "", func() error {
		for n := range f.slivers {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil
	})
	return names, err
}
