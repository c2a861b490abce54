package audit

import (
	"context"
	"sync"

	"github.com/orbisproject/orbis/internal/sniff"
)

// Packet is one outgoing packet of the administrative sniffer stream.
type Packet = sniff.Packet

// The node's stream is a Source.
var _ Source = (*sniff.Stream)(nil)

// Source is the administrative sniffer stream, as *sniff.Stream provides
// it: Subscribe delivers every outgoing packet on the channel until ctx is
// done (then closes it), and dropped tells how many packets the stream had
// to drop for this subscriber so far.
type Source interface {
	Subscribe(ctx context.Context, buffer int) (<-chan Packet, func() (dropped uint64))
}

// FakeSource is a Source fed by hand, for tests: Send delivers a packet to
// every subscriber, and Drop counts packets as dropped by the stream.
type FakeSource struct {
	// mu guards the following.
	mu      sync.Mutex
	subs    []chan Packet
	dropped uint64
	wait    chan struct{} // closed at the first subscription
}

// NewFakeSource returns a FakeSource without subscribers.
func NewFakeSource() *FakeSource {
	return &FakeSource{wait: make(chan struct{})}
}

// Subscribe implements Source.
func (f *FakeSource) Subscribe(ctx context.Context, buffer int) (<-chan Packet, func() uint64) {
	ch := make(chan Packet, buffer)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	if len(f.subs) == 1 {
		close(f.wait)
	}
	f.mu.Unlock()
	return ch, func() uint64 {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.dropped
	}
}

// Subscribed returns a channel closed once someone has subscribed.
func (f *FakeSource) Subscribed() <-chan struct{} { return f.wait }

// Send delivers p to every subscriber, waiting while their buffers are full.
func (f *FakeSource) Send(p Packet) {
	f.mu.Lock()
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		ch <- p
	}
}

// Drop counts n packets as dropped by the stream.
func (f *FakeSource) Drop(n uint64) {
	f.mu.Lock()
	f.dropped += n
	f.mu.Unlock()
}

// Close closes every subscriber's channel.
func (f *FakeSource) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ch := range f.subs {
		close(ch)
	}
	f.subs = nil
}
