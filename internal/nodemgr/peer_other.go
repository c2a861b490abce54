//go:build !linux

package nodemgr

import (
	"context"
	"net"
)

// withPeer records nothing where SO_PEERCRED does not exist.
func withPeer(ctx context.Context, c net.Conn) context.Context { return ctx }
