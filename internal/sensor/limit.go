package sensor

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/orbisproject/orbis/internal/peercred"
)

// clientKey keys a request's client in its context: whom its connection
// counts against, as a peercred.Limited listener named it (the slice of
// the UID that owns the connecting socket, a host user, or the address
// of a remote client; "" for root on the host, who is bounded by
// nothing).
type clientKey struct{}

// withClient records the client of a connection that a peercred.Limited
// listener accepted.
func withClient(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, clientKey{}, peercred.KeyOf(c))
}

// clientOf is the client of r's connection, "" for root.
func clientOf(r *http.Request) string {
	k, _ := r.Context().Value(clientKey{}).(string)
	return k
}

// streamSlots bounds the streams served at once, in all and per client,
// so that no client takes the slots of the others.
type streamSlots struct {
	max, perClient int

	// mu guards the following.
	mu       sync.Mutex
	all      int
	byClient map[string]int
}

func newStreamSlots(max, perClient int) *streamSlots {
	return &streamSlots{max: max, perClient: perClient, byClient: map[string]int{}}
}

// take counts a stream of client, or returns a 503 error saying which
// bound it would pass. Root ("") has no bound of its own.
func (s *streamSlots) take(client string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.all >= s.max:
		return errorf(http.StatusServiceUnavailable, "too many streams (%d): try again later", s.max)
	case client != "" && s.byClient[client] >= s.perClient:
		return errorf(http.StatusServiceUnavailable, "too many streams of yours (%d): close one first", s.perClient)
	}
	s.all++
	if client != "" {
		s.byClient[client]++
	}
	return nil
}

func (s *streamSlots) give(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all--
	if client == "" {
		return
	}
	if s.byClient[client]--; s.byClient[client] <= 0 {
		delete(s.byClient, client)
	}
}

// count is how many streams are served now.
func (s *streamSlots) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all
}
