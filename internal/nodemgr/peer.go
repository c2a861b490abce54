package nodemgr

import (
	"context"

	"github.com/orbisproject/orbis/internal/peercred"
)

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

// withPeer records the credentials of a Unix socket's peer in the
// connection's context (peercred.Server.Context). A peer whose
// credentials cannot be read is recorded as noPeerUID, which is refused: a
// connection through Serve is never taken for an in-process call.
func withPeer(ctx context.Context, cred peercred.Cred, ok bool) context.Context {
	if !ok {
		return context.WithValue(ctx, peerKey{}, Peer{PID: -1, UID: noPeerUID, GID: noPeerUID})
	}
	return context.WithValue(ctx, peerKey{}, Peer{PID: cred.PID, UID: cred.UID, GID: cred.GID})
}
