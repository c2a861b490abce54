package sensor

import (
	"context"
	"sync"
	"time"
)

// cache keeps the last answer of an expensive source. Requests that find
// no fresh enough answer share one fetch: at most one is under way at a
// time, whatever the clients ask, so clients cannot make the node hammer
// the source.
type cache[T any] struct {
	fetch   func(ctx context.Context) (T, error)
	timeout time.Duration

	// mu guards the following.
	mu   sync.Mutex
	val  T
	at   time.Time // when val was fetched; zero: no value yet
	call *fetchCall[T]
}

// fetchCall is one fetch under way.
type fetchCall[T any] struct {
	done chan struct{}
	val  T
	at   time.Time
	err  error
}

func newCache[T any](fetch func(ctx context.Context) (T, error), timeout time.Duration) *cache[T] {
	return &cache[T]{fetch: fetch, timeout: timeout}
}

// get returns a value no older than maxAge and its age, fetching one (or
// joining the fetch under way) if the cached one is older. When the fetch
// fails and stale is true, it returns the older value rather than the
// error.
func (c *cache[T]) get(ctx context.Context, maxAge time.Duration, stale bool) (T, time.Duration, error) {
	c.mu.Lock()
	if !c.at.IsZero() && time.Since(c.at) <= maxAge {
		v, age := c.val, time.Since(c.at)
		c.mu.Unlock()
		return v, age, nil
	}
	call := c.call
	if call == nil {
		call = &fetchCall[T]{done: make(chan struct{})}
		c.call = call
		go c.run(context.WithoutCancel(ctx), call)
	}
	c.mu.Unlock()
	select {
	case <-ctx.Done():
		var zero T
		return zero, 0, ctx.Err()
	case <-call.done:
	}
	if call.err == nil {
		return call.val, time.Since(call.at), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if stale && !c.at.IsZero() {
		return c.val, time.Since(c.at), nil
	}
	return call.val, 0, call.err
}

// run fetches, under its own timeout, so that a client going away does
// not fail the others waiting for the same fetch.
func (c *cache[T]) run(ctx context.Context, call *fetchCall[T]) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	call.at = time.Now()
	call.val, call.err = c.fetch(ctx)
	c.mu.Lock()
	if call.err == nil {
		c.val, c.at = call.val, call.at
	}
	c.call = nil
	c.mu.Unlock()
	close(call.done)
}
