package sshgw

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// setMark sets the SO_MARK of c's socket, which needs CAP_NET_ADMIN (or
// CAP_NET_RAW) in the network namespace's user namespace: the agent has
// them, no sliver does.
func setMark(c net.Conn, mark uint32) error {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return errors.New("not a TCP connection")
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("setsockopt SO_MARK %#x: %w", mark, serr)
	}
	return nil
}
