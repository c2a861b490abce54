package sensor

import (
	"context"
	"sync"
)

// FakeEvents is an Events source for tests: Push delivers an event to
// every subscriber, dropping it for one whose buffer is full.
type FakeEvents struct {
	// mu guards the following.
	mu   sync.Mutex
	subs map[chan ConnectEvent]struct{}
}

// fakeEventsBuffer is a subscriber's buffer.
const fakeEventsBuffer = 256

// Subscribe implements Events.
func (f *FakeEvents) Subscribe(ctx context.Context) (<-chan ConnectEvent, error) {
	ch := make(chan ConnectEvent, fakeEventsBuffer)
	f.mu.Lock()
	if f.subs == nil {
		f.subs = map[chan ConnectEvent]struct{}{}
	}
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subs, ch)
		close(ch)
		f.mu.Unlock()
	}()
	return ch, nil
}

// Subscribers returns how many subscriptions are live.
func (f *FakeEvents) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Push delivers ev to every subscriber without waiting.
func (f *FakeEvents) Push(ev ConnectEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch := range f.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}
