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
