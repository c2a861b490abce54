package netfilter

import (
	"context"
	"sync"
)

// Fake is an in-memory Interface for other packages' tests: it records the
// slivers set and lets the test move their counters.
type Fake struct {
	// mu guards the following.
	mu       sync.Mutex
	slivers  map[string]Sliver
	counters map[string]Counters
}

var _ Interface = (*Fake)(nil)

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{slivers: map[string]Sliver{}, counters: map[string]Counters{}}
}

// Set records s; its counters are kept.
func (f *Fake) Set(ctx context.Context, s Sliver) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slivers[s.Name] = s
	if _, ok := f.counters[s.Name]; !ok {
		f.counters[s.Name] = Counters{}
	}
	return nil
}

// SocketMark returns the mark of a set sliver, as Tagger.SocketMark.
func (f *Fake) SocketMark(name string) (uint32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.slivers[name]
	return SocketMark(s.Index), ok
}

// Remove forgets name and its counters.
func (f *Fake) Remove(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.slivers, name)
	delete(f.counters, name)
	return nil
}

// Counters returns a copy of the counters.
func (f *Fake) Counters(ctx context.Context) (map[string]Counters, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Counters, len(f.counters))
	for k, v := range f.counters {
		out[k] = v
	}
	return out, nil
}

// AddTx adds sent bytes (one packet per call) to a set sliver's counters.
func (f *Fake) AddTx(name string, bytes uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.counters[name]; ok {
		c.TxBytes += bytes
		c.TxPackets++
		f.counters[name] = c
	}
}

// Slivers returns the slivers set, by name.
func (f *Fake) Slivers() map[string]Sliver {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]Sliver, len(f.slivers))
	for k, v := range f.slivers {
		out[k] = v
	}
	return out
}

// Close forgets everything.
func (f *Fake) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.slivers)
	clear(f.counters)
	return nil
}
