package nodemgr

import "context"

// Peer is the process at the other end of a call, as the kernel vouches
// for it (SO_PEERCRED at connect time).
type Peer struct {
	PID int32
	UID uint32
	GID uint32
}

type peerKey struct{}

// PeerFromContext returns the caller of the request whose context ctx is.
func PeerFromContext(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}
