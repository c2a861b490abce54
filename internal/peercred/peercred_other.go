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

// ofTCP knows no TCP peer here: every one counts as a remote client.
func ofTCP(*net.TCPConn) (Cred, error) {
	return Cred{}, fmt.Errorf("sock_diag: %w: %w", errors.ErrUnsupported, ErrNoPeer)
}
