package nodemgr

import (
	"context"
	"net"
	"syscall"
)

// withPeer records the credentials of a Unix socket's peer in the
// connection's context. A peer whose credentials cannot be read is
// recorded as noPeerUID, which is refused: a connection through Serve is
// never taken for an in-process call.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	unknown := context.WithValue(ctx, peerKey{}, Peer{PID: -1, UID: noPeerUID, GID: noPeerUID})
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return unknown
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return unknown
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return unknown
	}
	return context.WithValue(ctx, peerKey{}, Peer{PID: cred.Pid, UID: cred.Uid, GID: cred.Gid})
}
