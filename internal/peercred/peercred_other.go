//go:build !linux

package peercred

import (
	"errors"
	"fmt"
	"net"
)

func of(*net.UnixConn) (Cred, error) {
	return Cred{}, fmt.Errorf("SO_PEERCRED: %w", errors.ErrUnsupported)
}

func ofTCP(*net.TCPConn) (Cred, error) {
	return Cred{}, fmt.Errorf("sock_diag: %w", errors.ErrUnsupported)
}
