package admin

import (
	"context"
	"net"
	"syscall"
)

// withPeer records the credentials of a Unix socket's peer in the
// connection's context.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *syscall.Ucred
	raw.Control(func(fd uintptr) {
		cred, err = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, callerKey{}, Caller{HostUID: cred.Uid, PID: int(cred.Pid), UID: int(cred.Uid)})
}
